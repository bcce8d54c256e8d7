#!/usr/bin/env bash
# The kernel driver and librdmablk trust nothing from a hostile TARGET:
# rdmablk-rdma-evil-target accepts, logs in and serves a patterned RAM
# export, then misbehaves in one mode at a time. Bad accepts and login
# answers: `rdmablk map` fails with one clear line and leaves no device,
# `rdmablk info` (librdmablk) too. Broken responses, silence, RDMA WRITEs
# past the initiator's key, disconnects under a READ: misbehaving once, the
# READ comes back right after a reconnect; misbehaving every time, it fails
# with EIO after the driver's retries (or the device goes dead when the
# target refuses reconnects or changes the export); never wrong data. Unmap
# works every time, `rdmablk get` (librdmablk) fails cleanly or reads the
# right bytes, dmesg is clean and the module unloads.
source "$(dirname "$0")/../kmod-lib.sh"
EVIL=$RDMABLK_BIN/rdmablk-rdma-evil-target
[ -x "$EVIL" ] || fail "no $EVIL (build first)"
TRIGGER=$((8 << 20))
"$EVIL" --pattern 8M 64k >"$WORK/expect.bin"
PORT=7500
# a clear librdmablk error names the target, or the request that failed
LIB_ERR="$TARGET_LISTEN|failed: "
START=$(date +%s)
# RDMABLK_EVIL_MODES: a regex; only the modes matching it run (debugging).
MODES=${RDMABLK_EVIL_MODES:-.}
want() { [[ $1 =~ $MODES ]]; }
trap 'echo "== $(( $(date +%s) - START )) s"; kmod_cleanup' EXIT

# evil_start MODE ARGS...: the evil target on a fresh port; sets URL.
evil_start() {
  local mode=$1 i
  shift
  PORT=$((PORT + 1))
  URL=rdma://$TARGET_LISTEN:$PORT/evil
  "$EVIL" --mode "$mode" --listen "$TARGET_LISTEN" --port "$PORT" --lifetime 300 "$@" >"$WORK/evil.log" 2>&1 &
  EVIL_PID=$!
  TARGET_PIDS+=("$EVIL_PID")
  for i in $(seq 1 300); do
    grep -q '^listening' "$WORK/evil.log" && return
    kill -0 "$EVIL_PID" 2>/dev/null || break
    sleep 0.1
  done
  cat "$WORK/evil.log" >&2
  fail "evil target ($mode) did not start"
}

evil_stop() {
  kill "$EVIL_PID" 2>/dev/null || true
  wait "$EVIL_PID" 2>/dev/null || true
}

# The target must have done what the mode says (an "evil:" line).
evil_acted() {
  grep -q '^evil:' "$WORK/evil.log" || { cat "$WORK/evil.log" >&2; fail "$1: the evil target never misbehaved"; }
}

no_device() {
  [ -z "$(ls /dev/rdmablk[0-9]* 2>/dev/null)" ] || fail "$1: a device was left behind"
}

# lib_fails WHAT CMD...: librdmablk must fail within 60 s, not crash
# (exit < 128), with one line on stderr naming the target or the request.
lib_fails() {
  local what=$1 rc=0
  shift
  timeout 60 "$@" >"$WORK/lib.out" 2>"$WORK/lib.err" || rc=$?
  [ "$rc" -ne 124 ] || fail "$what: librdmablk still running after 60 s"
  [ "$rc" -ne 0 ] && [ "$rc" -lt 128 ] || { cat "$WORK/lib.err" >&2; fail "$what: librdmablk exit $rc"; }
  grep -qiE "$LIB_ERR" "$WORK/lib.err" || { cat "$WORK/lib.err" >&2; fail "$what: librdmablk: no clear error"; }
  echo "ok: $what: librdmablk exit $rc: $(grep -iE "$LIB_ERR" "$WORK/lib.err" | head -n 1)"
}

# refused MODE PATTERN [MAP ARGS...]: map must fail with a line matching
# PATTERN and leave nothing; `rdmablk info` must fail too (unless LIB_OK=1:
# what the kernel cannot use may suit librdmablk).
refused() {
  local mode=$1 pattern=$2
  shift 2
  want "$mode" || return 0
  echo "== $mode"
  evil_start "$mode"
  expect_fail "map ($mode)" "$pattern" "$CLI" map "$URL" --queues 2 --qd 16 "$@"
  no_device "$mode"
  if [ "${LIB_OK:-0}" = 1 ]; then
    timeout 60 "$CLI" info "$URL?timeout=3000" >"$WORK/lib.out" 2>&1 || { cat "$WORK/lib.out" >&2; fail "info ($mode)"; }
    echo "ok: info ($mode): librdmablk accepts it: $(tr '\n' ' ' <"$WORK/lib.out" | head -c 120)"
  else
    lib_fails "info ($mode)" "$CLI" info "$URL?timeout=3000"
  fi
  evil_acted "$mode"
  evil_stop
}

