// Command release builds akiflow-token's release archives, at the root of
// a checkout:
//
//	go run ./tools/release [-out dist] [-targets linux/amd64,...]
//
// For each target (by default every one of targets: linux, darwin, freebsd
// and windows on amd64 and arm64) it builds akiflow-token as the README
// installs it, with CGO_ENABLED=0, -trimpath and the release tags, and
// packs it with README.md and LICENSE into
// akiflow-token_VERSION_OS_ARCH.tar.gz (.zip for windows); then it writes
// SHA256SUMS, in sha256sum's format, for the archives it made.
//
// The version is the checkout's: X.Y.Z at a clean checkout of the tag
// vX.Y.Z, else dev-COMMIT (dev-abc1234-dirty with changes), as git
// describe says (versionOf); the binary prints it with --version
// (-ldflags -X akiflow-token/helper.version). The archives are
// reproducible: their entries have fixed order, owners and modes, and the
// commit's time as their time, so two runs of one checkout make the same
// bytes.
//
// It publishes nothing. The release procedure is in docs/development.md.
package main

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// releaseTags are the build tags the README's install command gives (the
// root package's tests build with the same: TestTagsAreTheREADMEs).
const releaseTags = "netgo,osusergo,nethttpomithttp2"

// targets are the systems a release has an archive for.
var targets = []target{
	{"linux", "amd64"}, {"linux", "arm64"},
	{"darwin", "amd64"}, {"darwin", "arm64"},
	{"freebsd", "amd64"}, {"freebsd", "arm64"},
	{"windows", "amd64"}, {"windows", "arm64"},
}

type target struct{ os, arch string }

func (t target) String() string { return t.os + "/" + t.arch }

// sumsFile lists the archives' SHA-256 sums.
const sumsFile = "SHA256SUMS"

func main() {
	out := flag.String("out", "dist", "the `folder` to write the archives and "+sumsFile+" to")
	list := flag.String("targets", "", "the `targets` to build, as os/arch,os/arch (default every one)")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: go run ./tools/release [-out dist] [-targets linux/amd64,...]\n\n"+
			"Builds akiflow-token's release archives and %s from the checkout in the current folder.\n\n", sumsFile)
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	chosen, err := parseTargets(*list)
	if err != nil {
		fmt.Fprintln(os.Stderr, "release:", err)
		os.Exit(2)
	}
	start := time.Now()
	made, err := run(context.Background(), ".", *out, chosen, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "release:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "release: %d archives and %s in %s, in %s\n", len(made), sumsFile, *out, time.Since(start).Round(100*time.Millisecond))
}

// parseTargets reads -targets: "" is every target.
func parseTargets(list string) ([]target, error) {
	if list == "" {
		return targets, nil
	}
	var chosen []target
	for _, name := range strings.Split(list, ",") {
		i := slices.IndexFunc(targets, func(t target) bool { return t.String() == strings.TrimSpace(name) })
		if i < 0 {
			return nil, fmt.Errorf("-targets: %q is not one of %v", name, targets)
		}
		if !slices.Contains(chosen, targets[i]) {
			chosen = append(chosen, targets[i])
		}
	}
	return chosen, nil
}

