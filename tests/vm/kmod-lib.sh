# Shared start of the kernel-driver VM cases: rdma-lib.sh, then insmod of
# build/kmod/rdmablk.ko (skip when it was not built), with a cleanup that
# unmaps every device and unloads the module whatever happens. A case may
# define kmod_case_cleanup (e.g. to unmount) to run first.
source "$(dirname "${BASH_SOURCE[0]}")/rdma-lib.sh"
KO=${RDMABLK_BUILD_DIR:-$RDMABLK_SRC/build}/kmod/rdmablk.ko
[ -f "$KO" ] || skip "no $KO: the module was not built (no kernel headers at build time)"

kmod_cleanup() {
  if declare -F kmod_case_cleanup >/dev/null; then kmod_case_cleanup || true; fi
  if [ -e /dev/rdmablk-control ]; then
    "$CLI" unmap --all || true
    rmmod rdmablk || true
  fi
  cleanup
}
# sysfs_state DEV; wait_state DEV STATE SECONDS [AFTER]: the device's
# connection state (live, reconnecting, dead...), polled until it is STATE;
# AFTER names what it waits on, for the message.
sysfs_state() { cat "/sys/block/${1#/dev/}/rdmablk/state"; }
wait_state() {
  local i
  for i in $(seq 1 $(($3 * 10))); do [ "$(sysfs_state "$1")" = "$2" ] && return 0; sleep 0.1; done
  fail "$1 is $(sysfs_state "$1"), not $2, $3 s after ${4:-the wait began}"
}

trap kmod_cleanup EXIT
insmod "$KO" || fail "insmod $KO"
[ -c /dev/rdmablk-control ] || fail "no /dev/rdmablk-control after insmod"
