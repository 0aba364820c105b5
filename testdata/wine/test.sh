#!/usr/bin/env bash
# Runs the windows build of the tests under Wine:
#
#   testdata/wine/test.sh [PACKAGES...]     # default: the packages listed below
#
# Debian 12's Wine 8 cannot start a Go 1.22+ program: it lacks ProcessPrng
# in bcryptprimitives.dll. This script assembles a stand-in DLL that has it
# (processprng.s, with binutils-mingw-w64-x86-64 alone), puts it in a fresh
# Wine prefix, and runs GOOS=windows go test -exec wine there (no -race: a
# cross-built test cannot use it). It installs wine, wine64 and
# binutils-mingw-w64-x86-64 with apt-get when they are missing. KEEP=DIR
# keeps the DLL and the prefix in DIR (a second run reuses the prefix).
set -euo pipefail
cd "$(dirname "$0")/../.."

# The packages whose tests run under Wine (docs/development.md says which
# do not, and why).
default_packages=(./helper/... ./cache/... ./keyring/... ./e2e/...)
[ $# -gt 0 ] || set -- "${default_packages[@]}"

missing=()
command -v wine >/dev/null || missing+=(wine)
[ -x /usr/lib/wine/wine64 ] || command -v wine64 >/dev/null || missing+=(wine64)
command -v x86_64-w64-mingw32-as >/dev/null || missing+=(binutils-mingw-w64-x86-64)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if [ -n "${KEEP:-}" ]; then
  work=$(mkdir -p "$KEEP" && cd "$KEEP" && pwd)
else
  work=$(mktemp -d) && trap 'WINEPREFIX="$work/prefix" wineserver -k 2>/dev/null || true; rm -rf "$work"' EXIT
fi

# The stand-in bcryptprimitives.dll: ProcessPrng, calling advapi32's
# SystemFunction036 through an import library made from advapi32.def.
src=testdata/wine
x86_64-w64-mingw32-as -o "$work/processprng.o" "$src/processprng.s"
x86_64-w64-mingw32-dlltool -d "$src/advapi32.def" -l "$work/libadvapi32.a"
x86_64-w64-mingw32-ld -shared --entry=0 --enable-reloc-section -o "$work/bcryptprimitives.dll" \
  "$work/processprng.o" "$src/processprng.def" "$work/libadvapi32.a"

# A fresh prefix (about 20 s), with the DLL in its system32. WINEDEBUG=-all
# keeps Wine's own notes (and its hint about wine32) out of the output.
export WINEPREFIX="$work/prefix" WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
if [ ! -d "$WINEPREFIX/drive_c/windows/system32" ]; then
  wineboot -i >/dev/null 2>&1
  wineserver -w
fi
cp "$work/bcryptprimitives.dll" "$WINEPREFIX/drive_c/windows/system32/"

# Wine 8 answers Go's delete with POSIX semantics (NtSetInformationFile,
# FileDispositionInformationEx) with STATUS_NOT_IMPLEMENTED, where Windows
# before 10 1607 answers STATUS_INVALID_INFO_CLASS; Go falls back to the old
# delete only on the latter, so os.RemoveAll (t.TempDir's cleanup) fails
# on every file under Wine. The test builds alone (never a release) take
# the fallback on Wine's answer too: a copy of Go's own file with that one
# status added, through -overlay.
at="$(go env GOROOT)/src/internal/syscall/windows/at_windows.go"
mkdir -p "$work/overlay"
sed 's|^\(\t\tSTATUS_NOT_SUPPORTED: *\)//|\t\tSTATUS_NOT_SUPPORTED, NTStatus(0xC0000002) /* STATUS_NOT_IMPLEMENTED, from Wine 8 */ : //|' \
  "$at" >"$work/overlay/at_windows.go"
if cmp -s "$at" "$work/overlay/at_windows.go"; then
  echo "test.sh: $at has changed: mend its Wine patch (or drop it, if this Go falls back on STATUS_NOT_IMPLEMENTED)" >&2
  exit 1
fi
printf '{"Replace":{"%s":"%s"}}\n' "$at" "$work/overlay/at_windows.go" >"$work/overlay.json"

# The program itself, for the end-to-end tests of ./e2e (built as the
# release is, but with the overlay: it removes files too).
GOOS=windows GOARCH=amd64 CGO_ENABLED=0 go build -overlay "$work/overlay.json" \
  -tags netgo,osusergo,nethttpomithttp2 -o "$work/akiflow-token.exe" .
export AKIFLOW_TEST_WINDOWS_BINARY
AKIFLOW_TEST_WINDOWS_BINARY=$(winepath -w "$work/akiflow-token.exe" 2>/dev/null)

# AKIFLOW_TEST_REQUIRE_TOOLS is for the Linux run: under Wine a test that
# needs a Unix tool skips, saying why.
GOOS=windows GOARCH=amd64 CGO_ENABLED=0 AKIFLOW_TEST_REQUIRE_TOOLS= \
  go test -count=1 -overlay "$work/overlay.json" -exec wine "$@"
