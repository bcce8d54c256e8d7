# Helpers for the packaging tests that need a clean Debian 12 root
# (tests/packaging/test-packages.sh; clean-root has the same steps inline):
# make_root ROOT makes one from the debootstrap tarball cached under
# BUILD/clean-root (made on first use) with this machine's apt mirror, read
# at run time from its apt sources; in_root ROOT SCRIPT runs a script there
# as root with a clean environment, in a mount namespace of its own (proc,
# sys, dev, a tmpfs /tmp, apt's download cache shared between runs).
# The caller sets src, build, and defines fail and skip.
root_cache=$build/clean-root
root_suite=bookworm

root_apt_uris() {
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; break } }' "$f"
  done
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk 'tolower($1) == "uris:" { for (i = 2; i <= NF; i++) print $i }' "$f"
  done
}

root_require() {
  [ "$(id -u)" -eq 0 ] || skip "needs root (debootstrap, chroot)"
  local cmd
  for cmd in debootstrap unshare chroot; do
    command -v "$cmd" >/dev/null 2>&1 || skip "$cmd is not installed (scripts/install-deps installs it)"
  done
  root_mirror=$(root_apt_uris | grep -v security | head -n 1)
  root_security=$(root_apt_uris | grep security | head -n 1 || true)
  [ -n "$root_mirror" ] || skip "no Debian mirror in this machine's apt sources"
}

make_root() {
  local root=$1 tarball=$root_cache/$root_suite-minbase.tgz log=$root_cache/make-root.log
  mkdir -p "$root_cache/apt-archives/partial"
  if [ ! -s "$tarball" ]; then
    rm -rf "$root_cache/tarball-work"
    debootstrap --variant=minbase --make-tarball="$tarball.part" "$root_suite" \
      "$root_cache/tarball-work" "$root_mirror" >"$log" 2>&1 ||
      { tail -n 30 "$log" >&2; fail "debootstrap --make-tarball"; }
    mv "$tarball.part" "$tarball"
    rm -rf "$root_cache/tarball-work"
  fi
  rm -rf "$root"
  mkdir -p "$root"
  debootstrap --variant=minbase --unpack-tarball="$tarball" "$root_suite" "$root" "$root_mirror" >"$log" 2>&1 ||
    { tail -n 30 "$log" >&2; fail "debootstrap"; }
  {
    echo "deb $root_mirror $root_suite main"
    echo "deb $root_mirror $root_suite-updates main"
    [ -z "$root_security" ] || echo "deb $root_security $root_suite-security main"
  } >"$root/etc/apt/sources.list"
  cp /etc/resolv.conf "$root/etc/resolv.conf"
}

in_root() {
  local root=$1 script=$2
  unshare --mount --propagation private bash -c '
    set -e
    root=$1 archives=$2 script=$3
    mount -t proc proc "$root/proc"
    mount -t sysfs sysfs "$root/sys"
    mount --rbind /dev "$root/dev"
    mount -t tmpfs tmpfs "$root/tmp"
    mount --bind "$archives" "$root/var/cache/apt/archives"
    exec chroot "$root" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM=dumb \
      DEBIAN_FRONTEND=noninteractive \
      PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
      bash "$script"
  ' in-root "$root" "$root_cache/apt-archives" "$script" </dev/null
}
