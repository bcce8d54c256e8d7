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

# kill_target: SIGKILL of target t ($t_PID). restart_target ARGS...: a
# new target on t's RDMA port (the case's TARGET_ARGS when no ARGS),
# logging to $t_LOG; waits until it serves RDMA.
kill_target() { kill -9 "$t_PID" 2>/dev/null || true; wait "$t_PID" 2>/dev/null || true; }
restart_target() {
  [ $# -gt 0 ] || set -- "${TARGET_ARGS[@]}"
  rm -f "$WORK/t.ports"
  "$TARGET" --listen "$TARGET_LISTEN" --nbd-port 0 --rdma-port "$t_RDMA_PORT" --port-file "$WORK/t.ports" \
    "$@" >>"$t_LOG" 2>&1 &
  t_PID=$!
  TARGET_PIDS+=("$t_PID")
  for _ in $(seq 1 300); do grep -q '^rdma=' "$WORK/t.ports" 2>/dev/null && return 0; sleep 0.1; done
  tail -n 20 "$t_LOG" >&2
  fail "the restarted target does not serve RDMA within 30 s"
}

trap kmod_cleanup EXIT
insmod "$KO" || fail "insmod $KO"
[ -c /dev/rdmablk-control ] || fail "no /dev/rdmablk-control after insmod"
