//go:build unix

// Process benchmarks: whole runs of akiflow-token against the floors of
// testdata/floor and testdata/floor-http. Run them with
//
//	go test -run '^$' -bench . -benchtime 400x .
//
// They report figures (b.ReportMetric); no test asserts a time.
package main_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"akiflow-token/helper/akiflow/akiflowtest"
)

var benchBinaries struct {
	once                             sync.Once
	floor, floorHTTP, floorHTTPPlain string
	err                              error
}

// buildBenchBinaries returns akiflow-token as the README installs it (the
// tests' binary) and builds the two floors, once: with the same tags, and
// floor-http also plainly, for reference.
func buildBenchBinaries(b *testing.B) (token, floor, floorHTTP, floorHTTPPlain string) {
	b.Helper()
	bb := &benchBinaries
	bb.once.Do(func() {
		dir := filepath.Dir(binary)
		bb.floor = filepath.Join(dir, "floor")
		bb.floorHTTP, bb.floorHTTPPlain = filepath.Join(dir, "floor-http"), filepath.Join(dir, "floor-http-plain")
		for _, build := range [][]string{
			{"-tags", releaseTags, "-o", bb.floor, "./testdata/floor"},
			{"-tags", releaseTags, "-o", bb.floorHTTP, "./testdata/floor-http"},
			{"-o", bb.floorHTTPPlain, "./testdata/floor-http"},
		} {
			if msg, err := exec.Command("go", append([]string{"build"}, build...)...).CombinedOutput(); err != nil {
				bb.err = fmt.Errorf("go build %v: %v\n%s", build, err, msg)
				return
			}
		}
	})
	if bb.err != nil {
		b.Fatal(bb.err)
	}
	return binary, bb.floor, bb.floorHTTP, bb.floorHTTPPlain
}

// sample is one measured process run.
type sample struct {
	wall time.Duration
}

func runMeasured(b *testing.B, env []string, argv ...string) sample {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	start := time.Now()
	out, err := cmd.Output()
	wall := time.Since(start)
	if err != nil || len(out) < 100 {
		b.Fatalf("%s: %v (%d bytes of output)", filepath.Base(argv[0]), err, len(out))
	}
	return sample{wall}
}

// peakRSS is the most resident memory, in KiB, of a few runs of argv. It
// runs them under /usr/bin/time: a child that Go starts shares this test
// process's memory until it execs, and the kernel counts that as its own.
func peakRSS(b *testing.B, env []string, argv ...string) int64 {
	var peak int64
	for range 5 {
		cmd := exec.Command("/usr/bin/time", append([]string{"-f", "%M"}, argv...)...)
		cmd.Env = env
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			b.Fatalf("/usr/bin/time %s: %v %s", filepath.Base(argv[0]), err, stderr.String())
		}
		lines := strings.Fields(stderr.String())
		var kib int64
		fmt.Sscan(lines[len(lines)-1], &kib)
		peak = max(peak, kib)
	}
	return peak
}

func median(s []sample) time.Duration { return percentile(s, 50) }

func percentile(s []sample, p int) time.Duration {
	walls := make([]time.Duration, len(s))
	for i, x := range s {
		walls[i] = x.wall
	}
	slices.Sort(walls)
	return walls[min(len(walls)-1, len(walls)*p/100)]
}

