#!/usr/bin/env bash
# The kernel driver's lifecycle over Soft-RoCE: unmap with I/O in flight,
# the target killed (-9) under I/O (I/O fails within a bounded time, no task
# stuck in D state), rmmod with an unopened device mapped (torn down),
# `rdma link del` of the RDMA device under a mapped disk (the ib_client
# remove hook lets go of rxe0; the disk reconnects over a new rxe0, or fails
# I/O after ctrl_loss_tmo without one); dmesg clean.
source "$(dirname "$0")/../kmod-lib.sh"
start_rdma_target t --export ram0=ram:64M

echo "== unmap with I/O in flight"
dev=$("$CLI" map "$t_URL/ram0" --queues 2 --qd 16) || fail "map"
# a writer that goes on until the device fails it, however fast the host
( while dd if=/dev/urandom of="$dev" bs=64k count=1000 oflag=direct status=none 2>"$WORK/dd.err"; do :; done ) &
ddpid=$!
sleep 1
timeout 120 "$CLI" unmap "$dev" || fail "unmap with I/O in flight"
timeout 60 tail --pid=$ddpid -f /dev/null || fail "dd still running 60 s after unmap"
wait $ddpid 2>/dev/null || true
[ ! -b "$dev" ] || fail "$dev still exists"
echo "ok: unmapped with I/O in flight ($(head -c 100 "$WORK/dd.err"))"

echo "== target killed under I/O"
start_rdma_target k --export ram1=ram:64M
dev=$("$CLI" map "$k_URL/ram1" --queues 1 --qd 8 --reconnect-delay 1 --ctrl-loss-tmo 5) || fail "map"
# rewrites the device until a write fails (exit 1), however fast the host
( while :; do dd if=/dev/urandom of="$dev" bs=64k count=1000 oflag=direct status=none 2>/dev/null || exit 1; done ) &
ddpid=$!
sleep 1
kill -0 "$ddpid" 2>/dev/null || fail "the writer failed before the target was killed"
kill -9 "$k_PID"
timeout 90 tail --pid=$ddpid -f /dev/null || fail "I/O still not failed 90 s after the target died"
wait $ddpid && fail "dd succeeded against a dead target"
wait_state "$dev" dead 10
"$CLI" list
dd if="$dev" of=/dev/null bs=4k count=1 iflag=direct status=none 2>/dev/null && fail "read from a dead device succeeded"
timeout 60 "$CLI" unmap "$dev" || fail "unmap of a dead device"
echo "ok: target death fails I/O, unmap works"

echo "== reconnect: the target restarts on the same port, I/O held back resumes"
truncate -s 64M "$WORK/disk.img"
start_rdma_target r --export "file1=$WORK/disk.img"
dev=$("$CLI" map "$r_URL/file1" --queues 2 --qd 8 --reconnect-delay 1 --ctrl-loss-tmo 120) || fail "map"
random_file "$WORK/a.bin" 4
random_file "$WORK/b.bin" 4
dd if="$WORK/a.bin" of="$dev" bs=1M oflag=direct status=none || fail "write a"
kill -9 "$r_PID"
wait "$r_PID" 2>/dev/null || true
wait_state "$dev" reconnecting 30
"$CLI" list
dd if="$WORK/b.bin" of="$dev" bs=1M seek=8 oflag=direct status=none &
ddpid=$!
sleep 2
"$TARGET" --listen "$TARGET_LISTEN" --nbd-port 0 --rdma-port "$r_RDMA_PORT" --export "file1=$WORK/disk.img" \
  >"$WORK/r2.log" 2>&1 &
TARGET_PIDS+=($!)
timeout 90 tail --pid=$ddpid -f /dev/null || fail "write held back during the outage did not finish after the target came back"
wait $ddpid || fail "write held back during the outage failed"
dd if="$dev" of="$WORK/a-back.bin" bs=1M count=4 iflag=direct status=none || fail "read a after reconnect"
dd if="$dev" of="$WORK/b-back.bin" bs=1M skip=8 count=4 iflag=direct status=none || fail "read b after reconnect"
same_bytes "$WORK/a.bin" "$WORK/a-back.bin" "data written before the outage"
same_bytes "$WORK/b.bin" "$WORK/b-back.bin" "data written across the outage"
"$CLI" list | grep -q live || fail "device not live after reconnect"
reconnects=$(cat "/sys/block/${dev#/dev/}/rdmablk/reconnects")
[ "$reconnects" -ge 1 ] || fail "sysfs reconnects is $reconnects after a reconnect"
"$CLI" status "$dev" --json | grep -q '"reconnects": [1-9]' || fail "rdmablk status shows no reconnect"
"$CLI" unmap "$dev" || fail "unmap"
echo "ok: reconnect resumes held-back I/O, data intact ($reconnects reconnects counted)"

