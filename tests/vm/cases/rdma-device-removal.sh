#!/usr/bin/env bash
# `rdma link del` of the device the target serves on, under I/O: the target
# must release everything it holds on it (queues, QPs, CQs, MRs, bounce
# pools, PD, cm ids, librdmacm's device context) so the removal finishes
# at once (rxe cannot disassociate a userspace process: otherwise it blocks
# in D state until the target exits), fail its sessions, keep serving NBD,
# and listen again on its address once a new rxe0 comes.
source "$(dirname "$0")/../rdma-lib.sh"

truncate -s 64M "$WORK/disk.img"
start_rdma_target t --export ram0=ram:64M --export "file0=$WORK/disk.img"

random_file "$WORK/in.bin" 8
# At 32M: the bench below stays in the first 32M.
"$CLI" put "$t_URL/ram0" "$WORK/in.bin" --offset 32M || fail "put over RDMA"

echo "== an idle logged-in session (get waits to open a FIFO nobody reads yet) and I/O in flight"
mkfifo "$WORK/idle.fifo"
timeout 120 "$CLI" get "$t_URL/file0?timeout=5000" "$WORK/idle.fifo" --length 1M >"$WORK/idle.out" 2>&1 &
ipid=$!
for _ in $(seq 1 100); do grep -q "export 'file0'" "$t_LOG" && break; sleep 0.1; done
grep -q "export 'file0'" "$t_LOG" || { cat "$t_LOG" >&2; fail "the idle session did not log in"; }
timeout 120 "$CLI" bench "$t_URL/ram0?timeout=5000" --rw randrw --bs 64k --qd 16 --queues 2 --size 32M --time 30 \
  >"$WORK/bench.out" 2>&1 &
bpid=$!
timeout 120 "$CLI" bench "$t_URL/file0?timeout=5000" --rw randwrite --bs 64k --qd 8 --time 30 \
  >"$WORK/bench2.out" 2>&1 &
b2pid=$!
sleep 4
kill -0 "$bpid" 2>/dev/null || { cat "$WORK/bench.out" >&2; fail "ram0 bench ended before the removal"; }
kill -0 "$b2pid" 2>/dev/null || { cat "$WORK/bench2.out" >&2; fail "file0 bench ended before the removal"; }

echo "== rdma link del rxe0"
# The initiators here are userspace verbs users of rxe0 too: the removal
# also waits for them, so they must fail and exit (the idle one once its
# FIFO gets a reader); the target must not hold it up.
start=$(date +%s)
timeout 60 rdma link del rxe0 &
dpid=$!
for _ in $(seq 1 200); do grep -q 'device rxe0 released' "$t_LOG" && break; sleep 0.1; done
grep -q 'device rxe0 released' "$t_LOG" || { cat "$t_LOG" >&2; fail "the target did not release rxe0 within 20 s"; }
echo "ok: the target released rxe0 after $(( $(date +%s) - start ))s"
assert_alive "$t_PID" "$t_LOG"

for p in "$bpid:bench.out" "$b2pid:bench2.out"; do
  rc=0
  wait "${p%%:*}" || rc=$?
  tail -n 2 "$WORK/${p#*:}"
  took=$(( $(date +%s) - start ))
  [ "$rc" -ne 124 ] || fail "${p#*:}: bench still running 120 s after the removal"
  [ "$rc" -ne 0 ] || fail "${p#*:}: bench reported success although the device went away"
  [ "$took" -le 40 ] || fail "${p#*:}: errors took ${took}s after the removal"
  echo "ok: ${p#*:}: bench failed (exit $rc) within ${took}s"
done

# The target closed the idle session; its get then fails.
grep -q "export 'file0'.*closed.*removed" "$t_LOG" || { cat "$t_LOG" >&2; fail "the idle session was not closed"; }
cat "$WORK/idle.fifo" >/dev/null &
rc=0
wait "$ipid" || rc=$?
[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || { cat "$WORK/idle.out" >&2; fail "idle session: get exit $rc"; }
echo "ok: idle session: get failed (exit $rc): $(tail -n 1 "$WORK/idle.out")"

rc=0
wait "$dpid" || rc=$?
took=$(( $(date +%s) - start ))
[ "$rc" -ne 124 ] || { cat "$t_LOG" >&2; ls -l "/proc/$t_PID/fd" >&2; fail "rdma link del rxe0 still blocked after 60 s"; }
[ "$rc" -eq 0 ] || fail "rdma link del rxe0: exit $rc"
echo "ok: rdma link del returned 0 after ${took}s, target still running"
assert_alive "$t_PID" "$t_LOG"

grep -E 'device rxe0 removed' "$t_LOG" || { cat "$t_LOG" >&2; fail "the log does not name the removal"; }
grep -E 'device rxe0 released' "$t_LOG" || { cat "$t_LOG" >&2; fail "the log does not report the release"; }
assert_alive "$t_PID" "$t_LOG"

echo "== NBD still serves"
"$CLI" get "$t_NBD/ram0" "$WORK/back.bin" --offset 32M --length 8M || fail "get over NBD after the removal"
same_bytes "$WORK/in.bin" "$WORK/back.bin" "ram0 over NBD after the removal"

echo "== a new rxe0: the target listens again"
rdma link add rxe0 type rxe netdev d0 || fail "rdma link add rxe0"
random_file "$WORK/in2.bin" 4
ok=0
for _ in $(seq 1 15); do
  if timeout 20 "$CLI" put "$t_URL/ram0?timeout=3000" "$WORK/in2.bin" >"$WORK/put.out" 2>&1; then ok=1; break; fi
  sleep 1
done
[ "$ok" = 1 ] || { cat "$WORK/put.out" "$t_LOG" >&2; fail "no RDMA service on the new rxe0"; }
grep -E 'listening again' "$t_LOG"
"$CLI" get "$t_URL/ram0" "$WORK/back2.bin" --length 4M || fail "get over RDMA on the new rxe0"
same_bytes "$WORK/in2.bin" "$WORK/back2.bin" "ram0 over RDMA on the new rxe0"
"$CLI" get "$t_NBD/ram0" "$WORK/back3.bin" --length 4M || fail "get over NBD"
same_bytes "$WORK/in2.bin" "$WORK/back3.bin" "ram0 over NBD"

stop_target "$t_PID" || { cat "$t_LOG" >&2; fail "target did not shut down cleanly"; }
check_dmesg
echo PASS
