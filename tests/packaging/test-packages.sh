#!/usr/bin/env bash
# The Debian packages, built and used as an administrator would: builds them
# from this tree (build-packages: dpkg-buildpackage, lintian clean) into
# BUILD/packages (where the VM case pkg-install.sh finds them), checks what
# each holds, then in a clean Debian 12 root (debootstrap, root-lib.sh)
# installs them with apt-get from the files, runs the installed
# `rdmablk --help` and `rdmablk-target --help`, compiles a program against
# librdmablk-dev with `pkg-config --cflags --libs rdmablk`, starts the
# installed target with its service's ExecStart command line on loopback and
# has the program write and read back an export over nbd://, byte for byte;
# then purges the packages and checks that none of their files is left.
# Label full (slow: a whole package build). RDMABLK_PACKAGES_REUSE=1 reuses
# packages already in BUILD/packages (for iterating on the checks).
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
build=${RDMABLK_BUILD_DIR:-$src/build}
skip() { echo "SKIP: $*" >&2; exit 77; }
fail() { echo "FAIL: $*" >&2; exit 1; }
source "$src/tests/packaging/root-lib.sh"
root_require
out=$build/packages
version=$(sed -n 's/^project(rdmablk VERSION \([0-9.]*\).*/\1/p' "$src/CMakeLists.txt")

if [ "${RDMABLK_PACKAGES_REUSE:-0}" = 1 ] && compgen -G "$out/rdmablk_${version}_*.deb" >/dev/null; then
  echo "test-packages: reusing the packages in $out"
else
  # The unit tests run elsewhere; nocheck also builds only what is installed.
  DEB_BUILD_OPTIONS=${DEB_BUILD_OPTIONS-nocheck} "$src/tests/packaging/build-packages" "$out" || exit $?
fi

# What each package must hold (paths as dpkg-deb -c prints them).
expect() {
  local deb=$1 listing path
  shift
  listing=$(dpkg-deb -c "$deb" | awk '{ print $6 }' | sed 's|^\./|/|')
  for path in "$@"; do
    grep -qx -- "$path" <<<"$listing" || fail "${deb##*/} has no $path"
  done
}
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
expect "$out"/rdmablk_"$version"_*.deb /usr/bin/rdmablk /usr/sbin/rdmablk-target \
  /usr/share/man/man8/rdmablk.8.gz /usr/share/man/man8/rdmablk-target.8.gz \
  /lib/systemd/system/rdmablk.service /lib/systemd/system/rdmablk-target.service \
  /lib/udev/rules.d/60-rdmablk.rules /usr/share/doc/rdmablk/maps.conf.example \
  /usr/share/doc/rdmablk/target.toml.example
expect "$out"/librdmablk0_"$version"_*.deb "/usr/lib/$multiarch/librdmablk.so.0" \
  "/usr/lib/$multiarch/librdmablk.so.$version"
expect "$out"/librdmablk-dev_"$version"_*.deb /usr/include/rdmablk/client.hpp \
  "/usr/lib/$multiarch/librdmablk.so" "/usr/lib/$multiarch/pkgconfig/rdmablk.pc"
expect "$out"/rdmablk-dkms_"$version"_all.deb "/usr/src/rdmablk-$version/dkms.conf" \
  "/usr/src/rdmablk-$version/kmod/Kbuild" "/usr/src/rdmablk-$version/kmod/main.c" \
  "/usr/src/rdmablk-$version/common/include/rdmablk/proto.h"
rm -rf "$out/unpacked"
dpkg-deb -x "$out"/librdmablk0_"$version"_*.deb "$out/unpacked"
soname=$(readelf -d "$out/unpacked/usr/lib/$multiarch/librdmablk.so.$version" | sed -n 's/.*SONAME.*\[\(.*\)\]/\1/p')
rm -rf "$out/unpacked"
[ "$soname" = librdmablk.so.0 ] || fail "librdmablk's SONAME is '$soname', not librdmablk.so.0"
echo "test-packages: contents as expected (SONAME $soname)"

root=$build/packages-root
echo "test-packages: a clean $root_suite root"
make_root "$root"
mkdir -p "$root/root/debs"
cp "$out"/rdmablk_"$version"_*.deb "$out"/librdmablk0_"$version"_*.deb \
  "$out"/librdmablk-dev_"$version"_*.deb "$out"/rdmablk-dkms_"$version"_all.deb "$root/root/debs/"
cp "$src/tests/packaging/nbd-check.cpp" "$root/root/"
cat >"$root/root/check-packages" <<CHECK
set -euxo pipefail
version=$version
CHECK
cat >>"$root/root/check-packages" <<'CHECK'
cd /root
apt-get update -q
apt-get install -y -q --no-install-recommends ./debs/*.deb g++ pkg-config
rdmablk --help >/dev/null
rdmablk-target --help >/dev/null
flags=$(pkg-config --cflags --libs rdmablk)
g++ -std=c++20 -O1 -o nbd-check nbd-check.cpp $flags
dkms status | grep "^rdmablk/$version"
# The target as its unit runs it (ExecStart), on loopback, with an
# ephemeral NBD port it reports in a port file.
exec_start=$(sed -n 's/^ExecStart=//p' /lib/systemd/system/rdmablk-target.service)
[ -n "$exec_start" ]
mkdir -p /etc/rdmablk
cat >/etc/rdmablk/target.toml <<'TOML'
[target]
listen = "127.0.0.1"
nbd_port = 0
rdma_port = -1
[[export]]
name = "scratch"
ram = "4M"
TOML
$exec_start --port-file /tmp/ports >/tmp/target.log 2>&1 &
target=$!
for i in $(seq 1 100); do [ -s /tmp/ports ] && break; kill -0 $target; sleep 0.1; done
port=$(sed -n 's/^nbd=//p' /tmp/ports)
[ -n "$port" ] || { cat /tmp/target.log; exit 1; }
./nbd-check "nbd://127.0.0.1:$port/scratch"
kill $target
wait $target || true
apt-get purge -y -q rdmablk librdmablk0 librdmablk-dev rdmablk-dkms
left=$(dpkg-query -W -f='${Package} ${Status}\n' 'rdmablk*' 'librdmablk*' 2>/dev/null | grep -v not-installed || true)
[ -z "$left" ] || { echo "still installed: $left"; exit 1; }
for f in /usr/bin/rdmablk /usr/sbin/rdmablk-target /lib/systemd/system/rdmablk-target.service \
         /lib/udev/rules.d/60-rdmablk.rules /usr/include/rdmablk /usr/src/rdmablk-$version \
         /var/lib/dkms/rdmablk; do
  [ ! -e "$f" ] || { echo "left after purge: $f"; exit 1; }
done
echo "check-packages: all passed"
CHECK
echo "test-packages: install, use and purge in the root (log: $root/check.log)"
in_root "$root" /root/check-packages >"$root/check.log" 2>&1 ||
  { tail -n 60 "$root/check.log" >&2; fail "the installed packages failed (log $root/check.log)"; }
grep -h '^nbd-check:' "$root/check.log"
rm -rf "$root"
echo "ok: packages built, lintian clean, installed, used and purged in a clean $root_suite root"
