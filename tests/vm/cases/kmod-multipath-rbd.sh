#!/usr/bin/env bash
# dm-multipath across two gateways of one Ceph RBD image: a single-node
# cluster inside the VM (tests/ceph/cluster, memstore), both targets serve
# the image through librbd with no declared serial, so the identity is the
# image's own: rbd.<first 8 hex digits of the fsid>.<pool id>.<image id>,
# checked against what Ceph says. Then the failover run of
# tests/vm/multipath-lib.sh (mp_run): one map, fio crc32c verify across
# SIGKILL of each gateway in turn, the path reinstated in between. The
# image's bytes in Ceph (`rbd export`) equal what the map reads. Skips (77)
# where the cluster cannot start.
source "$(dirname "$0")/../multipath-lib.sh"
require rbd ceph
started=$SECONDS
CLUSTER=$RDMABLK_SRC/tests/ceph/cluster
cdir=$WORK/ceph
mp_case_cleanup() { "$CLUSTER" destroy "$cdir" >/dev/null 2>&1 || true; }

rc=0
CEPH_OSD_SIZE=1G "$CLUSTER" start "$cdir" --image img0:128M >"$WORK/cluster.env" 2>"$WORK/cluster.err" || rc=$?
[ $rc -eq 77 ] && skip "no Ceph cluster: $(tail -n 3 "$WORK/cluster.err")"
[ $rc -eq 0 ] || { tail -n 30 "$WORK/cluster.err" >&2; fail "tests/ceph/cluster start failed ($rc)"; }
source "$WORK/cluster.env"
echo "== cluster up after $((SECONDS - started)) s (mon $CEPH_MON)"
ceph_q() { timeout 60 "$@" --conf "$CEPH_CONF" 2>/dev/null; }
fsid=$(ceph_q ceph fsid | tr -d '-')
pool_id=$(ceph_q ceph osd pool ls detail -f json |
  python3 -c 'import json,sys; print(next(p["pool_id"] for p in json.load(sys.stdin) if p["pool_name"] == sys.argv[1]))' "$CEPH_POOL")
image_id=$(ceph_q rbd info "$CEPH_POOL/img0" | sed -n 's/^[[:space:]]*id: //p')
[ -n "$fsid" ] && [ -n "$pool_id" ] && [ -n "$image_id" ] || fail "cannot read fsid/pool id/image id from Ceph"
serial=rbd.${fsid:0:8}.$pool_id.$image_id
echo "the image's identity, from Ceph: $serial"

mp_run "vol=rbd:$CEPH_POOL/img0,conf=$CEPH_CONF,keyring=$CEPH_KEYRING,timeout=5" "$serial" $((128 << 20)) 48M

echo "== the image in Ceph holds what the map read"
start_rdma_target t --export "vol=rbd:$CEPH_POOL/img0,conf=$CEPH_CONF,keyring=$CEPH_KEYRING,timeout=5"
d=$("$CLI" map "$t_URL/vol") || fail "map the image once more"
dd if="$d" of="$WORK/mapped.bin" bs=1M iflag=direct status=none || fail "read $d"
"$CLI" unmap "$d" || fail "unmap $d"
ceph_q rbd export "$CEPH_POOL/img0" "$WORK/ceph.bin" >/dev/null || fail "rbd export"
cmp "$WORK/mapped.bin" "$WORK/ceph.bin" || fail "the image in Ceph differs from what the driver reads"
echo "ok: $((128 << 20)) bytes equal"
stop_target "$t_PID" || fail "target t did not shut down cleanly"

rmmod rdmablk || fail "rmmod"
check_dmesg
echo "PASS in $((SECONDS - started)) s"
