#!/usr/bin/env bash
# The kernel driver under fio with verification, over Soft-RoCE: for each
# mode (command on a RAM export, direct on a RAM export) two fio jobs write
# random blocks of 4K..1M at queue depths 1..128 with crc32c checksums in
# every block, 512 MiB per mode in all, then read everything back and verify;
# zero mismatches and no fio error allowed. A file export (bounce buffers,
# io_uring, fdatasync) gets a shorter run in command mode, then one with the
# target killed (-9) and restarted mid-run: the driver reconnects, fio's
# verification still passes. dmesg stays clean.
source "$(dirname "$0")/../kmod-lib.sh"
require fio
truncate -s 128M "$WORK/disk.img"
start_rdma_target t --export ram0=ram:256M --export "file0=$WORK/disk.img"

# run_fio DEV SIZE_PER_JOB: two jobs, each on its own half of DEV, random
# writes of 4K..1M (bssplit) with crc32c in every block, verified after
# writing; the queue depth of job 1 is 1 and of job 2 is 128 on the first
# pass, 16 and 64 on the second.
run_fio() {
  local dev=$1 size=$2 half
  half=$(( $(blockdev --getsize64 "$dev") / 2 ))
  for depths in "1 128" "16 64"; do
    read -r qd1 qd2 <<<"$depths"
    echo "== fio verify on $dev: 2 jobs x $size, iodepth $qd1 and $qd2"
    timeout 900 fio --output="$WORK/fio.out" --filename="$dev" --ioengine=libaio --direct=1 \
      --rw=randwrite --bssplit=4k/40:16k/20:64k/20:256k/10:1m/10 --blockalign=4k \
      --verify=crc32c --verify_fatal=1 --do_verify=1 --size="$size" \
      --name=j1 --offset=0 --iodepth="$qd1" \
      --name=j2 --offset="$half" --iodepth="$qd2" >/dev/null 2>"$WORK/fio.err" \
      || { cat "$WORK/fio.out" "$WORK/fio.err" >&2; fail "fio on $dev (iodepth $qd1/$qd2)"; }
    grep -E 'WRITE:|READ:|err=' "$WORK/fio.out"
    ! grep -qiE 'verify.*(fail|bad)|crc32c.*(mismatch|wanted)' "$WORK/fio.out" "$WORK/fio.err" \
      || fail "fio reported a verification failure on $dev"
    grep -q 'err= 0' "$WORK/fio.out" || fail "a fio job ended with an error on $dev"
  done
}

for mode in command direct; do
  dev=$("$CLI" map "$t_URL/ram0" --mode "$mode" --queues 2 --qd 128) || fail "map ram0 ($mode)"
  # 2 passes x 2 jobs x 128 MiB = 512 MiB written and verified per mode.
  run_fio "$dev" 128M
  "$CLI" unmap "$dev" || fail "unmap $dev"
done
dev=$("$CLI" map "$t_URL/file0" --mode command --queues 2 --qd 64) || fail "map file0"
run_fio "$dev" 32M
"$CLI" unmap "$dev" || fail "unmap $dev"

echo "== fio verify across a target restart: kill -9 mid-run, restart on the same port"
# The file export keeps what was acknowledged (the page cache outlives the
# process); the driver holds I/O back, reconnects and resends, and fio's
# verification of every block must still pass.
dev=$("$CLI" map "$t_URL/file0" --mode command --queues 2 --qd 32 --reconnect-delay 1 --ctrl-loss-tmo 120) \
  || fail "map file0 for the restart"
timeout 900 fio --output="$WORK/fio.out" --filename="$dev" --ioengine=libaio --direct=1 --rw=randwrite \
  --bssplit=4k/50:64k/30:1m/20 --blockalign=4k --verify=crc32c --verify_fatal=1 --do_verify=1 --size=64M \
  --name=j1 --offset=0 --iodepth=16 --name=j2 --offset=64M --iodepth=32 >/dev/null 2>"$WORK/fio.err" &
fiopid=$!
sleep 1.5  # into the write phase (about 3 s here)
kill -0 "$fiopid" 2>/dev/null || { cat "$WORK/fio.out" "$WORK/fio.err" >&2; fail "fio ended before the kill"; }
kill_target
wait_state "$dev" reconnecting 30
"$CLI" list
restart_target --export ram0=ram:256M --export "file0=$WORK/disk.img"
wait "$fiopid" || { cat "$WORK/fio.out" "$WORK/fio.err" "$t_LOG" >&2; fail "fio across the restart"; }
grep -E 'WRITE:|READ:|err=' "$WORK/fio.out"
grep -q 'err= 0' "$WORK/fio.out" || fail "a fio job ended with an error across the restart"
"$CLI" list | grep -q live || fail "device not live after the restart"
"$CLI" unmap "$dev" || fail "unmap $dev"

rmmod rdmablk || fail "rmmod"
stop_target "$t_PID" || { cat "$t_LOG" >&2; fail "target did not shut down cleanly"; }
check_dmesg
echo PASS
