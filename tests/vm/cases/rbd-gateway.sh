#!/usr/bin/env bash
# An rbd: export through the kernel driver over Soft-RoCE, with the Ceph
# cluster (tests/ceph/cluster) inside the VM: fio writes crc32c-verified
# blocks on the rdmablk device while the gateway (the target process) gets
# SIGKILL and a new one starts on the same port. The gateway keeps no
# state, the image is in Ceph: the driver reconnects, resends, and fio's
# verification of every block passes with zero errors. Then the cluster's
# OSD stops under I/O: the device returns I/O errors within the export's
# timeout (no hang). dmesg stays clean.
source "$(dirname "$0")/../kmod-lib.sh"
require fio rbd
started=$SECONDS
CLUSTER=$RDMABLK_SRC/tests/ceph/cluster
cdir=$WORK/ceph
kmod_case_cleanup() {
  [ -n "${fiopid:-}" ] && kill "$fiopid" 2>/dev/null
  "$CLI" unmap --all >/dev/null 2>&1 || true
  "$CLUSTER" destroy "$cdir" >/dev/null 2>&1 || true
}

rc=0
CEPH_OSD_SIZE=1G CEPH_CLUSTER_TIMEOUT=300 "$CLUSTER" start "$cdir" --image vol:128M \
  >"$WORK/cluster.env" 2>"$WORK/cluster.err" || rc=$?
[ $rc -eq 77 ] && skip "no Ceph cluster in the VM: $(tail -n 3 "$WORK/cluster.err")"
[ $rc -eq 0 ] || { cat "$WORK/cluster.err" >&2; fail "tests/ceph/cluster start failed ($rc)"; }
source "$WORK/cluster.env"
echo "cluster up after $((SECONDS - started)) s"
spec="vol=rbd:$CEPH_POOL/vol,conf=$CEPH_CONF,keyring=$CEPH_KEYRING,timeout=10"
start_rdma_target t --export "$spec"
dev=$("$CLI" map "$t_URL/vol" --mode command --queues 2 --qd 32 --reconnect-delay 1 --ctrl-loss-tmo 120) \
  || fail "map the rbd export"

echo "== fio verify on $dev; the gateway is killed and replaced mid-write"
timeout 900 fio --output="$WORK/fio.out" --filename="$dev" --ioengine=libaio --direct=1 --rw=randwrite \
  --bssplit=4k/50:64k/30:1m/20 --blockalign=4k --verify=crc32c --verify_fatal=1 --do_verify=1 --size=48M \
  --name=j1 --offset=0 --iodepth=16 --name=j2 --offset=64M --iodepth=32 >/dev/null 2>"$WORK/fio.err" &
fiopid=$!
sleep 3
kill -0 "$fiopid" 2>/dev/null || { cat "$WORK/fio.out" "$WORK/fio.err" >&2; fail "fio ended before the kill"; }
kill -9 "$t_PID"
wait "$t_PID" 2>/dev/null || true
killed=$(date +%s.%N)
wait_state "$dev" reconnecting 30
"$TARGET" --listen "$TARGET_LISTEN" --nbd-port 0 --rdma-port "$t_RDMA_PORT" --export "$spec" >"$WORK/t2.log" 2>&1 &
t_PID=$!
TARGET_PIDS+=("$t_PID")
wait_state "$dev" live 60 "the new gateway started"
echo "device live again $(python3 -c "import time; print(round(time.time() - $killed, 1))") s after the kill"
wait "$fiopid" || { cat "$WORK/fio.out" "$WORK/fio.err" "$WORK/t2.log" >&2; fail "fio across the gateway restart"; }
fiopid=
grep -E 'WRITE:|READ:|err=' "$WORK/fio.out"
grep -q 'err= 0' "$WORK/fio.out" || fail "a fio job ended with an error across the gateway restart"

echo "== the OSD stops under I/O: I/O errors within the timeout"
"$CLUSTER" stop-osd "$cdir"
t0=$SECONDS rc=0
timeout 60 dd if="$dev" of=/dev/null bs=64k count=16 skip=100 iflag=direct 2>"$WORK/dd.err" || rc=$?
[ $rc -ne 0 ] || fail "read succeeded with the OSD stopped"
[ $rc -ne 124 ] || fail "read hung with the OSD stopped"
echo "read failed $((SECONDS - t0)) s after the OSD stopped: $(tail -n 1 "$WORK/dd.err")"
"$CLI" unmap "$dev" || fail "unmap"
rmmod rdmablk || fail "rmmod"
stop_target "$t_PID" || fail "the gateway did not shut down cleanly"
check_dmesg
echo "PASS in $((SECONDS - started)) s"
