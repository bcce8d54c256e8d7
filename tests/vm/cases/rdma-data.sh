#!/usr/bin/env bash
# Data integrity over Soft-RoCE in command and direct mode: rdmablk-stress
# writes random data of mixed sizes (512 B .. 1 MiB) at queue depths 1..64 on
# 1..4 queues, reads it back and compares every byte (SHA-256 printed); more
# than 256 MiB moves per mode. Then CLI round trips (put/get) over RDMA, and
# bytes written over RDMA read back over NBD/TCP from the same export; a
# read-only file mapped into memory (mmap) read in direct mode.
source "$(dirname "$0")/../rdma-lib.sh"

truncate -s 96M "$WORK/disk.img"
random_file "$WORK/golden.img" 16
start_rdma_target t --export ram0=ram:128M --export "file0=$WORK/disk.img" --export "gold=$WORK/golden.img,ro,mmap"

"$CLI" discover "$t_URL" >"$WORK/discover" || { cat "$WORK/discover"; fail "discover"; }
cat "$WORK/discover"
grep -q ram0 "$WORK/discover" && grep -q file0 "$WORK/discover" || fail "discover does not list both exports"
"$CLI" info "$t_URL/ram0?mode=direct" | tee "$WORK/info"
grep -qi direct "$WORK/info" || fail "ram0 does not offer direct mode"

for mode in command direct; do
  # 16+16 + 64+64 + 96+96 = 352 MiB written, 176 MiB read per mode.
  stress "$t_URL/ram0" "$mode" 1 1 16M 16M
  stress "$t_URL/ram0" "$mode" 16 2 64M 64M
  stress "$t_URL/ram0" "$mode" 64 4 96M 96M
done
# A file export (bounce buffers, io_uring) in command mode.
stress "$t_URL/file0" command 32 2 64M 64M

echo "== CLI round trips over RDMA"
random_file "$WORK/in.bin" 24
for mode in command direct; do
  "$CLI" put "$t_URL/ram0" "$WORK/in.bin" --mode "$mode" --qd 8 || fail "put ($mode)"
  "$CLI" get "$t_URL/ram0" "$WORK/back-$mode.bin" --mode "$mode" --length 24M || fail "get ($mode)"
  same_bytes "$WORK/in.bin" "$WORK/back-$mode.bin" "rdma $mode round trip"
done
"$CLI" put "$t_URL/file0" "$WORK/in.bin" || fail "put file0"
cmp -n $((24 << 20)) "$WORK/in.bin" "$WORK/disk.img" || fail "file0's backing file differs after put"

echo "== a read-only file mapped into memory, read in direct mode"
"$CLI" info "$t_URL/gold?mode=direct" | grep -q direct || fail "the mapped read-only file does not offer direct mode"
"$CLI" get "$t_URL/gold" "$WORK/gold-back.bin" --mode direct || fail "get gold (direct)"
same_bytes "$WORK/golden.img" "$WORK/gold-back.bin" "mapped file, direct mode"
"$CLI" get "$t_URL/gold" "$WORK/gold-back2.bin" --mode command || fail "get gold (command)"
same_bytes "$WORK/golden.img" "$WORK/gold-back2.bin" "mapped file, command mode"

echo "== written over RDMA, read over NBD/TCP"
"$CLI" get "$t_NBD/ram0" "$WORK/back-nbd.bin" --length 24M || fail "get over nbd"
same_bytes "$WORK/in.bin" "$WORK/back-nbd.bin" "rdma -> nbd"

assert_alive "$t_PID" "$t_LOG"
stop_target "$t_PID" || { cat "$t_LOG" >&2; fail "target did not shut down cleanly"; }
check_dmesg
echo PASS
