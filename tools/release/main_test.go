package main

import (
	"archive/tar"
	"archive/zip"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"debug/buildinfo"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// root is the checkout the tests build: this module's.
const root = "../.."

func TestVersionOf(t *testing.T) {
	for _, tc := range []struct{ desc, want string }{
		// At a release tag, clean: the tag without its v.
		{"v1.2.3-0-gabc1234", "1.2.3"},
		{"v0.1.0-0-gabc1234", "0.1.0"},
		{"v1.0.0-rc.1-0-gabc1234", "1.0.0-rc.1"},
		// With changes, past the tag, or without one: dev and the commit.
		{"v1.2.3-0-gabc1234-dirty", "dev-abc1234-dirty"},
		{"v1.2.3-4-gdef5678", "dev-def5678"},
		{"v1.2.3-4-gdef5678-dirty", "dev-def5678-dirty"},
		{"abc1234", "dev-abc1234"},
		{"abc1234-dirty", "dev-abc1234-dirty"},
		{"abc12345", "dev-abc12345"}, // git lengthens an ambiguous abbreviation
		// Tags that are no release's.
		{"v1.2-0-gabc1234", "dev-abc1234"},
		{"v1.2.3.4-0-gabc1234", "dev-abc1234"},
		{"v1.2.x-0-gabc1234", "dev-abc1234"},
		{"v1.2.3-_-0-gabc1234", "dev-abc1234"},
		{"vnext-0-gabc1234", "dev-abc1234"},
	} {
		got, err := versionOf(tc.desc)
		if err != nil || got != tc.want {
			t.Errorf("versionOf(%q) = %q, %v; want %q", tc.desc, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "-dirty", "v1.2.3-0-g", "v1.2.3-0-gXYZ1234", "v1.2.3-0-abc1234", "fatal: no names found", "abc"} {
		if got, err := versionOf(bad); err == nil {
			t.Errorf("versionOf(%q) = %q, want an error", bad, got)
		}
	}
}

func TestArchiveName(t *testing.T) {
	for _, tc := range []struct {
		version string
		t       target
		want    string
	}{
		{"1.2.3", target{"linux", "amd64"}, "akiflow-token_1.2.3_linux_amd64.tar.gz"},
		{"1.2.3", target{"darwin", "arm64"}, "akiflow-token_1.2.3_darwin_arm64.tar.gz"},
		{"dev-abc1234-dirty", target{"freebsd", "arm64"}, "akiflow-token_dev-abc1234-dirty_freebsd_arm64.tar.gz"},
		{"1.2.3", target{"windows", "amd64"}, "akiflow-token_1.2.3_windows_amd64.zip"},
	} {
		if got := archiveName(tc.version, tc.t); got != tc.want {
			t.Errorf("archiveName(%q, %s) = %q, want %q", tc.version, tc.t, got, tc.want)
		}
	}
	if n := len(targets); n != 8 {
		t.Errorf("%d targets, want linux, darwin, freebsd and windows on amd64 and arm64", n)
	}
}

func TestParseTargets(t *testing.T) {
	if got, err := parseTargets(""); err != nil || !slices.Equal(got, targets) {
		t.Errorf(`parseTargets("") = %v, %v; want every target`, got, err)
	}
	got, err := parseTargets("windows/arm64,linux/amd64,windows/arm64")
	if want := []target{{"windows", "arm64"}, {"linux", "amd64"}}; err != nil || !slices.Equal(got, want) {
		t.Errorf("parseTargets = %v, %v; want %v", got, err, want)
	}
	for _, bad := range []string{"linux", "plan9/amd64", "linux/amd64,", "linux/386"} {
		if _, err := parseTargets(bad); err == nil {
			t.Errorf("parseTargets(%q) accepted", bad)
		}
	}
}

// An archive holds its folder, then the binary (0755), README.md and
// LICENSE (0644), owned by nobody in particular and dated mtime: the same
// files give the same bytes, whatever the time, umask or user.
func TestWriteArchive(t *testing.T) {
	mtime := time.Date(2026, 12, 7, 8, 9, 10, 0, time.FixedZone("elsewhere", 3600))
	for _, tc := range []struct {
		t   target
		bin string
	}{{target{"linux", "arm64"}, "akiflow-token"}, {target{"windows", "amd64"}, "akiflow-token.exe"}} {
		t.Run(tc.t.String(), func(t *testing.T) {
			name := archiveName("1.2.3", tc.t)
			files := []file{{tc.bin, 0o755, []byte("\x7fELF binary")}, {"README.md", 0o644, []byte("# readme\n")}, {"LICENSE", 0o644, []byte("MIT\n")}}
			var a, b bytes.Buffer
			if err := writeArchive(&a, name, files, mtime); err != nil {
				t.Fatal(err)
			}
			if err := writeArchive(&b, name, files, mtime.Add(999*time.Millisecond).In(time.UTC)); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(a.Bytes(), b.Bytes()) {
				t.Errorf("two archives of the same files differ")
			}
			dir := "akiflow-token_1.2.3_" + tc.t.os + "_" + tc.t.arch + "/"
			want := []entry{{dir, 0o755 | os.ModeDir, ""}, {dir + tc.bin, 0o755, "\x7fELF binary"},
				{dir + "README.md", 0o644, "# readme\n"}, {dir + "LICENSE", 0o644, "MIT\n"}}
			got := readArchive(t, name, a.Bytes(), mtime)
			if !slices.Equal(got, want) {
				t.Errorf("the archive holds\n%v\nwant\n%v", got, want)
			}
			var c bytes.Buffer
			if err := writeArchive(&c, name, files, mtime.Add(time.Second)); err != nil {
				t.Fatal(err)
			}
			if bytes.Equal(a.Bytes(), c.Bytes()) {
				t.Errorf("the archive does not record its entries' time")
			}
		})
	}
	if err := writeArchive(io.Discard, "akiflow-token.tar", nil, mtime); err == nil {
		t.Errorf("writeArchive of a .tar: no error")
	}
}

type entry struct {
	name string
	mode os.FileMode
	data string
}

func (e entry) String() string { return fmt.Sprintf("%s %v %q", e.name, e.mode, e.data) }

// readArchive lists the entries of the archive name (.tar.gz or .zip), and
// checks that each is dated mtime and belongs to no one.
func readArchive(t *testing.T, name string, data []byte, mtime time.Time) []entry {
	t.Helper()
	var got []entry
	if strings.HasSuffix(name, ".zip") {
		zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range zr.File {
			if !f.Modified.Equal(mtime) {
				t.Errorf("%s is dated %s, want %s", f.Name, f.Modified, mtime)
			}
			r, err := f.Open()
			if err != nil {
				t.Fatal(err)
			}
			content, err := io.ReadAll(r)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, entry{f.Name, f.Mode(), string(content)})
		}
		return got
	}
	gz, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if gz.Name != "" || !gz.ModTime.IsZero() {
		t.Errorf("the gzip header names %q, dated %s; want neither", gz.Name, gz.ModTime)
	}
	tr := tar.NewReader(gz)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if !hdr.ModTime.Equal(mtime) || hdr.Uid != 0 || hdr.Gid != 0 || hdr.Uname != "" || hdr.Gname != "" {
			t.Errorf("%s is dated %s, owned by %d:%d (%q:%q); want %s, 0:0", hdr.Name, hdr.ModTime, hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname, mtime)
		}
		content, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, entry{hdr.Name, hdr.FileInfo().Mode(), string(content)})
	}
	return got
}

