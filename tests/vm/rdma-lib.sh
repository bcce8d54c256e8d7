# Shared start of the RDMA VM cases: the integration helpers (lib.sh), a
# target on the rxe address, and the test tools. Source it from a case.
source "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh"
[ "${RDMABLK_VM:-0}" = 1 ] || skip "not inside the rig's VM; run: tests/vm/run bash $0"
TARGET_LISTEN=${RDMABLK_VM_IP:-192.0.2.1}
STRESS=$RDMABLK_BIN/rdmablk-stress
[ -x "$STRESS" ] || fail "no $STRESS (build first)"

# start_rdma_target NAME ARGS...: start_target, and the target must serve
# RDMA; sets ${NAME}_URL (rdma://ip:port) and ${NAME}_NBD (nbd://ip:port).
start_rdma_target() {
  local name=$1
  start_target "$@"
  local port=${name}_RDMA_PORT nbd=${name}_PORT log=${name}_LOG
  [ -n "${!port}" ] || { cat "${!log}" >&2; fail "target $name does not serve RDMA"; }
  printf -v "${name}_URL" 'rdma://%s:%s' "$TARGET_LISTEN" "${!port}"
  printf -v "${name}_NBD" 'nbd://%s:%s' "$TARGET_LISTEN" "${!nbd}"
}

# expect_fail WHAT PATTERN CMD...: CMD must exit non-zero within 60 s with
# one line on stderr matching PATTERN (grep -E, case-insensitive).
expect_fail() {
  local what=$1 pattern=$2 rc=0
  shift 2
  timeout 60 "$@" >"$WORK/out" 2>"$WORK/err" || rc=$?
  [ "$rc" -ne 0 ] || { cat "$WORK/out" "$WORK/err" >&2; fail "$what: succeeded"; }
  [ "$rc" -ne 124 ] || fail "$what: still running after 60 s"
  grep -qiE "$pattern" "$WORK/err" || { cat "$WORK/err" >&2; fail "$what: exit $rc, no /$pattern/ on stderr"; }
  echo "ok: $what: exit $rc: $(head -n 1 "$WORK/err")"
}

# Kernel trouble after the case: no WARNING, BUG or hung task.
check_dmesg() {
  if dmesg | grep -E 'WARNING:|BUG:|hung_task|blocked for more than|Oops' >&2; then
    fail "kernel trouble in dmesg"
  fi
}
