#!/usr/bin/env bash
# Counts the user-space instructions of one cache hit of akiflow-token and
# of the two floors (testdata/floor, testdata/floor-http) with callgrind,
# which counts the same on a busy machine as on an idle one.
#
#   testdata/callgrind.sh             # the totals and the ratios
#   testdata/callgrind.sh --annotate  # and where akiflow-token's go
#
# All three are built as the README installs akiflow-token (BUILD_FLAGS, by
# default the release tags; BUILD_FLAGS= builds them plainly). KEEP=DIR
# keeps the callgrind files in DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "valgrind is not installed (apt-get install valgrind)"; exit 1; }

if [ -n "${KEEP:-}" ]; then
  out=$KEEP && mkdir -p "$out"
else
  out=$(mktemp -d) && trap 'rm -rf "$out"' EXIT
fi
flags=(${BUILD_FLAGS--tags netgo,osusergo,nethttpomithttp2})
go build "${flags[@]}" -o "$out/akiflow-token" .
go build "${flags[@]}" -o "$out/floor" ./testdata/floor
go build "${flags[@]}" -o "$out/floor-http" ./testdata/floor-http

# A warm cache: one account whose token has an hour left.
cache="$out/home/.cache/akiflow-token/web.akiflow.com"
mkdir -p "$cache" && chmod -R 700 "$out/home"
session="$cache/bench@example.com.json"
expires=$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%SZ)
token="eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.$(head -c 300 /dev/zero | tr '\0' 'x').sig"
printf '{"format":1,"email":"bench@example.com","base_url":"https://web.akiflow.com","client_id":"00000000-0000-4000-8000-000000000000","access_token":"%s","refresh_token":"def50200%s","expires_at":"%s"}\n' \
  "$token" "$(head -c 400 /dev/zero | tr '\0' 'a')" "$expires" > "$session"
printf 'bench@example.com\n' > "$cache/current.json"
chmod 600 "$session" "$cache/current.json"

count() { # name, command...: prints the instruction total; stdin: $STDIN; exit status wanted: $STATUS (0)
  local name=$1 status=0; shift
  HOME="$out/home" XDG_CACHE_HOME="$out/home/.cache" GODEBUG=asyncpreemptoff=1 GOMAXPROCS=1 \
    valgrind --tool=callgrind --callgrind-out-file="$out/$name.out" "$@" <"${STDIN:-/dev/null}" >/dev/null 2>"$out/$name.log" \
    || status=$?
  [ "$status" = "${STATUS:-0}" ] || { cat "$out/$name.log"; exit 1; }
  callgrind_annotate "$out/$name.out" | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}'
}
hit=$(count akiflow-token "$out/akiflow-token")
# The same session with its refresh token in the OS keyring (the record
# names it): the cache hit reads no keyring, and must cost the same.
khome="$out/khome/.cache/akiflow-token/web.akiflow.com"
mkdir -p "$khome" && chmod -R 700 "$out/khome"
printf '{"format":1,"email":"bench@example.com","base_url":"https://web.akiflow.com","client_id":"00000000-0000-4000-8000-000000000000","access_token":"%s","refresh_in":"keyring","expires_at":"%s"}\n' \
  "$token" "$expires" > "$khome/bench@example.com.json"
printf 'bench@example.com\n' > "$khome/current.json"
chmod 600 "$khome"/*
khit=$(HOME="$out/khome" XDG_CACHE_HOME="$out/khome/.cache" GODEBUG=asyncpreemptoff=1 GOMAXPROCS=1 \
  valgrind --tool=callgrind --callgrind-out-file="$out/khit.out" "$out/akiflow-token" </dev/null >/dev/null 2>"$out/khit.log" \
  && callgrind_annotate "$out/khit.out" | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}') || { cat "$out/khit.log"; exit 1; }
# git's credential get, as git runs it on every fetch.
printf 'protocol=https\nhost=web.akiflow.com\n\n' >"$out/git-request"
get=$(STDIN="$out/git-request" count get "$out/akiflow-token" git-credential get)
floor=$(count floor "$out/floor" "$session")
floorhttp=$(count floor-http "$out/floor-http" "$session")
printf '%-14s %12s instructions\n' akiflow-token "$hit" "keyring hit" "$khit" "git get" "$get" floor "$floor" floor-http "$floorhttp"
awk -v h="$hit" -v f="$floor" -v fh="$floorhttp" 'BEGIN {
  printf "akiflow-token / floor-http: %.2f (target 1.5 or less)\n", h / fh
  printf "akiflow-token / floor:      %.2f\n", h / f
}'
awk -v h="$hit" -v k="$khit" 'BEGIN { printf "keyring hit / file hit:     %.3f (target 1.05 or less)\n", k / h }'
# The other commands a script runs often, each against the cache hit
# (target: 2 times or less). ALL=1 counts them.
if [ -n "${ALL:-}" ]; then
  # exec, up to its execve: a command that does not exist (exit 127), since
  # callgrind writes nothing for a process that execs another program.
  n=$(STATUS=127 count cmd "$out/akiflow-token" exec -- "$out/no-such-command")
  awk -v n="$n" -v h="$hit" 'BEGIN { printf "%-22s %12d instructions, %.2f times the cache hit\n", "exec (to its execve)", n, n / h }'
  for cmd in "-o json" "-o curl" "-o header" "-o exec-credential" "status" "switch bench@example.com" "logout --all"; do
    n=$(count cmd "$out/akiflow-token" $cmd)
    awk -v n="$n" -v h="$hit" -v c="$cmd" 'BEGIN { printf "%-22s %12d instructions, %.2f times the cache hit\n", c, n, n / h }'
  done
fi
if [ "${1:-}" = "--annotate" ]; then
  callgrind_annotate --inclusive=yes "$out/akiflow-token.out" 2>/dev/null | head -60
  cp "$out/akiflow-token.out" /tmp/akiflow-token.callgrind 2>/dev/null || true
fi
