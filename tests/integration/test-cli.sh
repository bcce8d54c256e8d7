#!/usr/bin/env bash
# The rdmablk CLI (librdmablk over NBD/TCP): info, put, get at offsets,
# a short bench, and one clear line with a non-zero exit for every bad input.
source "$(dirname "$0")/lib.sh"
[ -x "$CLI" ] || fail "no CLI binary at $CLI"

random_file "$WORK/src.bin" 40
truncate -s 64M "$WORK/disk.img"
start_target t --export scratch=ram:64M --export "vol0=$WORK/disk.img" --export ro=ram:4M,ro
url=nbd://127.0.0.1:$t_PORT

"$CLI" info "$url/scratch" | grep -q "67108864" || fail "info does not show the size"
"$CLI" info --json "$url/vol0" | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["size"] == 64 << 20 and d["read_only"] is False, d' || fail "info --json"

for exp in scratch vol0; do
  "$CLI" put "$url/$exp" "$WORK/src.bin" || fail "put into $exp"
  "$CLI" get "$url/$exp" "$WORK/back.bin" --length 40M || fail "get from $exp"
  same_bytes "$WORK/src.bin" "$WORK/back.bin" "$exp round trip"
done

# Offsets: put 1 MiB at 8 MiB, get exactly that range back.
head -c 1M "$WORK/src.bin" >"$WORK/part.bin"
"$CLI" put "$url/scratch" "$WORK/part.bin" --offset 8M || fail "put at offset"
"$CLI" get "$url/scratch" "$WORK/part-back.bin" --offset 8M --length 1M || fail "get at offset"
same_bytes "$WORK/part.bin" "$WORK/part-back.bin" "offset round trip"
# stdin/stdout work as files.
"$CLI" get "$url/scratch" - --offset 8M --length 1M | cmp - "$WORK/part.bin" || fail "get to stdout"

# A short benchmark prints the figures and valid JSON.
"$CLI" bench "$url/scratch" --rw randread --bs 4k --qd 8 --time 1 --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
text = json.dumps(d)
assert "iops" in text and "p99" in text, d' || fail "bench --json"

# expect_error DESCRIPTION CMD...: non-zero exit, exactly one line on stderr.
expect_error() {
  local what=$1 rc=0
  shift
  "$@" >"$WORK/out" 2>"$WORK/err" || rc=$?
  [ $rc -ne 0 ] || fail "$what: exit 0"
  [ "$(wc -l <"$WORK/err")" -eq 1 ] || fail "$what: stderr is not one line: $(cat "$WORK/err")"
  echo "ok: $what -> $(cat "$WORK/err")"
}
expect_error "bad URL" "$CLI" info "http://127.0.0.1/x"
expect_error "bad port" "$CLI" info "nbd://127.0.0.1:99999/x"
expect_error "unknown export" "$CLI" info "$url/nosuch"
expect_error "unreachable target" "$CLI" info "nbd://127.0.0.1:1/scratch"
expect_error "bad flag" "$CLI" bench "$url/scratch" --rw sideways
expect_error "missing file" "$CLI" put "$url/scratch" "$WORK/does-not-exist"
expect_error "put past the end" "$CLI" put "$url/ro" "$WORK/src.bin"
expect_error "write to read-only" "$CLI" put "$url/ro" "$WORK/part.bin"
expect_error "get past the end" "$CLI" get "$url/scratch" "$WORK/x" --offset 63M --length 2M

assert_alive "$t_PID" "$t_LOG"
echo PASS
