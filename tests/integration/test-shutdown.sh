#!/usr/bin/env bash
# SIGTERM while writes are in flight: the target finishes them, makes every
# acknowledged write durable, and exits 0; the file holds what was copied.
source "$(dirname "$0")/lib.sh"
require nbdcopy

random_file "$WORK/src.bin" 32
truncate -s 32M "$WORK/disk.img"
start_target t --export "vol0=$WORK/disk.img"
url=nbd://127.0.0.1:$t_PORT/vol0

# A complete copy first: after a clean stop every byte must be in the file.
nbdcopy "$WORK/src.bin" "$url" || fail "copy"
stop_target "$t_PID" || fail "target exit status $? after SIGTERM (want 0)"
same_bytes "$WORK/src.bin" "$WORK/disk.img" "file after clean stop"

# Now stop it in the middle of a copy: the target must still exit 0 and
# must not hang; the copy itself may fail.
start_target u --export "vol0=$WORK/disk.img"
random_file "$WORK/src2.bin" 32
nbdcopy --requests=64 "$WORK/src2.bin" "nbd://127.0.0.1:$u_PORT/vol0" 2>/dev/null &
copier=$!
sleep 0.3
rc=0
timeout 30 bash -c "kill -TERM $u_PID; while kill -0 $u_PID 2>/dev/null; do sleep 0.1; done" || fail "target did not stop within 30 s"
wait "$u_PID" || rc=$?
[ $rc -eq 0 ] || fail "target exit status $rc after SIGTERM mid-copy (want 0)"
wait "$copier" || true
grep -q "shutting down\|stopping\|exit" "$u_LOG" || echo "note: no shutdown line in the log" >&2
echo PASS
