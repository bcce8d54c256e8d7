#!/usr/bin/env bash
# Not in ctest yet (tests/vm/soak/, run by hand: tests/vm/run bash
# tests/vm/soak/kmod-chaos.sh): with the link flap (RDMABLK_CHAOS_LINK_FLAP=1)
# the disk stays reconnecting after the flap that follows a target restart,
# not yet understood (docs/reliability.md, Faults).
#
# Soak under chaos, over Soft-RoCE: fio writes random blocks (4K..1M) with a
# crc32c in each to /dev/rdmablk0 (command mode, file export) and verifies
# them, run after run, for RDMABLK_SOAK_SECONDS (default 120; docs/
# reliability.md records a longer run), while a chaos loop takes turns at
# killing the target (-9) and restarting it, taking the link down and up,
# and deleting rxe0 and adding it again. Every fio run must verify clean;
# afterwards the disk is live and dmesg has no WARNING/BUG/hung task.
# Then durability: 20 times a synchronous write (O_SYNC: FUA or a FLUSH) is
# acknowledged, the target is killed at once, restarted, and everything
# written so far reads back.
source "$(dirname "$0")/../kmod-lib.sh"
require fio ip rdma
SOAK=${RDMABLK_SOAK_SECONDS:-120}
truncate -s 256M "$WORK/disk.img"
TARGET_ARGS=(--export "file0=$WORK/disk.img")
start_rdma_target t "${TARGET_ARGS[@]}"

# restart_target: a new target on the same ports, serving RDMA again.
restart_target() {
  kill -9 "$t_PID" 2>/dev/null || true
  wait "$t_PID" 2>/dev/null || true
  rm -f "$WORK/t.ports"
  "$TARGET" --listen "$TARGET_LISTEN" --nbd-port 0 --rdma-port "$t_RDMA_PORT" --port-file "$WORK/t.ports" \
    "${TARGET_ARGS[@]}" >>"$t_LOG" 2>&1 &
  t_PID=$!
  TARGET_PIDS+=("$t_PID")
  for _ in $(seq 1 100); do grep -q '^rdma=' "$WORK/t.ports" 2>/dev/null && return 0; sleep 0.1; done
  tail -n 20 "$t_LOG" >&2
  fail "the restarted target does not serve RDMA within 10 s"
}

sysfs() { cat "/sys/block/${dev#/dev/}/rdmablk/$1"; }
wait_live() {  # wait_live SECONDS
  for _ in $(seq 1 $(($1 * 10))); do [ "$(sysfs state)" = live ] && return 0; sleep 0.1; done
  fail "$dev is $(sysfs state) $1 s after the fault ended"
}

dev=$("$CLI" map "$t_URL/file0" --mode command --queues 2 --qd 32 --reconnect-delay 1 --ctrl-loss-tmo 300) ||
  fail "map file0"

echo "== soak: fio verify for ${SOAK}s under chaos"
end=$((SECONDS + SOAK))
(
  runs=0
  while [ $SECONDS -lt $end ]; do
    timeout 600 fio --output="$WORK/fio.out" --filename="$dev" --ioengine=libaio --direct=1 --rw=randwrite \
      --bssplit=4k/40:16k/20:64k/20:256k/10:1m/10 --blockalign=4k --verify=crc32c --verify_fatal=1 \
      --do_verify=1 --size=48M --name=j1 --offset=0 --iodepth=8 --name=j2 --offset=128M --iodepth=32 \
      >/dev/null 2>"$WORK/fio.err" || { cat "$WORK/fio.out" "$WORK/fio.err" >&2; exit 1; }
    grep -q 'err= 0' "$WORK/fio.out" || { cat "$WORK/fio.out" >&2; exit 1; }
    runs=$((runs + 1))
    echo "$runs" >"$WORK/fio.runs"
  done
) &
fiopid=$!

faults=0
round=0
relisten=0
while [ $SECONDS -lt $end ]; do
  sleep $((3 + RANDOM % 4))
  kill -0 "$fiopid" 2>/dev/null || break
  action=$((round % 3))
  # the link flap only when asked for: see the note at the top
  [ "$action" = 1 ] && [ "${RDMABLK_CHAOS_LINK_FLAP:-0}" != 1 ] && action=2
  case $action in
    0)
      echo "chaos: kill -9 the target, restart it"
      restart_target
      ;;
    1)
      echo "chaos: link d0 down for 2 s"
      ip link set d0 down
      sleep 2
      ip link set d0 up
      ;;
    2)
      echo "chaos: rdma link del rxe0, add it again 2 s later"
      timeout 60 rdma link del rxe0 || fail "rdma link del rxe0 did not finish"
      sleep 2
      rdma link add rxe0 type rxe netdev d0 || fail "rdma link add rxe0"
      # the target listens again once the address is back on an RDMA device
      relisten=$((relisten + 1))
      for _ in $(seq 1 150); do [ "$(grep -c 'listening again' "$t_LOG")" -ge "$relisten" ] && break; sleep 0.1; done
      ;;
  esac
  round=$((round + 1))
  faults=$((faults + 1))
  wait_live 120
done
wait "$fiopid" || fail "fio failed verification or I/O during the soak (after $faults faults)"
runs=$(cat "$WORK/fio.runs" 2>/dev/null || echo 0)
[ "$runs" -ge 1 ] || fail "no fio run finished"
[ "$faults" -ge 3 ] || fail "only $faults faults in ${SOAK}s"
echo "ok: soak: $runs fio runs (each 96 MiB written and verified), $faults faults," \
  "reconnects $(sysfs reconnects), io_errors $(sysfs io_errors), timeouts $(sysfs timeouts)"
[ "$(sysfs io_errors)" = 0 ] || fail "the driver failed $(sysfs io_errors) requests during the soak"

echo "== durability: acknowledged synchronous writes survive kill -9 of the target"
for i in $(seq 1 20); do
  head -c 65536 /dev/urandom >"$WORK/blk$i"
  dd if="$WORK/blk$i" of="$dev" bs=64k seek=$((i * 3)) oflag=direct,sync status=none || fail "sync write $i"
  restart_target
  wait_live 60
  for j in $(seq 1 "$i"); do
    dd if="$dev" of="$WORK/back" bs=64k skip=$((j * 3)) count=1 iflag=direct status=none || fail "read $j"
    cmp -s "$WORK/blk$j" "$WORK/back" || fail "block $j written before kill $i is lost or wrong"
  done
done
echo "ok: 20 kills right after an acknowledged synchronous write, every block intact"

"$CLI" unmap "$dev" || fail "unmap"
rmmod rdmablk || fail "rmmod"
check_dmesg
echo PASS