refused rep-bad-magic 'broke the protocol'
refused rep-bad-version 'not supported|protocol'
refused rep-depth-over 'broke the protocol'
refused rep-no-nonce 'broke the protocol'
refused reject-garbage 'connection refused'
refused reject-busy 'refused by target: target out of resources'
for mode in login-size-unaligned login-max-io-huge login-max-io-zero login-queues-over login-depth-over \
  login-depth-zero login-bs-npot login-bs-huge login-pbs-small login-feature-unasked login-session-zero \
  login-rsvd login-flags-unknown login-export-id-bad login-truncated login-oversized login-status-undefined \
  login-wrong-opcode login-wrong-tag login-length-lie; do
  refused "$mode" 'broke the protocol'
done
LIB_OK=1 refused login-max-io-small 'not supported'
refused login-refused 'refused by target: unknown export'
refused login-never 'timed out'
refused login-disconnect 'reset|broke the protocol'
dmesg | grep -E 'rdmablk[0-9]*: .*(malformed|bad accept|page|during login)' | sed 's/^\[[^]]*\] //' | sort | uniq -c || true

if want login-size-zero; then
echo "== login-size-zero (allowed): a disk of 0 bytes"
evil_start login-size-zero
dev=$(timeout 60 "$CLI" map "$URL" --queues 2 --qd 16) || fail "map of a 0-byte export"
[ "$(blockdev --getsize64 "$dev")" = 0 ] || fail "size of $dev is not 0"
dd if="$dev" of=/dev/null bs=4k count=1 iflag=direct status=none 2>/dev/null || true
timeout 60 "$CLI" unmap "$dev" || fail "unmap of the 0-byte disk"
evil_stop
echo "ok: login-size-zero: mapped as a 0-byte disk, unmapped"
fi

if want direct-bad-key; then
echo "== direct-bad-key: every direct READ fails at the device"
evil_start direct-bad-key
# the partition scan's READs fail too (after the retries); map then succeeds
maprc=0
dev=$(timeout 120 "$CLI" map "$URL" --mode direct --queues 1 --qd 8 --reconnect-delay 1 --ctrl-loss-tmo 5) || maprc=$?
[ "$maprc" -ne 124 ] || fail "direct-bad-key: map hangs"
rc=0
if [ "$maprc" -eq 0 ]; then
  timeout 120 dd if="$dev" of="$WORK/got.bin" bs=64k skip=128 count=1 iflag=direct status=none 2>"$WORK/dd.err" || rc=$?
  [ "$rc" -ne 124 ] || fail "direct-bad-key: read hangs"
  [ "$rc" -ne 0 ] || fail "direct-bad-key: a READ through a key that does not exist succeeded"
  grep -q 'Input/output error' "$WORK/dd.err" || { cat "$WORK/dd.err" >&2; fail "direct-bad-key: READ failed, but not with EIO"; }
  timeout 60 "$CLI" unmap "$dev" || fail "direct-bad-key: unmap"
fi
no_device direct-bad-key
evil_acted direct-bad-key
lib_fails "get (direct-bad-key)" "$CLI" get "$URL?mode=direct&timeout=3000" "$WORK/lib.bin" --offset 8M --length 64k
evil_stop
echo "ok: direct-bad-key: map exit $maprc, READ exit $rc (EIO), unmapped"
fi

