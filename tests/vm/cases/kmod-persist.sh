#!/usr/bin/env bash
# Persistence and stable names: `rdmablk map --all` maps the devices of a
# maps.conf with their settings (a second run maps nothing; a bad entry is
# one line and the others still map; a malformed file names FILE:LINE),
# `unmap --all` removes them; systemd-udevd with dist/udev/60-rdmablk.rules
# (pointing at this build's CLI) gives /dev/disk/by-id/rdmablk-<export>,
# by-path, partition and filesystem links, for devices mapped before and
# after udevd started; `udevadm test` shows the same.
source "$(dirname "$0")/../kmod-lib.sh"
UDEVD=/lib/systemd/systemd-udevd
[ -x "$UDEVD" ] || fail "no $UDEVD (scripts/install-vm-deps installs udev)"
require udevadm sfdisk mkfs.ext4

printf 'persist secret\n' >"$WORK/ram1.secret"
chmod 600 "$WORK/ram1.secret"
start_rdma_target t --export ram0=ram:16M --export "ram1=ram:8M,secret=$WORK/ram1.secret" --export ram2=ram:8M
CONF=$WORK/maps.conf
cat >"$CONF" <<EOF
# written by kmod-persist.sh
[first]
url = "$t_URL/ram0"
mode = "direct"
queues = 2
qd = 32
host_id = "persist-test"

[broken]
url = "$t_URL/nosuch"

[second]
url = "$t_URL/ram1"
secret_file = "$WORK/ram1.secret"
read_only = true
reconnect_delay = 5
ctrl_loss_tmo = 30
io_timeout = 7
EOF

udevd_pid=
kmod_case_cleanup() {
  if [ -n "$udevd_pid" ]; then
    udevadm control --exit 2>/dev/null || kill "$udevd_pid" 2>/dev/null || true
  fi
}

# dev_of EXPORT: the /dev/rdmablkN mapping EXPORT, from udev-id of each device.
dev_of() {
  local d
  for d in /sys/block/rdmablk*; do
    [ -e "$d" ] || continue
    if "$CLI" udev-id "${d##*/}" | grep -qx "RDMABLK_EXPORT=$1"; then
      echo "/dev/${d##*/}"
      return 0
    fi
  done
  return 1
}

# link_is LINK DEV: the udev symlink LINK resolves to DEV.
link_is() {
  [ "$(readlink -f "$1")" = "$2" ] || { ls -l "$(dirname "$1")" >&2 || true; fail "$1 is not a link to $2"; }
  echo "ok: $1 -> $2"
}