// BenchmarkCacheHit runs, interleaved, akiflow-token on a warm cache and
// the two floors on the same session file, as whole processes.
func BenchmarkCacheHit(b *testing.B) {
	token, floor, floorHTTP, floorHTTPPlain := buildBenchBinaries(b)
	w := newWorld(b)
	home := b.TempDir()
	w.setHome(home)
	email := "bench@example.com"
	dir := filepath.Join(home, ".cache", "akiflow-token", strings.ReplaceAll(strings.TrimPrefix(w.srv.URL, "http://"), ":", "%3A"))
	os.MkdirAll(dir, 0o700)
	os.Chmod(filepath.Join(home, ".cache", "akiflow-token"), 0o700)
	session := filepath.Join(dir, email+".json")
	expires := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	content := fmt.Sprintf(`{"format":1,"email":%q,"base_url":%q,"client_id":"00000000-0000-4000-8000-000000000000","access_token":"eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.%s.sig","refresh_token":"def50200%s","expires_at":%q}`,
		email, w.srv.URL, strings.Repeat("x", 300), strings.Repeat("a", 400), expires)
	os.WriteFile(session, []byte(content), 0o600)
	os.WriteFile(filepath.Join(dir, "current.json"), []byte(email+"\n"), 0o600)

	programs := []struct {
		name string
		argv []string
	}{
		{"akiflow-token", []string{token}},
		{"floor", []string{floor, session}},
		{"floor-http", []string{floorHTTP, session}},
		{"floor-http-plain", []string{floorHTTPPlain, session}},
	}
	samples := make([][]sample, len(programs))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j := range programs {
			k := (i + j) % len(programs) // rotate the order: no program always goes first
			samples[k] = append(samples[k], runMeasured(b, w.env, programs[k].argv...))
		}
	}
	b.StopTimer()
	hit, fl, flh, plain := median(samples[0]), median(samples[1]), median(samples[2]), median(samples[3])
	b.ReportMetric(float64(hit.Microseconds()), "hit-µs")
	b.ReportMetric(float64(fl.Microseconds()), "floor-µs")
	b.ReportMetric(float64(flh.Microseconds()), "floor-http-µs")
	b.ReportMetric(float64(hit)/float64(flh), "hit/floor-http")
	b.ReportMetric(float64(hit)/float64(fl), "hit/floor")
	b.ReportMetric(float64(hit)/float64(plain), "hit/floor-http-plain")
	b.ReportMetric(float64(percentile(samples[0], 90)-percentile(samples[0], 10))/float64(hit), "hit-p10-p90/median")
	rss := make([]int64, len(programs))
	for k, p := range programs {
		rss[k] = peakRSS(b, w.env, p.argv...)
	}
	b.ReportMetric(float64(rss[0]), "hit-KiB")
	b.ReportMetric(float64(rss[2]), "floor-http-KiB")
	b.ReportMetric(float64(rss[0])/float64(rss[2]), "rss/floor-http")
	b.ReportMetric(float64(rss[0])/float64(rss[1]), "rss/floor")
	b.ReportMetric(float64(rss[0])/float64(rss[3]), "rss/floor-http-plain")
}

// BenchmarkRefresh runs akiflow-token on an expired token against the fake
// with 20 ms added to every request (two exchanges on one connection, so
// about 40 ms of waiting, plus the process), interleaved with its floor,
// testdata/floor-refresh: the same two exchanges and an fsynced save in a
// bare Go process, on another account of the same fake.
func BenchmarkRefresh(b *testing.B) {
	token, _, _, _ := buildBenchBinaries(b)
	floor := filepath.Join(filepath.Dir(binary), "floor-refresh")
	if out, err := exec.Command("go", "build", "-tags", releaseTags, "-o", floor, "./testdata/floor-refresh").CombinedOutput(); err != nil {
		b.Fatalf("building the refresh floor: %v\n%s", err, out)
	}
	w := newWorld(b)
	w.login(alice)
	const other = "floor@example.com"
	w.login(other)
	floorRecord := w.cacheFile(other)
	w.srv.SetLatency(20 * time.Millisecond)
	requests, connections := w.srv.Count(akiflowtest.RouteCSRF)+w.srv.Count(akiflowtest.RouteRefresh), w.srv.Connections()
	var samples, floors []sample
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		w.expire(alice)
		b.StartTimer()
		samples = append(samples, runMeasured(b, w.env, token, "-e", alice))
		b.StopTimer()
		floors = append(floors, runMeasured(b, w.env, floor, floorRecord))
		b.StartTimer()
	}
	b.StopTimer()
	requests = w.srv.Count(akiflowtest.RouteCSRF) + w.srv.Count(akiflowtest.RouteRefresh) - requests
	b.ReportMetric(float64(median(samples).Microseconds())/1000, "ms-median")
	b.ReportMetric(float64(percentile(samples, 90).Microseconds())/1000, "ms-p90")
	b.ReportMetric(float64(median(floors).Microseconds())/1000, "floor-ms-median")
	b.ReportMetric(float64(median(samples))/float64(median(floors)), "refresh/floor")
	b.ReportMetric(float64(requests)/float64(b.N)/2, "exchanges/op")
	b.ReportMetric(float64(w.srv.Connections()-connections)/float64(b.N)/2, "connections/op")
}

// plantAccounts writes n accounts beside email's in its cache folder:
// copies of its record under other emails, each with its lock file, as
// logins would leave them.
func plantAccounts(b *testing.B, w *world, email string, n int) {
	b.Helper()
	dir := filepath.Dir(w.cacheFile(email))
	record, err := os.ReadFile(w.cacheFile(email))
	if err != nil {
		b.Fatal(err)
	}
	for i := range n {
		other := fmt.Sprintf("user%05d@example.com", i)
		path := filepath.Join(dir, other)
		os.WriteFile(path+".json", []byte(strings.ReplaceAll(string(record), email, other)), 0o600)
		os.WriteFile(path+".lock", nil, 0o600)
	}
}

