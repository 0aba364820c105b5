package helper

import (
	"runtime/debug"
	"strings"
)

// version is akiflow-token's version as the release build sets it
// (tools/release: -ldflags "-X akiflow-token/helper.version=1.2.3", or
// dev-abc1234 off a tag); "" in any other build.
var version string

// Version is akiflow-token's version, true however it was built: the
// release build's; else what Go stamped from the checkout it was built in
// (a clean checkout of the tag vX.Y.Z: X.Y.Z); else dev, with the commit
// when known and -dirty when the checkout had changes (dev-abc1234,
// dev-abc1234-dirty). It never contains white space.
func Version() string {
	if version != "" {
		return version
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "dev"
	}
	var revision string
	var modified bool
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			revision = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	return versionOf(info.Main.Version, revision, modified)
}

// versionOf is the version of a build whose main module has the version
// mod ("(devel)", a tag's vX.Y.Z, a pseudo-version, any of them with
// +dirty), built at the commit revision ("" when not stamped), with
// changes (modified) or not.
func versionOf(mod, revision string, modified bool) string {
	mod, build, _ := strings.Cut(mod, "+")
	if build == "dirty" {
		modified = true
	}
	hash := ""
	if i := strings.LastIndexByte(mod, '-'); isPseudo(mod) {
		hash = mod[i+1:]
	} else if release(mod) && !modified {
		return mod[1:]
	}
	if revision != "" {
		hash = revision
	}
	if hash == "" {
		return "dev"
	}
	v := "dev-" + hash[:min(len(hash), 7)]
	if modified {
		v += "-dirty"
	}
	return v
}

// release says v is vX.Y.Z, or vX.Y.Z-PRE (v1.0.0-rc.1), and not a
// pseudo-version: a tag's version.
func release(v string) bool {
	rest, ok := strings.CutPrefix(v, "v")
	if !ok || isPseudo(v) {
		return false
	}
	core, pre, hasPre := strings.Cut(rest, "-")
	parts := strings.Split(core, ".")
	if len(parts) != 3 || hasPre && !word(pre, true) {
		return false
	}
	for _, p := range parts {
		if !digits(p) {
			return false
		}
	}
	return true
}

// isPseudo says v is a pseudo-version: its last two dash-separated parts
// are a 14-digit time (after "0." or "." in vX.Y.Z-PRE.0.TIME) and a
// 12-digit commit hash, as Go stamps a build off a tag.
func isPseudo(v string) bool {
	i := strings.LastIndexByte(v, '-')
	if i < 0 || len(v)-i-1 != 12 || !word(v[i+1:], false) {
		return false
	}
	rest := v[:i]
	j := strings.LastIndexAny(rest, "-.")
	return j >= 0 && len(rest)-j-1 == 14 && digits(rest[j+1:])
}

// word says s is lower-case hexadecimal digits (or, with pre, letters,
// digits, dots and hyphens, as a pre-release may have), and not empty.
func word(s string, pre bool) bool {
	for _, c := range []byte(s) {
		switch {
		case '0' <= c && c <= '9', 'a' <= c && c <= 'f':
		case pre && ('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '.' || c == '-'):
		default:
			return false
		}
	}
	return s != ""
}

func digits(s string) bool {
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}
