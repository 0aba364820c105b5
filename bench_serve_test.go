//go:build unix

// Benchmarks of the local endpoint (exec --serve), as figures to report:
//
//	go test -run '^$' -bench Serve -benchtime 2000x .
//
// BenchmarkServeProxy: what the proxy adds to a request on loopback, against
// what a bare httputil.ReverseProxy in its own process adds
// (testdata/floor-proxy), both over the same request sent straight to the
// fake's protected endpoint (medians and 90th percentiles of interleaved
// requests on kept-alive connections).
// BenchmarkServeTokenURL: token-URL requests per second, the endpoint
// limited to 2 cores (GOMAXPROCS=2), the load from this process on the
// same machine.
package main_test

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"akiflow-token/helper/akiflow/akiflowtest"
)

// benchServe starts the release build of akiflow-token exec --serve with
// spyScript, limited to 2 cores, and returns the URLs.
func benchServe(b *testing.B) (w *world, tokenURL, proxyURL string) {
	b.Helper()
	token, _, _, _ := buildBenchBinaries(b)
	w = newServeWorld(b)
	w.login(alice)
	dir := b.TempDir()
	cmd := exec.Command(token, "exec", "--serve", "--", "sh", "-c", spyScript, "sh", dir)
	cmd.Env = append(append([]string(nil), w.env...), "GOMAXPROCS=2")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		os.WriteFile(filepath.Join(dir, "stop"), []byte("0"), 0o600)
		cmd.Wait()
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		data, err := os.ReadFile(filepath.Join(dir, "urls"))
		if err == nil {
			lines := strings.Split(string(data), "\n")
			return w, lines[0], lines[1]
		}
		if time.Now().After(deadline) {
			b.Fatal("exec --serve never started its command")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// timed sends req and reads the whole answer, which must be a 200.
func timed(b *testing.B, c *http.Client, req *http.Request) time.Duration {
	d, err := send(c, req)
	if err != nil {
		b.Fatal(err)
	}
	return d
}

func send(c *http.Client, req *http.Request) (time.Duration, error) {
	start := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	d := time.Since(start)
	if resp.StatusCode != 200 {
		return d, fmt.Errorf("status %d", resp.StatusCode)
	}
	return d, nil
}

func BenchmarkServeProxy(b *testing.B) {
	w, tokenURL, proxyURL := benchServe(b)
	c := &http.Client{Transport: &http.Transport{Proxy: nil}}
	tok, _ := http.NewRequest("GET", tokenURL+"?format=raw", nil)
	resp, err := c.Do(tok)
	if err != nil {
		b.Fatal(err)
	}
	token, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	direct, _ := http.NewRequest("GET", w.srv.URL+akiflowtest.ProtectedPath, nil)
	direct.Header.Set("Authorization", "Bearer "+string(token))
	proxied, _ := http.NewRequest("GET", proxyURL+akiflowtest.ProtectedPath, nil)
	bareURL := startFloor(b, "floor-proxy", string(token)+"\n", w.srv.URL)
	bare, _ := http.NewRequest("GET", strings.TrimSuffix(bareURL, "/")+akiflowtest.ProtectedPath, nil)
	reqs := []*http.Request{direct, proxied, bare}
	for range 200 { // warm every connection, and the proxies' to the fake
		for _, req := range reqs {
			timed(b, c, req)
		}
	}
	connections := w.srv.Connections()
	samples := make([][]sample, len(reqs))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j := range reqs { // each first in turn
			k := (i + j) % len(reqs)
			samples[k] = append(samples[k], sample{timed(b, c, reqs[k])})
		}
	}
	b.StopTimer()
	d, p, f := samples[0], samples[1], samples[2]
	µs := func(t time.Duration) float64 { return float64(t) / float64(time.Microsecond) }
	b.ReportMetric(µs(median(d)), "direct-median-µs")
	b.ReportMetric(µs(percentile(d, 90)), "direct-p90-µs")
	b.ReportMetric(µs(median(p)-median(d)), "added-median-µs")
	b.ReportMetric(µs(percentile(p, 90)-percentile(d, 90)), "added-p90-µs")
	b.ReportMetric(µs(median(f)-median(d)), "bare-added-median-µs")
	b.ReportMetric(µs(percentile(f, 90)-percentile(d, 90)), "bare-added-p90-µs")
	b.ReportMetric(float64(median(p)-median(d))/float64(median(f)-median(d)), "added/bare-median")
	b.ReportMetric(float64(percentile(p, 90)-percentile(d, 90))/float64(percentile(f, 90)-percentile(d, 90)), "added/bare-p90")
	b.ReportMetric(float64(w.srv.Connections()-connections), "new-connections") // kept alive: none
}

func BenchmarkServeTokenURL(b *testing.B) {
	_, tokenURL, _ := benchServe(b)
	c := &http.Client{Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: tokenWorkers}}
	req, _ := http.NewRequest("GET", tokenURL, nil)
	b.ReportMetric(loadTokenURL(b, c, req), "requests/s")
}

// BenchmarkServeTokenURLFloor is BenchmarkServeTokenURL's floor, on the
// same load: testdata/floor-tokenurl, a bare net/http server answering a
// constant as large as the token URL's answer, limited to 2 cores too.
func BenchmarkServeTokenURLFloor(b *testing.B) {
	_, tokenURL, _ := benchServe(b)
	c := &http.Client{Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: tokenWorkers}}
	resp, err := c.Get(tokenURL)
	if err != nil {
		b.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body) // the answer's size, for the floor's
	resp.Body.Close()
	req, _ := http.NewRequest("GET", startFloor(b, "floor-tokenurl", "", string(body)), nil)
	b.ReportMetric(loadTokenURL(b, c, req), "requests/s")
}

// startFloor builds testdata/NAME with the release tags, starts it with
// args and stdin, limited to 2 cores as the endpoint is, and returns the
// URL it prints.
func startFloor(b *testing.B, name, stdin string, args ...string) string {
	b.Helper()
	floor := filepath.Join(filepath.Dir(binary), name)
	if out, err := exec.Command("go", "build", "-tags", releaseTags, "-o", floor, "./testdata/"+name).CombinedOutput(); err != nil {
		b.Fatalf("building %s: %v\n%s", name, err, out)
	}
	cmd := exec.Command(floor, args...)
	cmd.Env = append(os.Environ(), "GOMAXPROCS=2")
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		b.Fatalf("%s printed no URL: %v", name, err)
	}
	return strings.TrimSpace(line)
}

// tokenWorkers are the load's concurrent clients, on kept-alive
// connections.
const tokenWorkers = 8

// loadTokenURL sends b.N requests from tokenWorkers clients and returns
// the requests per second.
func loadTokenURL(b *testing.B, c *http.Client, req *http.Request) float64 {
	for range 100 {
		timed(b, c, req)
	}
	var served atomic.Int64
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for range tokenWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for served.Add(1) <= int64(b.N) {
				if _, err := send(c, req); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	return float64(b.N) / elapsed.Seconds()
}
