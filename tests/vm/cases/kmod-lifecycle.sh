#!/usr/bin/env bash
# The kernel driver's lifecycle over Soft-RoCE: unmap with I/O in flight,
# the target killed (-9) under I/O (I/O fails within a bounded time, no task
# stuck in D state), rmmod with an unopened device mapped (torn down),
# `rdma link del` of the RDMA device under a mapped disk (the ib_client
# remove hook deletes it); dmesg clean.
source "$(dirname "$0")/../kmod-lib.sh"
start_rdma_target t --export ram0=ram:64M

echo "== unmap with I/O in flight"
dev=$("$CLI" map "$t_URL/ram0" --queues 2 --qd 16) || fail "map"
dd if=/dev/urandom of="$dev" bs=64k count=1000 oflag=direct status=none 2>"$WORK/dd.err" &
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
dd if=/dev/urandom of="$dev" bs=64k count=100000 oflag=direct status=none 2>/dev/null &
ddpid=$!
sleep 1
kill -9 "$k_PID"
timeout 90 tail --pid=$ddpid -f /dev/null || fail "I/O still not failed 90 s after the target died"
wait $ddpid && fail "dd succeeded against a dead target"
"$CLI" list | tee "$WORK/list"
grep -q dead "$WORK/list" || fail "device not reported dead"
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
sleep 2
"$CLI" list | tee "$WORK/list"
grep -q reconnecting "$WORK/list" || fail "device not reconnecting after the target died"
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
"$CLI" unmap "$dev" || fail "unmap"
echo "ok: reconnect resumes held-back I/O, data intact"

echo "== rmmod with a device mapped"
dev=$("$CLI" map "$t_URL/ram0") || fail "map"
rmmod rdmablk || fail "rmmod with an unopened device mapped"
[ ! -b "$dev" ] || fail "$dev survived rmmod"
insmod "$KO" || fail "insmod again"
echo "ok: rmmod tears the device down"

echo "== rdma link del under a mapped device"
dev=$("$CLI" map "$t_URL/ram0") || fail "map"
dd if="$dev" of=/dev/null bs=1M count=4 iflag=direct status=none || fail "read"
# rxe cannot disassociate userspace contexts: `rdma link del` waits until the
# target (a userspace verbs user of rxe0) exits. Our ib_client goes first.
rdma link del rxe0 &
delpid=$!
for i in $(seq 1 300); do [ -b "$dev" ] || break; sleep 0.1; done
[ ! -b "$dev" ] || fail "$dev survived rdma link del"
"$CLI" list | grep -q '^no devices' || fail "device still listed"
for pid in "${TARGET_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
timeout 60 tail --pid=$delpid -f /dev/null || fail "rdma link del did not finish after the target exited"
echo "ok: device removed with its RDMA device"
rmmod rdmablk || fail "rmmod"
check_dmesg
echo PASS