# io MODE TIMES EXPECT: map, one 64 KiB O_DIRECT READ at the trigger;
# EXPECT ok (the right bytes, after a reconnect), eio (fails), dead (fails,
# device dead) or any (fails, or the right bytes). Then unmap, and
# `rdmablk get` of the same range against a target misbehaving every time.
io() {
  local mode=$1 times=$2 expect=$3 rc=0 dev name state reconnects
  want "$mode" || return 0
  echo "== $mode (misbehaving $([ "$times" = 0 ] && echo always || echo "$times time(s)"))"
  evil_start "$mode" --times "$times"
  # Where a reconnect must bring the bytes, give it room on a busy host
  # (teardown, the 1 s delay, connect and login); elsewhere the device may
  # go dead after 10 s.
  local tmo=10
  [ "$expect" != ok ] || tmo=30
  dev=$(timeout 60 "$CLI" map "$URL" --queues 2 --qd 16 --reconnect-delay 1 --ctrl-loss-tmo "$tmo") || fail "$mode: map"
  name=${dev#/dev/}
  echo 3000 >"/sys/block/$name/queue/io_timeout"
  timeout 150 dd if="$dev" of="$WORK/got.bin" bs=64k skip=$((TRIGGER / 65536)) count=1 iflag=direct \
    status=none 2>"$WORK/dd.err" || rc=$?
  [ "$rc" -ne 124 ] || fail "$mode: READ still hanging after 150 s"
  state=$(cat "/sys/block/$name/rdmablk/state")
  reconnects=$(cat "/sys/block/$name/rdmablk/reconnects")
  if [ "$rc" -eq 0 ]; then
    same_bytes "$WORK/expect.bin" "$WORK/got.bin" "$mode: READ"
    [ "$expect" = ok ] || [ "$expect" = any ] || fail "$mode: READ succeeded, expected $expect"
  else
    grep -q 'Input/output error' "$WORK/dd.err" || { cat "$WORK/dd.err" >&2; fail "$mode: READ failed, but not with EIO"; }
    [ "$expect" != ok ] || fail "$mode: READ failed, expected the right bytes after a reconnect"
  fi
  [ "$expect" != dead ] || [ "$state" = dead ] || fail "$mode: state $state, expected dead"
  [ "$mode" = good ] || evil_acted "$mode"
  timeout 60 "$CLI" unmap "$dev" || fail "$mode: unmap"
  no_device "$mode"
  echo "ok: $mode: READ exit $rc $(head -c 60 "$WORK/dd.err"), state $state, $reconnects reconnect(s), unmapped"
  evil_stop

  evil_start "$mode" --times 0
  rc=0
  timeout 60 "$CLI" get "$URL?timeout=3000" "$WORK/lib.bin" --offset 8M --length 64k >"$WORK/lib.out" \
    2>"$WORK/lib.err" || rc=$?
  if [ "$rc" -eq 0 ] && [ "$mode" = io-write-past-key ] && ! cmp -s "$WORK/expect.bin" "$WORK/lib.bin"; then
    # Known limitation: librdmablk registers whole buffers once, so a key
    # stays valid beyond one command's range and the target's WRITE lands
    # 512 bytes further inside the same buffer. Nothing outside it.
    cmp -n $((65536 - 512)) -i 0:512 "$WORK/expect.bin" "$WORK/lib.bin" ||
      fail "$mode: rdmablk get: the bytes are not the shifted WRITE"
    echo "KNOWN: $mode: librdmablk: the WRITE 512 bytes past the command's range landed inside the registered buffer"
  elif [ "$rc" -eq 0 ]; then
    same_bytes "$WORK/expect.bin" "$WORK/lib.bin" "$mode: rdmablk get"
    echo "ok: $mode: librdmablk read the right bytes"
  else
    [ "$rc" -ne 124 ] || fail "$mode: rdmablk get still running after 60 s"
    [ "$rc" -lt 128 ] || { cat "$WORK/lib.err" >&2; fail "$mode: rdmablk get exit $rc"; }
    grep -qiE "$LIB_ERR" "$WORK/lib.err" || { cat "$WORK/lib.err" >&2; fail "$mode: librdmablk: no clear error"; }
    echo "ok: $mode: librdmablk exit $rc: $(grep -iE "$LIB_ERR" "$WORK/lib.err" | head -n 1)"
  fi
  evil_stop
}

io good 1 ok
for mode in io-unknown-tag io-stale-tag io-dup io-wrong-opcode io-bad-status io-short io-long io-oversized \
  io-length-short io-rkey-field io-inv-wrong-key io-never io-write-past-key io-write-bad-key io-disconnect; do
  io "$mode" 1 ok
done
io io-error-status 1 eio
for mode in io-bad-status io-write-past-key io-disconnect; do
  io "$mode" 0 eio
done
io io-reject-reconnect 1 dead
io io-reconnect-changed 1 dead
io io-reconnect-other-id 1 dead

if want ka-bad; then
echo "== keepalive answered with a bad status: reconnect"
evil_start ka-bad --times 0
dev=$(timeout 60 "$CLI" map "$URL" --queues 2 --qd 16 --reconnect-delay 1 --ctrl-loss-tmo 10) || fail "ka-bad: map"
for i in $(seq 1 30); do
  grep -q '^evil: KEEPALIVE' "$WORK/evil.log" && break
  sleep 1
done
evil_acted ka-bad
for i in $(seq 1 100); do
  dmesg | grep -q 'unexpected or bad answer on queue 0' && break
  sleep 0.1
done
timeout 60 "$CLI" unmap "$dev" || fail "ka-bad: unmap"
evil_stop
dmesg | grep -q 'unexpected or bad answer on queue 0' || fail "ka-bad: no recovery"
echo "ok: ka-bad: recovery started, unmapped"
fi

"$CLI" list
check_dmesg
rmmod rdmablk || fail "rmmod"
echo "ok: module unloaded; dmesg clean"
