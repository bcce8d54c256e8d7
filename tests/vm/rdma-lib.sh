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

# stress URL MODE QD QUEUES SPAN BYTES: rdmablk-stress on URL (an export,
# maybe with ?options); fails the case unless every byte compares equal.
stress() {
  local url=$1 mode=$2 qd=$3 queues=$4 span=$5 bytes=$6
  echo "== ${url##*/} $mode qd $qd queues $queues span $span bytes $bytes"
  timeout 300 "$STRESS" "$url" --mode "$mode" --qd "$qd" --queues "$queues" --span "$span" --bytes "$bytes" \
    --seed "$qd$queues" >"$WORK/out" 2>&1 || { cat "$WORK/out" >&2; fail "${url##*/} $mode qd $qd queues $queues"; }
  grep -E 'wrote|OK' "$WORK/out"
}

# expect_timeout_when_frozen URL: a bench on URL (with ?timeout=3000) must
# fail with a timeout within 20 s of SIGSTOP to the target $t_PID: a stopped
# process's QPs live on in the kernel (rxe even answers direct mode's RDMA
# READ/WRITE without it), but nobody answers a command, as with a hung or
# unreachable target.
expect_timeout_when_frozen() {
  local url=$1 start rc=0 took bpid
  start=$(date +%s)
  timeout 120 "$CLI" bench "$url" --rw randread --bs 4k --qd 8 --time 60 >"$WORK/bench.out" 2>&1 &
  bpid=$!
  sleep 3
  kill -STOP "$t_PID"
  wait "$bpid" || rc=$?
  took=$(( $(date +%s) - start - 3 ))
  kill -CONT "$t_PID"
  tail -n 3 "$WORK/bench.out"
  [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || fail "frozen target: bench exit $rc"
  [ "$took" -le 20 ] || fail "frozen target: errors took ${took}s (timeout 3 s)"
  grep -qi 'timed out\|timeout' "$WORK/bench.out" || fail "frozen target: no timeout reported"
  echo "ok: frozen target: bench failed (exit $rc) ${took}s after SIGSTOP"
}

# Kernel trouble after the case: no WARNING, BUG or hung task.
check_dmesg() {
  if dmesg | grep -E 'WARNING:|BUG:|hung_task|blocked for more than|Oops' >&2; then
    fail "kernel trouble in dmesg"
  fi
}
