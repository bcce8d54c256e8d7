#!/usr/bin/env bash
# rbd: exports against a real single-node Ceph cluster (tests/ceph/cluster):
# real NBD clients (nbdcopy, qemu-img, qemu-io, the rdmablk CLI) write and
# read back through the target, and every byte is compared with what Ceph
# itself holds (`rbd export`); FUA, flush, write-zeroes and discard; a
# second gateway on the same image reads what the first wrote and back (no
# client cache). Then the failure modes: missing pool or image, a wrong
# key and a cluster that is down fail at start-up with a clear message within the timeout; an OSD
# stopped under I/O turns requests into I/O errors within the timeout, the
# target stays up and shuts down cleanly. Skips (77) where Ceph cannot run.
source "$(dirname "$0")/lib.sh"
require nbdcopy qemu-img qemu-io rbd ceph-authtool
CLUSTER=$RDMABLK_SRC/tests/ceph/cluster
started=$SECONDS

cdir=$WORK/ceph
rbd_cleanup() {
  cleanup_rc=$?
  "$CLUSTER" destroy "$cdir" >/dev/null 2>&1 || true
  cleanup
  exit $cleanup_rc
}
trap rbd_cleanup EXIT

rc=0
"$CLUSTER" start "$cdir" --image img0:64M --image img1:16M >"$WORK/cluster.env" 2>"$WORK/cluster.err" || rc=$?
[ $rc -eq 77 ] && skip "no Ceph cluster: $(tail -n 3 "$WORK/cluster.err")"
[ $rc -eq 0 ] || { cat "$WORK/cluster.err" >&2; fail "tests/ceph/cluster start failed ($rc)"; }
source "$WORK/cluster.env"
echo "== cluster up after $((SECONDS - started)) s (mon $CEPH_MON)"
timeout_s=5
ceph_opts="conf=$CEPH_CONF,keyring=$CEPH_KEYRING,timeout=$timeout_s"
rbd_cmd() { timeout 60 rbd --conf "$CEPH_CONF" "$@"; }

# start_failing NAME SPEC PATTERN: the target must refuse to start with a
# message matching PATTERN, within the timeout plus slack.
start_failing() {
  local name=$1 spec=$2 pattern=$3 t0=$SECONDS rc=0
  timeout $((timeout_s * 3 + 20)) "$TARGET" --listen 127.0.0.1 --nbd-port 0 --rdma-port -1 \
    --export "$spec" >"$WORK/$name.log" 2>&1 || rc=$?
  [ $rc -ne 0 ] || fail "$name: the target started"
  [ $rc -ne 124 ] || fail "$name: the target hung at start-up"
  grep -qE "$pattern" "$WORK/$name.log" || { cat "$WORK/$name.log" >&2; fail "$name: no clear error ($pattern)"; }
  echo "$name: refused in $((SECONDS - t0)) s: $(grep -E "$pattern" "$WORK/$name.log" | head -1)"
}

start_target t --export "vol=rbd:$CEPH_POOL/img0,$ceph_opts" \
  --export "ro=rbd:$CEPH_POOL/img1,$ceph_opts,ro"
grep -q "RBD image $CEPH_POOL/img0" "$t_LOG" || { cat "$t_LOG" >&2; fail "no RBD description in the log"; }
url=nbd://127.0.0.1:$t_PORT

echo "== nbdcopy in and out, compared with the image in Ceph"
random_file "$WORK/src.bin" 64
qemu-img info "$url/vol" | grep -q "virtual size: 64 MiB" || fail "qemu-img info size"
nbdcopy --connections=4 --requests=16 --flush "$WORK/src.bin" "$url/vol" || fail "nbdcopy into vol"
nbdcopy --connections=4 "$url/vol" "$WORK/back.bin" || fail "nbdcopy out of vol"
same_bytes "$WORK/src.bin" "$WORK/back.bin" "nbdcopy round trip"
rbd_cmd export "$CEPH_POOL/img0" "$WORK/ceph.bin" >/dev/null 2>&1 || fail "rbd export"
same_bytes "$WORK/src.bin" "$WORK/ceph.bin" "image in Ceph after nbdcopy"

echo "== qemu-io: unaligned and FUA writes, write-zeroes, discard, flush"
qemu-io -f raw "$url/vol" \
  -c "write -P 0xa5 512 3584" \
  -c "write -P 0x5a -f 1M 64k" \
  -c "write -z 2M 128k" \
  -c "discard 8M 4M" \
  -c "flush" >"$WORK/io.log" 2>&1 || { cat "$WORK/io.log" >&2; fail "qemu-io writes"; }
# The same changes on the local copy. The discard covers one whole 4 MiB
# object, which librbd removes, so it reads back as zeroes.
python3 - "$WORK/src.bin" <<'PY'
import sys
with open(sys.argv[1], "r+b") as f:
    for off, data in ((512, b"\xa5" * 3584), (1 << 20, b"\x5a" * 65536),
                      (2 << 20, bytes(131072)), (8 << 20, bytes(4 << 20))):
        f.seek(off)
        f.write(data)
PY
qemu-img compare -f raw -F raw "$WORK/src.bin" "$url/vol" || fail "qemu-img compare after qemu-io"
rbd_cmd export "$CEPH_POOL/img0" - 2>/dev/null | cmp - "$WORK/src.bin" || fail "image in Ceph after qemu-io"

