#!/usr/bin/env bash
# What the CLI prints for people and for programs: --json of every listing
# command that runs without the kernel module (discover, info --list,
# map --all) and of get/put, checked field by field with python's json
# module; the get/put progress line: shown on a terminal (a pty from
# script(1)) with rate and ETA, absent when stderr is not a terminal,
# forced by --progress, silenced by --no-progress; the data stays intact.
source "$(dirname "$0")/lib.sh"
require python3 script
[ -x "$CLI" ] || fail "no CLI binary at $CLI"

random_file "$WORK/src.bin" 24
start_target t --no-rdma --export scratch=ram:64M --export ro=ram:4M,ro,desc=read-only
url=nbd://127.0.0.1:$t_PORT

json_check() {  # json_check WHAT PYTHON-ASSERTIONS < JSON (d is the object)
  python3 -c "import json, sys
d = json.load(sys.stdin)
$2" || fail "$1"
}

"$CLI" discover --json "nbd://127.0.0.1:$t_PORT" | json_check "discover --json" '
e = {x["name"]: x for x in d["exports"]}
assert set(e) == {"scratch", "ro"}, e
assert e["scratch"]["size"] == 64 << 20 and e["scratch"]["read_only"] is False, e
assert e["ro"]["read_only"] is True and e["ro"]["needs_secret"] is False, e
assert isinstance(e["scratch"]["flags"], list), e'
"$CLI" info --list --json "$url/scratch" | json_check "info --list --json" '
assert sorted(x["name"] for x in d["exports"]) == ["ro", "scratch"], d'

# get/put --json: one summary object on stdout, nothing else there.
"$CLI" put --json "$url/scratch" "$WORK/src.bin" >"$WORK/put.json" 2>"$WORK/put.err" || fail "put --json"
json_check "put --json" '
assert d["command"] == "put" and d["bytes"] == 24 << 20 and d["offset"] == 0, d
assert d["seconds"] > 0 and d["bytes_per_second"] > 0, d' <"$WORK/put.json"
[ ! -s "$WORK/put.err" ] || fail "put wrote to stderr with stderr not a terminal: $(cat "$WORK/put.err")"
"$CLI" get --json "$url/scratch" "$WORK/back.bin" --length 24M --offset 0 >"$WORK/get.json" || fail "get --json"
json_check "get --json" 'assert d["command"] == "get" and d["bytes"] == 24 << 20, d' <"$WORK/get.json"
same_bytes "$WORK/src.bin" "$WORK/back.bin" "get --json"
rc=0
"$CLI" get --json "$url/scratch" - >/dev/null 2>"$WORK/err" || rc=$?
[ "$rc" -eq 2 ] && grep -q "stdout carries the data" "$WORK/err" || fail "get --json to stdout: exit $rc"

# map --all --json with nothing to map needs no module.
: >"$WORK/maps.conf"
"$CLI" map --all --json --config "$WORK/maps.conf" | json_check "map --all --json" 'assert d["devices"] == [], d'

# Progress: forced into a file it is there, with its figures and \r redraws.
"$CLI" put --progress "$url/scratch" "$WORK/src.bin" 2>"$WORK/progress.err" || fail "put --progress"
grep -q $'\r' "$WORK/progress.err" || fail "no carriage return in the progress output"
tr '\r' '\n' <"$WORK/progress.err" | grep -Eq '^put  24 MiB / 24 MiB  100%  .*/s  ETA 0:00' \
  || fail "no final progress line: $(tr '\r' '\n' <"$WORK/progress.err" | tail -2)"
"$CLI" get --progress "$url/scratch" "$WORK/back2.bin" --length 24M 2>"$WORK/progress2.err" || fail "get --progress"
tr '\r' '\n' <"$WORK/progress2.err" | grep -q '^get  24 MiB / 24 MiB  100%' || fail "no get progress line"
same_bytes "$WORK/src.bin" "$WORK/back2.bin" "get --progress"
rc=0
"$CLI" get --progress --no-progress "$url/scratch" "$WORK/x" 2>/dev/null || rc=$?
[ "$rc" -eq 2 ] || fail "--progress with --no-progress: exit $rc, not 2"

# On a terminal it shows by itself; --no-progress silences it there.
script -qec "$CLI put $url/scratch $WORK/src.bin" /dev/null >"$WORK/tty.out" </dev/null || fail "put on a pty"
grep -q 'put  24 MiB / 24 MiB  100%' "$WORK/tty.out" || fail "no progress on a terminal: $(cat -v "$WORK/tty.out")"
script -qec "$CLI put --no-progress $url/scratch $WORK/src.bin" /dev/null >"$WORK/tty2.out" </dev/null \
  || fail "put --no-progress on a pty"
grep -q 'MiB' "$WORK/tty2.out" && fail "--no-progress still drew on a terminal: $(cat -v "$WORK/tty2.out")"
assert_alive "$t_PID" "$t_LOG"
echo PASS