// SHA256SUMS is what sha256sum writes, sorted by name.
func TestSumsText(t *testing.T) {
	a, b := []byte("a"), []byte("b")
	got := string(sumsText(map[string][sha256.Size]byte{"b.zip": sha256.Sum256(b), "a.tar.gz": sha256.Sum256(a)}))
	want := fmt.Sprintf("%x  a.tar.gz\n%x  b.zip\n", sha256.Sum256(a), sha256.Sum256(b))
	if got != want {
		t.Errorf("sumsText:\n%s\nwant\n%s", got, want)
	}
}

// The release is built with the tags the README installs akiflow-token
// with, and the end-to-end tests build with.
func TestTagsAreTheREADMEs(t *testing.T) {
	for file, pattern := range map[string]string{
		"README.md":      `go install -tags (\S+) \.`,
		"helper_test.go": `const releaseTags = "([^"]+)"`,
	} {
		data, err := os.ReadFile(filepath.Join(root, file))
		if err != nil {
			t.Fatal(err)
		}
		m := regexp.MustCompile(pattern).FindSubmatch(data)
		if m == nil || string(m[1]) != releaseTags {
			t.Errorf("%s's tags: %q, want the release's %q", file, m, releaseTags)
		}
	}
}

// TestRelease builds this checkout's archives twice, for this machine and
// for windows/amd64 (every target takes about 20 s to build cold on two
// cores: CI builds them all with go run ./tools/release), and checks that
// the two runs made the same bytes, that each archive holds a binary of
// its target built as the README installs it, README.md and LICENSE, and
// that the binary for this machine prints the checkout's version.
func TestRelease(t *testing.T) {
	if testing.Short() {
		t.Skip("builds akiflow-token: not with -short")
	}
	ctx := context.Background()
	version, mtime, err := describe(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	chosen := []target{{"windows", "amd64"}}
	if host := (target{runtime.GOOS, runtime.GOARCH}); slices.Contains(targets, host) {
		chosen = append(chosen, host)
	}
	out1, out2 := t.TempDir(), t.TempDir()
	start := time.Now()
	made, err := run(ctx, root, out1, chosen, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("built %v in %s", chosen, time.Since(start).Round(time.Millisecond))
	if _, err := run(ctx, root, out2, chosen, io.Discard); err != nil {
		t.Fatal(err)
	}
	sums1, err := os.ReadFile(filepath.Join(out1, sumsFile))
	if err != nil {
		t.Fatal(err)
	}
	sums2, err := os.ReadFile(filepath.Join(out2, sumsFile))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(sums1, sums2) {
		t.Errorf("two runs made different archives:\n%s\n%s", sums1, sums2)
		for _, name := range made {
			a, _ := os.ReadFile(filepath.Join(out1, name))
			b, _ := os.ReadFile(filepath.Join(out2, name))
			ea, eb := readArchive(t, name, a, mtime), readArchive(t, name, b, mtime)
			for i := range min(len(ea), len(eb)) {
				if ea[i] != eb[i] {
					// The binary differs too when someone edits the
					// work tree during the test.
					t.Errorf("%s: %s differs between the runs", name, ea[i].name)
				}
			}
		}
	}
	var listed []string
	sc := bufio.NewScanner(bytes.NewReader(sums1))
	for sc.Scan() {
		sum, name, ok := strings.Cut(sc.Text(), "  ")
		data, err := os.ReadFile(filepath.Join(out1, name))
		if !ok || err != nil || sum != fmt.Sprintf("%x", sha256.Sum256(data)) {
			t.Errorf("%s: the line %q does not hold its archive's sum (%v)", sumsFile, sc.Text(), err)
		}
		listed = append(listed, name)
	}
	if !slices.Equal(listed, made) {
		t.Errorf("%s lists %v, want %v", sumsFile, listed, made)
	}

	readme, _ := os.ReadFile(filepath.Join(root, "README.md"))
	license, _ := os.ReadFile(filepath.Join(root, "LICENSE"))
	for _, tg := range chosen {
		name := archiveName(version, tg)
		data, err := os.ReadFile(filepath.Join(out1, name))
		if err != nil {
			t.Fatal(err)
		}
		entries := readArchive(t, name, data, mtime)
		dir := strings.TrimSuffix(strings.TrimSuffix(name, ".zip"), ".tar.gz") + "/"
		if len(entries) != 4 || entries[1].name != dir+binaryName(tg) || entries[1].mode != 0o755 ||
			entries[2] != (entry{dir + "README.md", 0o644, string(readme)}) || entries[3] != (entry{dir + "LICENSE", 0o644, string(license)}) {
			t.Errorf("%s holds %d entries, want its folder, the binary, README.md and LICENSE", name, len(entries))
			continue
		}
		bin := filepath.Join(t.TempDir(), binaryName(tg))
		if err := os.WriteFile(bin, []byte(entries[1].data), 0o755); err != nil {
			t.Fatal(err)
		}
		checkBuild(t, bin, tg, version)
		if tg.os == runtime.GOOS && tg.arch == runtime.GOARCH {
			out, err := exec.Command(bin, "--version").Output()
			if want := "akiflow-token " + version + "\n"; err != nil || string(out) != want {
				t.Errorf("%s --version: %q, %v; want %q", name, out, err, want)
			}
		}
	}
}

// checkBuild checks that bin was built for t as the README installs
// akiflow-token, with version stamped in.
func checkBuild(t *testing.T, bin string, tg target, version string) {
	t.Helper()
	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		t.Fatalf("%s: %v", bin, err)
	}
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	for key, want := range map[string]string{"GOOS": tg.os, "GOARCH": tg.arch, "CGO_ENABLED": "0",
		"-trimpath": "true", "-tags": releaseTags, "vcs": ""} {
		if settings[key] != want {
			t.Errorf("%s (%s) was built with %s=%q, want %q", bin, tg, key, settings[key], want)
		}
	}
	// -trimpath keeps -ldflags out of the build info: look for the value.
	if data, err := os.ReadFile(bin); err != nil || !bytes.Contains(data, []byte(version)) {
		t.Errorf("%s (%s) has no version %s stamped in (%v)", bin, tg, version, err)
	}
}