echo "== rmmod with a device mapped"
dev=$("$CLI" map "$t_URL/ram0") || fail "map"
rmmod rdmablk || fail "rmmod with an unopened device mapped"
[ ! -b "$dev" ] || fail "$dev survived rmmod"
insmod "$KO" || fail "insmod again"
echo "ok: rmmod tears the device down"

# rxe cannot disassociate userspace contexts: `rdma link del` also waits for
# the target (a userspace verbs user of rxe0), which releases it at once.

echo "== rdma link del under a mapped disk, then a new rxe0: the disk reconnects"
dev=$("$CLI" map "$t_URL/ram0" --queues 2 --qd 16 --reconnect-delay 1 --ctrl-loss-tmo 120) || fail "map"
random_file "$WORK/a.bin" 4
random_file "$WORK/b.bin" 4
dd if="$WORK/a.bin" of="$dev" bs=1M oflag=direct conv=fsync status=none || fail "write a"
timeout 120 dd if="$dev" of=/dev/null bs=64k count=20000 iflag=direct status=none 2>"$WORK/rd.err" &
rdpid=$!
sleep 1
timeout 60 rdma link del rxe0 || fail "rdma link del rxe0 did not finish (something held the device)"
[ -b "$dev" ] || fail "$dev went away with its RDMA device"
wait_state "$dev" reconnecting 10
timeout 120 dd if="$WORK/b.bin" of="$dev" bs=1M seek=8 oflag=direct conv=fsync status=none 2>"$WORK/wr.err" &
wrpid=$!
sleep 2
kill -0 "$wrpid" 2>/dev/null || fail "a write went through with no RDMA device ($(cat "$WORK/wr.err"))"
rdma link add rxe0 type rxe netdev d0 || fail "rdma link add rxe0"
wait_state "$dev" live 90
wait "$wrpid" || fail "write held back while rxe0 was gone failed: $(cat "$WORK/wr.err")"
wait "$rdpid" || fail "reads in flight at the removal failed: $(cat "$WORK/rd.err")"
dd if="$dev" of="$WORK/a-back.bin" bs=1M count=4 iflag=direct status=none || fail "read a"
dd if="$dev" of="$WORK/b-back.bin" bs=1M skip=8 count=4 iflag=direct status=none || fail "read b"
same_bytes "$WORK/a.bin" "$WORK/a-back.bin" "data written before the removal"
same_bytes "$WORK/b.bin" "$WORK/b-back.bin" "data written while rxe0 was gone"
[ "$(cat "/sys/block/${dev#/dev/}/rdmablk/reconnects")" -ge 1 ] || fail "no reconnect counted"
"$CLI" unmap "$dev" || fail "unmap"
echo "ok: the disk survived rdma link del and reconnected over the new rxe0, data intact"

echo "== rdma link del and no new device: I/O fails after ctrl_loss_tmo"
dev=$("$CLI" map "$t_URL/ram0" --queues 1 --qd 8 --reconnect-delay 1 --ctrl-loss-tmo 5) || fail "map"
timeout 60 rdma link del rxe0 || fail "rdma link del rxe0"
wait_state "$dev" dead 30
dd if="$dev" of=/dev/null bs=4k count=1 iflag=direct status=none 2>/dev/null && fail "read from a dead device succeeded"
timeout 60 "$CLI" unmap "$dev" || fail "unmap of a dead device"
rdma link add rxe0 type rxe netdev d0 || fail "rdma link add rxe0 again"
echo "ok: without an RDMA device the disk gives up after ctrl_loss_tmo and unmaps cleanly"
rmmod rdmablk || fail "rmmod"
check_dmesg
echo PASS
