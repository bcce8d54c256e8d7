#!/usr/bin/env bash
# The kernel driver end to end over Soft-RoCE: insmod build/kmod/rdmablk.ko,
# `rdmablk map` a RAM export and a file export (command mode, and direct mode
# on RAM), raw writes read back with dd and compared, then ext4: mkfs, a
# 32 MiB random file and many small ones, sync, unmount, fsck -n clean,
# remount and compare checksums; unmap, rmmod, dmesg clean. Also a refusal:
# mapping an unknown export is one clear line and leaves no device behind.
source "$(dirname "$0")/../kmod-lib.sh"
require mkfs.ext4 fsck.ext4 mount umount dd sha256sum

MNT=$WORK/mnt
mkdir -p "$MNT"
kmod_case_cleanup() { mountpoint -q "$MNT" && umount "$MNT"; }

truncate -s 192M "$WORK/disk.img"
start_rdma_target t --export ram0=ram:192M --export "file0=$WORK/disk.img"

echo "== refusal: unknown export"
expect_fail "map of an unknown export" 'unknown export' "$CLI" map "$t_URL/nosuch"
"$CLI" list | tee "$WORK/list"
grep -q '^no devices' "$WORK/list" || fail "a refused map left a device behind"
[ -z "$(ls /dev/rdmablk[0-9]* 2>/dev/null)" ] || fail "a refused map left a block device behind"

random_file "$WORK/raw.bin" 8
random_file "$WORK/big.bin" 32
mkdir -p "$WORK/small"
for i in $(seq 1 300); do head -c $((RANDOM * 3 + i)) /dev/urandom >"$WORK/small/f$i"; done
(cd "$WORK" && sha256sum big.bin small/* >"$WORK/sums")

exercise() {  # exercise EXPORT MODE
  local exp=$1 mode=$2 dev
  echo "== $exp, $mode mode"
  dev=$("$CLI" map "$t_URL/$exp" --mode "$mode" --queues 2 --qd 32) || fail "map $exp ($mode)"
  echo "mapped $dev"
  [ -b "$dev" ] || fail "$dev is not a block device"
  "$CLI" list
  [ "$(blockdev --getsize64 "$dev")" = $((192 << 20)) ] || fail "$dev has the wrong size"

  # raw: O_DIRECT writes at an odd offset, read back and compared
  dd if="$WORK/raw.bin" of="$dev" bs=1M seek=5 oflag=direct conv=fsync status=none || fail "raw write ($mode)"
  dd if="$dev" of="$WORK/raw-back.bin" bs=1M skip=5 count=8 iflag=direct status=none || fail "raw read ($mode)"
  same_bytes "$WORK/raw.bin" "$WORK/raw-back.bin" "raw device data ($exp $mode)"
  dd if="$dev" of="$WORK/raw-back.bin" bs=4k skip=1280 count=2048 status=none || fail "buffered raw read ($mode)"
  same_bytes "$WORK/raw.bin" "$WORK/raw-back.bin" "buffered raw device data ($exp $mode)"

  mkfs.ext4 -q -F "$dev" || fail "mkfs.ext4 on $dev"
  mount "$dev" "$MNT" || fail "mount $dev"
  cp "$WORK/big.bin" "$MNT/" && cp -r "$WORK/small" "$MNT/" || fail "copy into the filesystem"
  sync
  fstrim -v "$MNT" 2>/dev/null || true
  umount "$MNT"
  fsck.ext4 -n -f "$dev" >"$WORK/fsck" 2>&1 || { cat "$WORK/fsck"; fail "fsck.ext4 -n found errors ($exp $mode)"; }
  mount "$dev" "$MNT" || fail "remount $dev"
  (cd "$MNT" && sha256sum -c --quiet "$WORK/sums") || fail "checksums differ after remount ($exp $mode)"
  umount "$MNT"
  "$CLI" unmap "$dev" || fail "unmap $dev"
  [ ! -b "$dev" ] || fail "$dev still exists after unmap"
  echo "ok: $exp $mode: raw data, ext4, fsck, checksums"
}
exercise ram0 command
exercise file0 command
exercise ram0 direct

"$CLI" list | grep -q '^no devices' || fail "devices left after unmap"
assert_alive "$t_PID" "$t_LOG"
rmmod rdmablk || fail "rmmod rdmablk"
check_dmesg
echo PASS
