#!/usr/bin/env bash
# Polling over Soft-RoCE: clients with poll=1 (and --poll) against a target
# with --rdma-poll. Data integrity in command and direct mode at queue
# depths 1..32 on 1..2 queues and through a file export's bounce buffers,
# CLI round trips, the request timeout with a frozen target, and a clean
# shutdown (spinning queues stop, nothing hangs).
source "$(dirname "$0")/../rdma-lib.sh"

truncate -s 64M "$WORK/disk.img"
start_rdma_target t --rdma-poll --export ram0=ram:64M --export "file0=$WORK/disk.img"

for mode in command direct; do
  stress "$t_URL/ram0?poll=1" "$mode" 1 1 8M 8M
  stress "$t_URL/ram0?poll=1" "$mode" 32 2 32M 32M
done
stress "$t_URL/file0?poll=1" command 16 2 32M 32M

echo "== poll: CLI round trips"
random_file "$WORK/in.bin" 16
for mode in command direct; do
  "$CLI" put "$t_URL/ram0" "$WORK/in.bin" --mode "$mode" --poll --qd 8 || fail "put ($mode, --poll)"
  "$CLI" get "$t_URL/ram0" "$WORK/back-$mode.bin" --mode "$mode" --poll --length 16M || fail "get ($mode, --poll)"
  same_bytes "$WORK/in.bin" "$WORK/back-$mode.bin" "rdma $mode round trip with polling"
done
"$CLI" bench "$t_URL/ram0?poll=1" --rw randread --bs 4k --qd 1 --time 2 || fail "bench with poll=1"

echo "== poll: target frozen (SIGSTOP) with commands in flight: the request timeout fires"
expect_timeout_when_frozen "$t_URL/ram0?timeout=3000&poll=1"

assert_alive "$t_PID" "$t_LOG"
stop_target "$t_PID" || { cat "$t_LOG" >&2; fail "target did not shut down cleanly"; }
check_dmesg
echo PASS