// run builds the archives of the checkout at root for each target into
// out, then SHA256SUMS; it returns the archives' names, sorted. log gets a
// line per archive.
func run(ctx context.Context, root, out string, chosen []target, log io.Writer) ([]string, error) {
	version, mtime, err := describe(ctx, root)
	if err != nil {
		return nil, err
	}
	var docs []file
	for _, name := range []string{"README.md", "LICENSE"} {
		data, err := os.ReadFile(filepath.Join(root, name))
		if err != nil {
			return nil, err
		}
		docs = append(docs, file{name: name, mode: 0o644, data: data})
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "akiflow-token-release-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)

	// Every binary first: a target that does not build leaves no archive.
	bins := make([]string, len(chosen))
	for i, t := range chosen {
		bins[i] = filepath.Join(tmp, t.os+"-"+t.arch, binaryName(t))
		if err := build(ctx, root, version, t, bins[i]); err != nil {
			return nil, err
		}
	}
	sums := map[string][sha256.Size]byte{}
	for i, t := range chosen {
		data, err := os.ReadFile(bins[i])
		if err != nil {
			return nil, err
		}
		files := append([]file{{name: binaryName(t), mode: 0o755, data: data}}, docs...)
		name := archiveName(version, t)
		var buf bytes.Buffer
		if err := writeArchive(&buf, name, files, mtime); err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(out, name), buf.Bytes(), 0o644); err != nil {
			return nil, err
		}
		sums[name] = sha256.Sum256(buf.Bytes())
		fmt.Fprintf(log, "release: %s (%.1f MB)\n", filepath.Join(out, name), float64(buf.Len())/1e6)
	}
	if err := os.WriteFile(filepath.Join(out, sumsFile), sumsText(sums), 0o644); err != nil {
		return nil, err
	}
	names := make([]string, 0, len(sums))
	for name := range sums {
		names = append(names, name)
	}
	slices.Sort(names)
	return names, nil
}

// describe is the checkout's version (versionOf what git describe says)
// and its commit's time, the archives' entries' time.
func describe(ctx context.Context, root string) (string, time.Time, error) {
	desc, err := git(ctx, root, "describe", "--tags", "--long", "--always", "--dirty", "--abbrev=7", "--match", "v[0-9]*")
	if err != nil {
		return "", time.Time{}, err
	}
	version, err := versionOf(desc)
	if err != nil {
		return "", time.Time{}, err
	}
	when, err := git(ctx, root, "log", "-1", "--format=%ct", "HEAD")
	if err != nil {
		return "", time.Time{}, err
	}
	secs, err := strconv.ParseInt(when, 10, 64)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("git log: the commit time %q: %v", when, err)
	}
	return version, time.Unix(secs, 0).UTC(), nil
}

func git(ctx context.Context, root string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("git %s: %v: %s", args[0], err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(string(out)), nil
}

// versionOf is the version of a checkout of which `git describe --tags
// --long --always --dirty --abbrev=7 --match 'v[0-9]*'` says desc:
// "v1.2.3-0-gabc1234" (at the tag, clean) is 1.2.3; past a tag
// ("v1.2.3-4-gdef5678"), with changes ("…-dirty"), or with no tag
// ("abc1234") it is dev-COMMIT, dev-COMMIT-dirty with changes. A tag that
// is not vX.Y.Z or vX.Y.Z-PRE makes a dev version too.
func versionOf(desc string) (string, error) {
	rest, dirty := strings.CutSuffix(desc, "-dirty")
	parts := strings.Split(rest, "-")
	hash := parts[len(parts)-1]
	tag, count := "", ""
	if len(parts) >= 3 && strings.HasPrefix(hash, "g") {
		hash = hash[1:]
		tag, count = strings.Join(parts[:len(parts)-2], "-"), parts[len(parts)-2]
	} else if len(parts) != 1 {
		return "", fmt.Errorf("git describe said %q: not a tag, count and commit", desc)
	}
	if len(hash) < 7 || strings.Trim(hash, "0123456789abcdef") != "" {
		return "", fmt.Errorf("git describe said %q: %q is not a commit", desc, hash)
	}
	if count == "0" && !dirty && isRelease(tag) {
		return tag[1:], nil
	}
	v := "dev-" + hash
	if dirty {
		v += "-dirty"
	}
	return v, nil
}

// isRelease says tag is vX.Y.Z or vX.Y.Z-PRE.
func isRelease(tag string) bool {
	rest, ok := strings.CutPrefix(tag, "v")
	core, pre, hasPre := strings.Cut(rest, "-")
	nums := strings.Split(core, ".")
	if !ok || len(nums) != 3 || hasPre && (pre == "" || strings.Trim(pre, "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-") != "") {
		return false
	}
	for _, n := range nums {
		if n == "" || strings.Trim(n, "0123456789") != "" {
			return false
		}
	}
	return true
}

// archiveName is akiflow-token_VERSION_OS_ARCH.tar.gz, .zip for windows.
func archiveName(version string, t target) string {
	ext := ".tar.gz"
	if t.os == "windows" {
		ext = ".zip"
	}
	return fmt.Sprintf("akiflow-token_%s_%s_%s%s", version, t.os, t.arch, ext)
}

// binaryName is akiflow-token, with .exe on windows.
func binaryName(t target) string {
	if t.os == "windows" {
		return "akiflow-token.exe"
	}
	return "akiflow-token"
}

// build builds akiflow-token of the checkout at root for t into bin, as
// the README installs it, with the version stamped in. Everything that
// could make two builds differ is set: no cgo, no paths, no VCS stamp (the
// version holds the commit), the baseline instruction sets.
func build(ctx context.Context, root, version string, t target, bin string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=false", "-tags", releaseTags,
		"-ldflags", "-s -w -X akiflow-token/helper.version="+version, "-o", bin, ".")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+t.os, "GOARCH="+t.arch,
		"GOAMD64=v1", "GOARM64=v8.0", "GOEXPERIMENT=", "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building for %s: %v\n%s", t, err, out)
	}
	return nil
}

