package helper

import (
	"strings"
	"testing"
)

// Version tells the truth however the binary was built: the release
// build's version, else a clean tag's as Go stamps it, else dev with the
// commit, marked when the checkout had changes.
func TestVersionOf(t *testing.T) {
	const rev = "c062ba679f897586ad8a7379324370845ac5fc0c"
	for _, tc := range []struct {
		mod, revision string
		modified      bool
		want          string
	}{
		// go build in a clean checkout of a tag.
		{"v1.2.3", rev, false, "1.2.3"},
		{"v1.0.0-rc.1", rev, false, "1.0.0-rc.1"},
		{"v10.20.30", "", false, "10.20.30"},
		// The tag's checkout with changes: Go says v1.2.3+dirty.
		{"v1.2.3+dirty", rev, true, "dev-c062ba6-dirty"},
		{"v1.2.3+dirty", "", false, "dev"},
		{"v1.2.3", rev, true, "dev-c062ba6-dirty"},
		// Past a tag, or with none: a pseudo-version.
		{"v1.2.4-0.20261207082314-c062ba679f89", rev, false, "dev-c062ba6"},
		{"v1.2.4-0.20261207082314-c062ba679f89", "", false, "dev-c062ba6"},
		{"v0.0.0-20261207082314-c062ba679f89", rev, false, "dev-c062ba6"},
		{"v1.0.0-rc.1.0.20261207082314-c062ba679f89", rev, false, "dev-c062ba6"},
		{"v0.0.0-20261207082314-c062ba679f89+dirty", rev, true, "dev-c062ba6-dirty"},
		// No version from Go: -buildvcs=false, go run, a build outside git.
		{"(devel)", rev, false, "dev-c062ba6"},
		{"(devel)", rev, true, "dev-c062ba6-dirty"},
		{"(devel)", "", false, "dev"},
		{"", "", false, "dev"},
		// Not a tag's version.
		{"v1.2", rev, false, "dev-c062ba6"},
		{"1.2.3", rev, false, "dev-c062ba6"},
		{"v1.2.3-", rev, false, "dev-c062ba6"},
		{"v1.2.x", "", false, "dev"},
	} {
		got := versionOf(tc.mod, tc.revision, tc.modified)
		if got != tc.want {
			t.Errorf("versionOf(%q, %q, %v) = %q, want %q", tc.mod, tc.revision, tc.modified, got, tc.want)
		}
	}
}

// The release build's version wins; any version is one word (the
// User-Agent and the --version line hold it).
func TestVersion(t *testing.T) {
	if v := Version(); v == "" || strings.ContainsAny(v, " \t\n") {
		t.Errorf("Version() = %q", v)
	}
	defer func(v string) { version = v }(version)
	version = "1.2.3"
	if v := Version(); v != "1.2.3" {
		t.Errorf("Version() with the release build's 1.2.3 = %q", v)
	}
}
