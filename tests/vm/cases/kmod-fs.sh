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

echo "== repeated refusals leak no RDMA resources"
# `rdma resource` counts PDs, CQs, QPs, cm ids and MRs of the kernel and of
# the (idle) target; after 20 refused maps of each kind they are as before.
rdma resource show >"$WORK/res.before"
for i in $(seq 1 20); do
  "$CLI" map "$t_URL/nosuch" 2>/dev/null && fail "map of an unknown export succeeded"
  "$CLI" map "rdma://$TARGET_LISTEN:1/ram0" 2>/dev/null && fail "map of a port nobody listens on succeeded"
done
for _ in $(seq 1 300); do  # the target tears refused queues down in the background
  rdma resource show >"$WORK/res.after"
  cmp -s "$WORK/res.before" "$WORK/res.after" && break
  sleep 0.1
done
cmp -s "$WORK/res.before" "$WORK/res.after" ||
  { diff "$WORK/res.before" "$WORK/res.after" >&2; fail "RDMA resources leaked by refused maps"; }
"$CLI" list | grep -q '^no devices' || fail "refused maps left a device behind"
echo "ok: 40 refused maps, RDMA resources as before: $(head -n 1 "$WORK/res.after")"

random_file "$WORK/raw.bin" 8
random_file "$WORK/big.bin" 32
mkdir -p "$WORK/small"
for i in $(seq 1 300); do head -c $((RANDOM * 3 + i)) /dev/urandom >"$WORK/small/f$i"; done
(cd "$WORK" && sha256sum big.bin small/* >"$WORK/sums")

# Small O_DIRECT writes (512 B, 4 KiB, 12 KiB: inline in command mode, the
# target's default max_inline being 4 KiB, 12 KiB not) read back and compared;
# the inline_writes counter proves which path they took.
check_small_writes() {  # check_small_writes DEV EXPORT MODE
  local dev=$1 exp=$2 mode=$3 sys=/sys/block/${1#/dev/}/rdmablk before after bs count seek
  before=$(cat "$sys/inline_writes")
  for w in 512:1:20001 4096:4:3000 12288:2:1500; do  # block size:count:seek (in blocks)
    IFS=: read -r bs count seek <<<"$w"
    head -c $((bs * count)) /dev/urandom >"$WORK/small.bin"
    dd if="$WORK/small.bin" of="$dev" bs="$bs" seek="$seek" oflag=direct status=none || fail "$bs B writes"
    dd if="$dev" of="$WORK/small-back.bin" bs="$bs" skip="$seek" count="$count" iflag=direct status=none ||
      fail "$bs B reads"
    same_bytes "$WORK/small.bin" "$WORK/small-back.bin" "$bs B writes ($exp $mode)"
  done
  after=$(cat "$sys/inline_writes")
  if [ "$mode" = command ]; then
    [ $((after - before)) -ge 5 ] || fail "inline_writes went $before -> $after: small writes did not go inline"
    [ "$(cat "$sys/max_inline")" -ge 4096 ] || fail "max_inline $(cat "$sys/max_inline") < 4096"
  else
    [ "$after" = 0 ] || fail "direct mode counted $after inline writes"
  fi
  echo "ok: small writes ($mode): inline_writes $before -> $after"
}

# /sys/block/rdmablkN/rdmablk/ and `rdmablk status` tell the same story.
check_status() {  # check_status DEV EXPORT MODE
  local dev=$1 exp=$2 mode=$3 sys=/sys/block/${1#/dev/}/rdmablk
  [ "$(cat "$sys/state")" = live ] || fail "sysfs state: $(cat "$sys/state")"
  [ "$(cat "$sys/export")" = "$exp" ] || fail "sysfs export: $(cat "$sys/export")"
  [ "$(cat "$sys/mode")" = "$mode" ] || fail "sysfs mode: $(cat "$sys/mode")"
  [ "$(cat "$sys/target")" = "$TARGET_LISTEN:$t_RDMA_PORT" ] || fail "sysfs target: $(cat "$sys/target")"
  [ "$(cat "$sys/nr_queues")" = 2 ] || fail "sysfs nr_queues: $(cat "$sys/nr_queues")"
  [ "$(cat "$sys/queue_depth")" = 32 ] || fail "sysfs queue_depth: $(cat "$sys/queue_depth")"
  [ "$(cat "$sys/io_errors")" = 0 ] || fail "sysfs io_errors: $(cat "$sys/io_errors")"
  "$CLI" status "$dev"
  "$CLI" status "$dev" --json >"$WORK/status.json" || fail "rdmablk status --json"
  python3 - "$WORK/status.json" "$exp" "$mode" "$(cat "$sys/session_id")" <<'PY' || fail "rdmablk status disagrees with sysfs"
import json, sys
s = json.load(open(sys.argv[1]))
want = {"export": sys.argv[2], "mode": sys.argv[3], "state": "live", "session_id": int(sys.argv[4])}
bad = {k: s.get(k) for k, v in want.items() if s.get(k) != v}
c = s["counters"]
if c["write_ios"] < 1 or c["read_ios"] < 1 or c["write_bytes"] < (8 << 20) or c["io_errors"] != 0:
    bad["counters"] = c
if bad:
    sys.exit(f"mismatch: {bad}")
PY
  expect_fail "status of a device that does not exist" 'no such device' "$CLI" status /dev/rdmablk999
}

exercise() {  # exercise EXPORT MODE
  local exp=$1 mode=$2 dev
  echo "== $exp, $mode mode"
  dev=$("$CLI" map "$t_URL/$exp" --mode "$mode" --queues 2 --qd 32) || fail "map $exp ($mode)"
  echo "mapped $dev"
  [ -b "$dev" ] || fail "$dev is not a block device"
  "$CLI" list
  [ "$(blockdev --getsize64 "$dev")" = $((192 << 20)) ] || fail "$dev has the wrong size"
  expect_fail "a second map of $exp" "already mapped as $dev" "$CLI" map "$t_URL/$exp" --mode "$mode"

  # raw: O_DIRECT writes at an odd offset, read back and compared
  dd if="$WORK/raw.bin" of="$dev" bs=1M seek=5 oflag=direct conv=fsync status=none || fail "raw write ($mode)"
  dd if="$dev" of="$WORK/raw-back.bin" bs=1M skip=5 count=8 iflag=direct status=none || fail "raw read ($mode)"
  same_bytes "$WORK/raw.bin" "$WORK/raw-back.bin" "raw device data ($exp $mode)"
  dd if="$dev" of="$WORK/raw-back.bin" bs=4k skip=1280 count=2048 status=none || fail "buffered raw read ($mode)"
  same_bytes "$WORK/raw.bin" "$WORK/raw-back.bin" "buffered raw device data ($exp $mode)"
  check_small_writes "$dev" "$exp" "$mode"
  check_status "$dev" "$exp" "$mode"

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