// A file is one entry of an archive.
type file struct {
	name string
	mode os.FileMode
	data []byte
}

// writeArchive writes the archive name (a .tar.gz, or a .zip) of files,
// in order, in a folder named as the archive without its extension, every
// entry dated mtime: the same files make the same bytes.
func writeArchive(w io.Writer, name string, files []file, mtime time.Time) error {
	mtime = mtime.UTC().Truncate(time.Second)
	if dir, ok := strings.CutSuffix(name, ".zip"); ok {
		return writeZip(w, dir, files, mtime)
	}
	dir, ok := strings.CutSuffix(name, ".tar.gz")
	if !ok {
		return fmt.Errorf("%s: neither .tar.gz nor .zip", name)
	}
	gz, err := gzip.NewWriterLevel(w, gzip.BestCompression) // no name, no time: the header is fixed
	if err != nil {
		return err
	}
	tw := tar.NewWriter(gz)
	hdr := &tar.Header{Typeflag: tar.TypeDir, Name: dir + "/", Mode: 0o755, ModTime: mtime, Format: tar.FormatUSTAR}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	for _, f := range files {
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: dir + "/" + f.name, Mode: int64(f.mode.Perm()),
			Size: int64(len(f.data)), ModTime: mtime, Format: tar.FormatUSTAR}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := tw.Write(f.data); err != nil {
			return err
		}
	}
	return errors.Join(tw.Close(), gz.Close())
}

func writeZip(w io.Writer, dir string, files []file, mtime time.Time) error {
	zw := zip.NewWriter(w)
	hdr := &zip.FileHeader{Name: dir + "/", Modified: mtime}
	hdr.SetMode(os.ModeDir | 0o755)
	if _, err := zw.CreateHeader(hdr); err != nil {
		return err
	}
	for _, f := range files {
		hdr := &zip.FileHeader{Name: dir + "/" + f.name, Method: zip.Deflate, Modified: mtime}
		hdr.SetMode(f.mode.Perm())
		fw, err := zw.CreateHeader(hdr)
		if err != nil {
			return err
		}
		if _, err := fw.Write(f.data); err != nil {
			return err
		}
	}
	return zw.Close()
}

// sumsText is SHA256SUMS: a line per archive, sorted by name, as
// `sha256sum -c` reads it.
func sumsText(sums map[string][sha256.Size]byte) []byte {
	names := make([]string, 0, len(sums))
	for name := range sums {
		names = append(names, name)
	}
	slices.Sort(names)
	var b bytes.Buffer
	for _, name := range names {
		fmt.Fprintf(&b, "%x  %s\n", sums[name], name)
	}
	return b.Bytes()
}