echo "== rdmablk CLI put/get at an offset"
random_file "$WORK/part.bin" 3
"$CLI" put "$url/vol" "$WORK/part.bin" --offset 40M || fail "rdmablk put"
"$CLI" get "$url/vol" "$WORK/part-back.bin" --offset 40M --length 3M || fail "rdmablk get"
same_bytes "$WORK/part.bin" "$WORK/part-back.bin" "rdmablk CLI round trip"
rm -f "$WORK/ceph.bin"
rbd_cmd export "$CEPH_POOL/img0" "$WORK/ceph.bin" >/dev/null 2>&1 || fail "rbd export"
cmp -i $((40 << 20)):0 -n $((3 << 20)) "$WORK/ceph.bin" "$WORK/part.bin" || fail "image in Ceph after rdmablk put"
dd if="$WORK/part.bin" of="$WORK/src.bin" bs=1M seek=40 conv=notrunc status=none

echo "== a second gateway on the same image sees every write of the first, and back"
start_target g2 --export "vol=rbd:$CEPH_POOL/img0,$ceph_opts"
url2=nbd://127.0.0.1:$g2_PORT
qemu-img compare -f raw -F raw "$WORK/src.bin" "$url2/vol" || fail "gateway 2 does not see gateway 1's data"
for round in 1 2 3; do
  qemu-io -f raw "$url2/vol" -c "write -P 0x3$round $((round * 5))M 1M" >/dev/null || fail "write through gateway 2"
  qemu-io -f raw -r "$url/vol" -c "read -P 0x3$round $((round * 5))M 1M" | grep -q "Pattern verification failed" \
    && fail "gateway 1 reads stale data after a write through gateway 2 (round $round)"
  qemu-io -f raw "$url/vol" -c "write -P 0x4$round $((round * 5))M 512k" >/dev/null || fail "write through gateway 1"
  qemu-io -f raw -r "$url2/vol" -c "read -P 0x4$round $((round * 5))M 512k" | grep -q "Pattern verification failed" \
    && fail "gateway 2 reads stale data after a write through gateway 1 (round $round)"
done
stop_target "$g2_PID" || fail "gateway 2 did not shut down cleanly"

echo "== read-only export"
qemu-io -f raw "$url/ro" -c "write -P 0x11 0 4k" >"$WORK/ro.log" 2>&1 || true
grep -qi "permission\|read-only\|not permitted" "$WORK/ro.log" || fail "write to read-only export not refused"
qemu-io -f raw -r "$url/ro" -c "read -P 0 0 16M" | grep -q "Pattern verification failed" && fail "read-only image changed"
assert_alive "$t_PID" "$t_LOG"

echo "== start-up errors"
start_failing missing-image "x=rbd:$CEPH_POOL/nope,$ceph_opts" "image 'nope' does not exist"
start_failing missing-pool "x=rbd:nopool/img0,$ceph_opts" "pool 'nopool' does not exist"
ceph-authtool --create-keyring "$WORK/wrong.keyring" --gen-key -n client.admin >/dev/null
start_failing wrong-key "x=rbd:$CEPH_POOL/img0,conf=$CEPH_CONF,keyring=$WORK/wrong.keyring,timeout=$timeout_s" \
  "refused by the monitors"
start_failing no-conf "x=rbd:$CEPH_POOL/img0,conf=$WORK/none.conf" "cannot read Ceph configuration"

echo "== the OSD stops under I/O: I/O errors within the timeout, no hang"
"$CLI" bench "$url/vol" --rw randwrite --bs 64k --qd 8 --time 600 >"$WORK/bench.log" 2>&1 &
bench=$!
sleep 2
kill -0 "$bench" 2>/dev/null || { cat "$WORK/bench.log" >&2; fail "bench ended early"; }
t0=$SECONDS
"$CLUSTER" stop-osd "$cdir"
limit=$((timeout_s * 2 + 20))
for _ in $(seq 1 $((limit * 10))); do kill -0 "$bench" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$bench" 2>/dev/null; then
  kill "$bench"
  fail "I/O still hangs $limit s after the OSD stopped"
fi
brc=0
wait "$bench" || brc=$?
[ $brc -ne 0 ] || fail "bench passed with the OSD stopped"
echo "bench failed $((SECONDS - t0)) s after the OSD stopped: $(tail -n 1 "$WORK/bench.log")"
grep -q "Connection timed out" "$t_LOG" || { tail "$t_LOG" >&2; fail "no timed-out I/O in the target's log"; }
# A fresh request fails too, within the timeout.
t0=$SECONDS
timeout $limit qemu-io -f raw -r "$url/vol" -c "read 0 4k" >"$WORK/read.log" 2>&1 || true
grep -qi "error" "$WORK/read.log" || fail "read did not fail with the OSD stopped: $(cat "$WORK/read.log")"
[ $((SECONDS - t0)) -lt "$limit" ] || fail "read with the OSD stopped hung"
echo "read with the OSD stopped failed after $((SECONDS - t0)) s: $(grep -i error "$WORK/read.log" | head -1)"
assert_alive "$t_PID" "$t_LOG"
stop_target "$t_PID" || { cat "$t_LOG" >&2; fail "target did not shut down cleanly with the OSD gone"; }

echo "== the whole cluster down: start-up fails within the timeout"
"$CLUSTER" stop "$cdir"
start_failing cluster-down "x=rbd:$CEPH_POOL/img0,$ceph_opts" "no monitor answered within $timeout_s s"
echo "PASS in $((SECONDS - started)) s"
