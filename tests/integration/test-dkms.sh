#!/usr/bin/env bash
# DKMS packaging: `cmake --install BUILD --component dkms` (kmod/dkms-install)
# lays out /usr/src/rdmablk-<version> under a DESTDIR, and `dkms build` turns
# it into rdmablk.ko for the VM's kernel (the headers tests/vm/prepare
# caches), in private DKMS trees: nothing on the host changes.
source "$(dirname "$0")/lib.sh"
require dkms modinfo
build=$(dirname "$RDMABLK_BIN")
prepare=$RDMABLK_SRC/tests/vm/prepare
RDMABLK_BUILD_DIR=$build "$prepare" --check >/dev/null 2>&1 ||
  skip "no cached VM kernel headers (scripts/install-vm-deps)"
eval "$(RDMABLK_BUILD_DIR=$build "$prepare" --env)"
version=$(sed -n 's/^project(rdmablk VERSION \([0-9.]*\).*/\1/p' "$RDMABLK_SRC/CMakeLists.txt")

DESTDIR=$WORK/root cmake --install "$build" --component dkms >"$WORK/install.log" 2>&1 ||
  { cat "$WORK/install.log" >&2; fail "cmake --install --component dkms"; }
src=$WORK/root/usr/src/rdmablk-$version
for f in dkms.conf kmod/Kbuild kmod/main.c common/include/rdmablk/ctl.h common/include/rdmablk/proto.h; do
  [ -f "$src/$f" ] || fail "no $f in the DKMS source tree"
done
grep -qx "PACKAGE_VERSION=\"$version\"" "$src/dkms.conf" || fail "dkms.conf does not say version $version"

dkms_build "$WORK/root/usr/src"
modinfo -F vermagic "$ko" | grep -q "^$RDMABLK_VM_KVER " || fail "$ko is not built for $RDMABLK_VM_KVER"
echo "ok: dkms build rdmablk/$version for $RDMABLK_VM_KVER: ${ko#"$WORK"/}"