// BenchmarkRefreshAmongManyAccounts runs, interleaved, the refresh of one
// account in a cache that holds only it and in one that holds 10,000 other
// accounts too, against the same fake with 20 ms per request: an account's
// refresh must cost what it costs alone.
func BenchmarkRefreshAmongManyAccounts(b *testing.B) {
	token, _, _, _ := buildBenchBinaries(b)
	w := newWorld(b)
	homes := []string{b.TempDir(), b.TempDir()}
	envs := make([][]string, len(homes))
	for i, home := range homes {
		w.setHome(home)
		envs[i] = slices.Clone(w.env)
		w.login(alice)
	}
	plantAccounts(b, w, alice, 10_000) // in the second home
	w.srv.SetLatency(20 * time.Millisecond)
	samples := make([][]sample, len(homes))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j := range homes {
			k := (i + j) % len(homes)
			b.StopTimer()
			w.home = homes[k]
			w.expire(alice)
			b.StartTimer()
			samples[k] = append(samples[k], runMeasured(b, envs[k], token, "-e", alice))
		}
	}
	b.StopTimer()
	one, many := median(samples[0]), median(samples[1])
	b.ReportMetric(float64(one.Microseconds())/1000, "one-ms-median")
	b.ReportMetric(float64(many.Microseconds())/1000, "10000-ms-median")
	b.ReportMetric(float64(many)/float64(one), "10000/one")
}

// BenchmarkManyAccounts times status of 10,000 accounts, and logout --all
// of 1,000 and of 4,000 (per account: the same for both when the cost is
// linear).
func BenchmarkManyAccounts(b *testing.B) {
	w := newWorld(b)
	w.login(alice)
	plantAccounts(b, w, alice, 10_000)
	home, env := w.home, slices.Clone(w.env)
	var status []sample
	perAccount := map[int][]sample{}
	for i := 0; i < b.N; i++ {
		w.home, w.env = home, slices.Clone(env)
		start := time.Now()
		res := w.run("status")
		status = append(status, sample{time.Since(start)})
		if res.code != 0 || strings.Count(res.stdout, "\n") < 10_000 {
			b.Fatalf("status: exit %d, %d lines", res.code, strings.Count(res.stdout, "\n"))
		}
		for _, n := range []int{1_000, 4_000} {
			b.StopTimer()
			w.setHome(b.TempDir())
			w.login(alice)
			plantAccounts(b, w, alice, n-1)
			b.StartTimer()
			start := time.Now()
			if res := w.run("logout", "--all"); res.code != 0 {
				b.Fatalf("logout --all of %d: exit %d", n, res.code)
			}
			perAccount[n] = append(perAccount[n], sample{time.Since(start) / time.Duration(n)})
		}
	}
	b.ReportMetric(float64(median(status).Microseconds())/1000, "status-10000-ms")
	b.ReportMetric(float64(median(perAccount[1_000]).Microseconds())/1000, "logout-1000-ms/account")
	b.ReportMetric(float64(median(perAccount[4_000]).Microseconds())/1000, "logout-4000-ms/account")
}

// BenchmarkConcurrentExpired starts 50 processes at once on an expired
// token, and compares their total wall time with one refresh followed by
// 50 cache hits run back to back.
func BenchmarkConcurrentExpired(b *testing.B) {
	token, _, _, _ := buildBenchBinaries(b)
	w := newWorld(b)
	w.login(alice)
	w.srv.SetLatency(20 * time.Millisecond)
	var together, apart []sample
	for i := 0; i < b.N; i++ {
		w.expire(alice)
		start := time.Now()
		var wg sync.WaitGroup
		for range 50 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				runMeasured(b, w.env, token)
			}()
		}
		wg.Wait()
		together = append(together, sample{time.Since(start)})

		w.expire(alice)
		start = time.Now()
		for range 51 { // the first refreshes, the others hit the cache
			runMeasured(b, w.env, token)
		}
		apart = append(apart, sample{time.Since(start)})
	}
	b.ReportMetric(float64(median(together).Microseconds())/1000, "ms-50-at-once")
	b.ReportMetric(float64(median(apart).Microseconds())/1000, "ms-refresh+50-hits")
	b.ReportMetric(float64(median(together))/float64(median(apart)), "at-once/back-to-back")
}