echo "== map --all: two devices, one bad entry"
rc=0
"$CLI" map --all --config "$CONF" >"$WORK/out" 2>"$WORK/err" || rc=$?
cat "$WORK/out" "$WORK/err"
[ "$rc" = 1 ] || fail "map --all with a bad entry: exit $rc, expected 1"
[ "$(wc -l <"$WORK/err")" = 1 ] || fail "the bad entry should give exactly one line on stderr"
grep -q "^rdmablk: broken ($CONF:9): .*unknown export" "$WORK/err" || fail "no clear line for the bad entry"
grep -q '^first: .* mapped as /dev/rdmablk' "$WORK/out" || fail "first not mapped"
grep -q '^second: .* mapped as /dev/rdmablk' "$WORK/out" || fail "second not mapped"
d0=$(dev_of ram0) || fail "no device for ram0"
d1=$(dev_of ram1) || fail "no device for ram1"
n0=${d0#/dev/} n1=${d1#/dev/}

echo "== the settings of the file reached the driver"
[ "$(ls /sys/block/$n0/mq | wc -l)" = 2 ] || fail "$n0: queues = 2 not applied"
[ "$(cat /sys/block/$n0/ro)" = 0 ] || fail "$n0 read-only"
[ "$(cat /sys/block/$n1/ro)" = 1 ] || fail "$n1: read_only = true not applied"
[ "$(cat /sys/block/$n1/rdmablk/reconnect_delay)" = 5 ] || fail "$n1: reconnect_delay = 5 not applied"
[ "$(cat /sys/block/$n1/rdmablk/ctrl_loss_tmo)" = 30 ] || fail "$n1: ctrl_loss_tmo = 30 not applied"
[ "$(cat /sys/block/$n1/queue/io_timeout)" = 7000 ] || fail "$n1: io_timeout = 7 not applied"
[ "$(cat /sys/block/$n0/queue/io_timeout)" = 30000 ] || fail "$n0: the default I/O timeout is not 30 s"
"$CLI" udev-id "$n0" | tee "$WORK/id0"
grep -qx 'RDMABLK_HOST_ID=persist-test' "$WORK/id0" || fail "$n0: host_id not applied"
grep -qx "RDMABLK_TARGET=$TARGET_LISTEN:$t_RDMA_PORT" "$WORK/id0" || fail "$n0: target"
grep -qx 'RDMABLK_MODE=direct' "$WORK/id0" || fail "$n0: mode = direct not applied"
grep -qx 'RDMABLK_STATE=live' "$WORK/id0" || fail "$n0: state"
"$CLI" udev-id "$n1" | grep -qx 'RDMABLK_MODE=command' || fail "$n1: mode"
dd if=/dev/urandom of="$WORK/data" bs=1M count=4 status=none
dd if="$WORK/data" of="$d0" bs=1M oflag=direct status=none || fail "write $d0"
cmp -n $((4 << 20)) "$WORK/data" "$d0" || fail "$d0 reads back wrong"

echo "== map --all again: nothing new"
rc=0
"$CLI" map --all --config "$CONF" >"$WORK/out" 2>"$WORK/err" || rc=$?
cat "$WORK/out" "$WORK/err"
[ "$rc" = 1 ] || fail "second map --all: exit $rc, expected 1 (the bad entry again)"
grep -qx "first: $t_URL/ram0 already mapped as $d0, skipped" "$WORK/out" || fail "first not skipped"
grep -qx "second: $t_URL/ram1 already mapped as $d1, skipped" "$WORK/out" || fail "second not skipped"
[ "$(ls -d /sys/block/rdmablk* | wc -l)" = 2 ] || fail "the second map --all added devices"
sed -i '/^\[broken\]/,/^$/d' "$CONF"
"$CLI" map --all --config "$CONF" >"$WORK/out" || fail "map --all without the bad entry: exit $?"
[ "$(grep -c 'skipped$' "$WORK/out")" = 2 ] || fail "both entries should be skipped"
echo "ok: map --all is idempotent"

echo "== malformed files: one line naming FILE:LINE, nothing mapped"
printf '[a]\nurl = "%s/ram2"\nqd = 5000\n' "$t_URL" >"$WORK/bad.conf"
expect_fail "qd out of range" "^rdmablk: $WORK/bad.conf:3: \[a\] qd must be" "$CLI" map --all --config "$WORK/bad.conf"
printf '[a]\nurl = "%s/ram2\n' "$t_URL" >"$WORK/bad.conf"
expect_fail "TOML syntax" "^rdmablk: $WORK/bad.conf:2:" "$CLI" map --all --config "$WORK/bad.conf"
expect_fail "missing file" "nosuch.conf: cannot read" "$CLI" map --all --config "$WORK/nosuch.conf"
expect_fail "--io-timeout out of range" "io-timeout must be 1..3600" "$CLI" map "$t_URL/ram2" --io-timeout 3601
[ "$(ls -d /sys/block/rdmablk* | wc -l)" = 2 ] || fail "a malformed file mapped something"

echo "== udevadm test: the rule's links"
mkdir -p /run/udev/rules.d
sed "s|@RDMABLK_CLI@|$CLI|g" "$RDMABLK_SRC/dist/udev/60-rdmablk.rules.in" >/run/udev/rules.d/60-rdmablk.rules
udevadm test --action=add "/sys/block/$n0" >"$WORK/udevtest" 2>&1 || { tail -n 30 "$WORK/udevtest" >&2; fail "udevadm test"; }
for want in "RDMABLK_EXPORT=ram0" "disk/by-id/rdmablk-ram0" \
            "disk/by-path/ip-$TARGET_LISTEN:$t_RDMA_PORT-rdmablk-ram0"; do
  grep -q "$want" "$WORK/udevtest" || { tail -n 40 "$WORK/udevtest" >&2; fail "udevadm test: no $want"; }
done
echo "ok: udevadm test names disk/by-id/rdmablk-ram0"

echo "== systemd-udevd: links for devices mapped before and after it started"
"$UDEVD" --daemon --resolve-names=never || fail "systemd-udevd did not start"
udevd_pid=$(pidof systemd-udevd || true)
[ -n "$udevd_pid" ] || fail "systemd-udevd is not running"
udevadm trigger --action=add --subsystem-match=block --sysname-match='rdmablk*'
udevadm settle --timeout=60 || fail "udevadm settle"
link_is /dev/disk/by-id/rdmablk-ram0 "$d0"
link_is /dev/disk/by-id/rdmablk-ram1 "$d1"
link_is "/dev/disk/by-path/ip-$TARGET_LISTEN:$t_RDMA_PORT-rdmablk-ram0" "$d0"
d2=$("$CLI" map "$t_URL/ram2") || fail "map ram2"
udevadm settle --timeout=60 || fail "udevadm settle"
link_is /dev/disk/by-id/rdmablk-ram2 "$d2"

echo "== a partition and a filesystem on it"
echo ',,L' | sfdisk -q "$d2" || fail "sfdisk $d2"
udevadm settle --timeout=60
[ -b "${d2}p1" ] || fail "no ${d2}p1"
mkfs.ext4 -q -L rdmablk-persist "${d2}p1" || fail "mkfs.ext4 ${d2}p1"
udevadm trigger --action=change "/sys/class/block/${d2#/dev/}p1"
udevadm settle --timeout=60
link_is /dev/disk/by-id/rdmablk-ram2-part1 "${d2}p1"
link_is /dev/disk/by-label/rdmablk-persist "${d2}p1"
uuid=$(blkid -s UUID -o value "${d2}p1")
link_is "/dev/disk/by-uuid/$uuid" "${d2}p1"

echo "== unmap --all: devices and links gone"
"$CLI" unmap --all || fail "unmap --all"
udevadm settle --timeout=60
"$CLI" list | grep -q '^no devices' || fail "devices left after unmap --all"
ls /sys/block | grep -q rdmablk && fail "a disk is left in /sys/block"
for l in /dev/disk/by-id/rdmablk-ram0 /dev/disk/by-id/rdmablk-ram2-part1 /dev/disk/by-label/rdmablk-persist; do
  [ ! -e "$l" ] && [ ! -L "$l" ] || fail "$l left after unmap"
done
echo "ok: links removed"
rmmod rdmablk || fail "rmmod"
check_dmesg
echo PASS
