#!/usr/bin/env bash
# Faults over Soft-RoCE: the target killed or frozen while I/O is in flight
# (clients return errors within a bounded time, nothing hangs), FLUSH
# durability on a file export across kill -9 and restart, and dead addresses.
source "$(dirname "$0")/../rdma-lib.sh"

truncate -s 64M "$WORK/disk.img"
start_rdma_target t --export ram0=ram:64M --export "file0=$WORK/disk.img"

echo "== FLUSH durability: put (ends with FLUSH) over RDMA, kill -9, restart, read back"
random_file "$WORK/in.bin" 32
"$CLI" put "$t_URL/file0" "$WORK/in.bin" --qd 16 || fail "put"
kill -9 "$t_PID"
wait "$t_PID" 2>/dev/null || true
cmp -n $((32 << 20)) "$WORK/in.bin" "$WORK/disk.img" || fail "backing file lacks flushed data after kill -9"
start_rdma_target t --export ram0=ram:64M --export "file0=$WORK/disk.img"
"$CLI" get "$t_URL/file0" "$WORK/back.bin" --length 32M || fail "get after restart"
same_bytes "$WORK/in.bin" "$WORK/back.bin" "flushed data after restart"

echo "== target killed with I/O in flight"
for mode in command direct; do
  start=$(date +%s)
  timeout 120 "$CLI" bench "$t_URL/ram0?timeout=5000" --mode "$mode" --rw randwrite --bs 64k --qd 32 --queues 2 \
    --time 60 >"$WORK/bench.out" 2>&1 &
  bpid=$!
  sleep 4
  kill -0 "$bpid" 2>/dev/null || { cat "$WORK/bench.out" >&2; fail "$mode: bench ended before the kill"; }
  kill -9 "$t_PID"
  wait "$t_PID" 2>/dev/null || true
  rc=0
  wait "$bpid" || rc=$?
  took=$(( $(date +%s) - start - 4 ))
  tail -n 3 "$WORK/bench.out"
  [ "$rc" -ne 124 ] || fail "$mode: bench still running 120 s after the target died"
  [ "$rc" -ne 0 ] || fail "$mode: bench reported success although the target died"
  [ "$took" -le 30 ] || fail "$mode: errors took ${took}s after the kill (timeout 5 s)"
  echo "ok: $mode: bench failed (exit $rc) ${took}s after the kill"
  start_rdma_target t --export ram0=ram:64M --export "file0=$WORK/disk.img"
done

echo "== target frozen (SIGSTOP) with commands in flight: the request timeout fires"
expect_timeout_when_frozen "$t_URL/ram0?timeout=3000"
assert_alive "$t_PID" "$t_LOG"

echo "== no target there"
expect_fail "connect to a port nobody listens on" 'refused|reject|unreachable|no route|not listen' \
  "$CLI" info "rdma://$TARGET_LISTEN:1/ram0?timeout=5000"
expect_fail "connect to an address without a route" 'unreachable|timed out|timeout|no route|resolve|address' \
  "$CLI" info "rdma://203.0.113.9/ram0?timeout=3000"

stop_target "$t_PID" || { cat "$t_LOG" >&2; fail "target did not shut down cleanly"; }
check_dmesg
echo PASS
