#!/usr/bin/env bash
# The Debian packages in the VM: unpacks the .debs that
# tests/packaging/test-packages.sh built (BUILD/packages) into a tree with
# dpkg -x (the guest's root is the host's, read-only), builds rdmablk.ko from
# rdmablk-dkms's source with dkms for the VM kernel, loads it, starts the
# installed rdmablk-target with its service's ExecStart command line (the
# paths moved into the tree) on rxe0, maps the export with the installed
# `rdmablk` CLI in command and direct mode, writes 16 MiB of random data
# through the device and reads it back byte for byte, unmaps, unloads.
source "$(dirname "$0")/../rdma-lib.sh"
require dkms dpkg-deb dd cmp
build=${RDMABLK_BUILD_DIR:-$RDMABLK_SRC/build}
debs=$build/packages
version=$(sed -n 's/^project(rdmablk VERSION \([0-9.]*\).*/\1/p' "$RDMABLK_SRC/CMakeLists.txt")
compgen -G "$debs/rdmablk_${version}_*.deb" >/dev/null && [ -f "$debs/rdmablk-dkms_${version}_all.deb" ] ||
  skip "no packages in $debs: run tests/packaging/test-packages.sh (scripts/test --full) first"

root=$WORK/root
for deb in "$debs"/rdmablk_"$version"_*.deb "$debs"/rdmablk-dkms_"$version"_all.deb; do
  dpkg-deb -x "$deb" "$root"
done
CLI=$root/usr/bin/rdmablk
TARGET=$root/usr/sbin/rdmablk-target
[ -x "$CLI" ] && [ -x "$TARGET" ] || fail "the packages hold no rdmablk or rdmablk-target"

pkg_cleanup() {
  if [ -e /dev/rdmablk-control ]; then
    "$CLI" unmap --all || true
    rmmod rdmablk || true
  fi
  cleanup
}
trap pkg_cleanup EXIT

echo "== dkms build rdmablk/$version for $RDMABLK_VM_KVER"
dkms_build "$root/usr/src"
insmod "$ko" || fail "insmod $ko"
[ -c /dev/rdmablk-control ] || fail "no /dev/rdmablk-control after insmod of the dkms-built module"
echo "ok: ${ko#"$WORK"/} loaded"

echo "== the installed target, as its unit runs it"
unit=$root/lib/systemd/system/rdmablk-target.service
exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
[ -n "$exec_start" ] || fail "no ExecStart in $unit"
case $exec_start in
  "/usr/sbin/rdmablk-target --config /etc/rdmablk/target.toml"*) ;;
  *) fail "ExecStart is '$exec_start': this case knows how to move only '/usr/sbin/rdmablk-target --config /etc/rdmablk/target.toml'" ;;
esac
cat >"$WORK/target.toml" <<TOML
[target]
listen = "$TARGET_LISTEN"
nbd_port = 0
rdma_port = 0
[[export]]
name = "vol0"
ram = "64M"
TOML
cmdline=${exec_start//\/usr\/sbin\/rdmablk-target/$TARGET}
cmdline=${cmdline//\/etc\/rdmablk\/target.toml/$WORK/target.toml}
echo "ExecStart, moved: $cmdline"
# shellcheck disable=SC2086 # the unit's command line, split as systemd splits it (no quotes in it)
$cmdline --port-file "$WORK/ports" >"$WORK/target.log" 2>&1 &
TARGET_PIDS+=($!)
for _ in $(seq 1 300); do [ -s "$WORK/ports" ] && break; sleep 0.1; done
port=$(sed -n 's/^rdma=//p' "$WORK/ports" 2>/dev/null)
[ -n "$port" ] || { cat "$WORK/target.log" >&2; fail "the installed target does not serve RDMA"; }
url=rdma://$TARGET_LISTEN:$port/vol0

head -c 16M /dev/urandom >"$WORK/data"
for mode in command direct; do
  echo "== map $url ($mode) with the installed CLI"
  dev=$("$CLI" map "$url" --mode "$mode" --queues 2 --qd 32) || fail "map vol0 ($mode)"
  [ -b "$dev" ] || fail "map printed '$dev', not a block device"
  dd if="$WORK/data" of="$dev" bs=1M oflag=direct status=none || fail "write $dev ($mode)"
  dd if="$dev" of="$WORK/back" bs=1M count=16 iflag=direct status=none || fail "read $dev ($mode)"
  cmp "$WORK/data" "$WORK/back" || fail "$dev ($mode): the data read back differs"
  "$CLI" unmap "$dev" || fail "unmap $dev"
  [ ! -e "$dev" ] || fail "$dev still there after unmap"
  echo "ok: $mode: 16 MiB written and read back identical through $dev"
  head -c 16M /dev/urandom >"$WORK/data"
done
rmmod rdmablk || fail "rmmod rdmablk"
check_dmesg
echo "ok: the packages' CLI, dkms-built module and target work in the VM"
