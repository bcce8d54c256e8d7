#!/usr/bin/env bash
# The kernel driver's polled and batched submission paths, over Soft-RoCE.
# For each mode a RAM export is mapped with 2 interrupt-driven queues and
# 1 poll queue (--poll-queues 1); fio with io_uring and hipri=1 (IOPOLL: the
# blk-mq .poll op reaps the poll queue's CQ) writes random blocks with
# crc32c in every block at queue depth 1 and, with batched submission, 32,
# then reads them back and verifies. Zero errors allowed; the poll path must
# have reaped completions (sysfs `polled`), and in command mode the burst
# must have shared doorbells (`doorbells` < `sends`) with fewer signaled
# SENDs than SENDs. A small WRITE at QD1 and QD32 goes inline (sysfs
# `inline_writes`). Then the same polled fio on a file export across a
# target killed (-9) and restarted: recovery drains the poll queue by
# polling it, reconnects, and the verification passes. dmesg stays clean.
source "$(dirname "$0")/../kmod-lib.sh"
require fio
truncate -s 64M "$WORK/disk.img"
start_rdma_target t --export ram0=ram:256M --export "file0=$WORK/disk.img"

attr() { cat "/sys/block/${1#/dev/}/rdmablk/$2"; }

# run_fio DEV RW: two jobs on the two halves of DEV, io_uring with polling,
# 4K..64K blocks with crc32c, written and verified; job 1 at QD1, job 2 at
# QD32 submitting up to 16 at once.
run_fio() {
  local dev=$1 half
  half=$(( $(blockdev --getsize64 "$dev") / 2 ))
  timeout 600 fio --output="$WORK/fio.out" --filename="$dev" --ioengine=io_uring --hipri=1 --direct=1 \
    --rw=randwrite --bssplit=4k/60:16k/20:64k/20 --blockalign=4k \
    --verify=crc32c --verify_fatal=1 --do_verify=1 --size=32M \
    --name=qd1 --offset=0 --iodepth=1 \
    --name=qd32 --offset="$half" --iodepth=32 --iodepth_batch_submit=16 --iodepth_batch_complete_min=1 \
    >/dev/null 2>"$WORK/fio.err" || { cat "$WORK/fio.out" "$WORK/fio.err" >&2; fail "fio on $dev"; }
  grep -E 'WRITE:|READ:|err=' "$WORK/fio.out"
  ! grep -qiE 'verify.*(fail|bad)|crc32c.*(mismatch|wanted)' "$WORK/fio.out" "$WORK/fio.err" \
    || fail "fio reported a verification failure on $dev"
  [ "$(grep -c 'err= 0' "$WORK/fio.out")" = 2 ] || fail "a fio job ended with an error on $dev"
}

for mode in command direct; do
  echo "== $mode mode, 2 interrupt queues + 1 poll queue"
  dev=$("$CLI" map "$t_URL/ram0" --mode "$mode" --queues 2 --poll-queues 1 --qd 64) || fail "map ram0 ($mode)"
  [ "$(attr "$dev" poll_queues)" = 1 ] || fail "$dev: poll_queues is $(attr "$dev" poll_queues), not 1"
  [ "$(attr "$dev" nr_queues)" = 3 ] || fail "$dev: nr_queues is $(attr "$dev" nr_queues), not 3"
  [ "$(cat "/sys/block/${dev#/dev/}/queue/io_poll")" = 1 ] || fail "$dev: the block layer does not poll it"
  polled0=$(attr "$dev" polled) inline0=$(attr "$dev" inline_writes)
  run_fio "$dev"
  polled=$(( $(attr "$dev" polled) - polled0 ))
  sends=$(attr "$dev" sends) signaled=$(attr "$dev" signaled) doorbells=$(attr "$dev" doorbells)
  echo "polled completions $polled, sends $sends, signaled $signaled, doorbells $doorbells"
  [ "$polled" -ge 1000 ] || fail "$dev: only $polled completions reaped by .poll"
  if [ "$mode" = command ]; then
    [ "$doorbells" -lt "$sends" ] || fail "$dev: no doorbell shared ($doorbells for $sends SENDs)"
    [ "$signaled" -lt "$sends" ] || fail "$dev: every SEND signaled ($signaled of $sends)"
    [ "$(( $(attr "$dev" inline_writes) - inline0 ))" -gt 0 ] || fail "$dev: no inline WRITE"
  fi
  [ "$(attr "$dev" io_errors)" = 0 ] || fail "$dev: io_errors $(attr "$dev" io_errors)"
  "$CLI" unmap "$dev" || fail "unmap $dev"
done

echo "== polled fio across a target restart"
dev=$("$CLI" map "$t_URL/file0" --queues 1 --poll-queues 1 --qd 32 --reconnect-delay 1 --ctrl-loss-tmo 120) \
  || fail "map file0"
timeout 600 fio --output="$WORK/fio.out" --filename="$dev" --ioengine=io_uring --hipri=1 --direct=1 \
  --rw=randwrite --bssplit=4k/50:64k/50 --blockalign=4k --verify=crc32c --verify_fatal=1 --do_verify=1 \
  --size=24M --name=j1 --offset=0 --iodepth=8 --name=j2 --offset=32M --iodepth=32 >/dev/null 2>"$WORK/fio.err" &
fiopid=$!
sleep 1.5
kill -0 "$fiopid" 2>/dev/null || { cat "$WORK/fio.out" "$WORK/fio.err" >&2; fail "fio ended before the kill"; }
kill_target
wait_state "$dev" reconnecting 30
restart_target --export ram0=ram:256M --export "file0=$WORK/disk.img"
wait "$fiopid" || { cat "$WORK/fio.out" "$WORK/fio.err" "$t_LOG" >&2; fail "polled fio across the restart"; }
grep -E 'WRITE:|READ:|err=' "$WORK/fio.out"
[ "$(grep -c 'err= 0' "$WORK/fio.out")" = 2 ] || fail "a fio job ended with an error across the restart"
[ "$(attr "$dev" reconnects)" -ge 1 ] || fail "$dev: no reconnect counted"
[ "$(sysfs_state "$dev")" = live ] || fail "$dev not live after the restart"
"$CLI" unmap "$dev" || fail "unmap $dev"

echo "== a map asking for more poll queues than allowed is refused"
expect_fail "--poll-queues 65" "poll-queues must be" "$CLI" map "$t_URL/ram0" --poll-queues 65

rmmod rdmablk || fail "rmmod"
stop_target "$t_PID" || { cat "$t_LOG" >&2; fail "target did not shut down cleanly"; }
check_dmesg
echo PASS
