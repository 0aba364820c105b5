package endpoint

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"testing"
)

// In-process figures, for profiling: go test -bench . -cpuprofile cpu.out ./helper/endpoint
// The Source is the stub (a cache hit costs a mutex), the API a stubAPI:
// what is measured is the endpoint.
func BenchmarkTokenURL(b *testing.B) {
	r := newRig(b, nil, nil, quiet)
	benchGet(b, r.ep.TokenURL())
}

func BenchmarkTokenURLRaw(b *testing.B) {
	r := newRig(b, nil, nil, quiet)
	benchGet(b, r.ep.TokenURL()+"?format=raw")
}

func BenchmarkProxy(b *testing.B) {
	r := newRig(b, nil, nil, quiet)
	benchGet(b, r.ep.ProxyURL()+"/v5/tasks")
}

func benchGet(b *testing.B, u string) {
	c := &http.Client{Transport: &http.Transport{Proxy: nil}}
	req, _ := http.NewRequest("GET", u, nil)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		resp, err := c.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatal(resp.StatusCode)
		}
	}
}

// BenchmarkBareProxy is the floor of BenchmarkProxy: httputil's reverse
// proxy alone, with no token, check or capability, to the same API.
func BenchmarkBareProxy(b *testing.B) {
	r := newRig(b, nil, nil, quiet)
	target, _ := url.Parse(r.api.URL)
	token := r.src.current().AccessToken
	proxy := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(target)
		pr.Out.Header.Set("Authorization", "Bearer "+token)
	}}
	bare := httptest.NewServer(proxy)
	defer bare.Close()
	benchGet(b, bare.URL+"/v5/tasks")
}

// BenchmarkDirect is the API alone.
func BenchmarkDirect(b *testing.B) {
	r := newRig(b, nil, nil, quiet)
	c := &http.Client{Transport: &http.Transport{Proxy: nil}}
	req, _ := http.NewRequest("GET", r.api.URL+"/v5/tasks", nil)
	req.Header.Set("Authorization", "Bearer "+r.src.current().AccessToken)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		resp, err := c.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatal(resp.StatusCode)
		}
	}
}
