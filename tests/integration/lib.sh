# Shared helpers for the integration tests: each test sources this file,
# starts the real rdmablk-target on loopback and drives it with real clients.
# Exit 77 means "cannot run here" and is reported by ctest as skipped.
set -euo pipefail

RDMABLK_SRC=${RDMABLK_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
RDMABLK_BIN=${RDMABLK_BIN:-$RDMABLK_SRC/build/bin}
TARGET=$RDMABLK_BIN/rdmablk-target
CLI=$RDMABLK_BIN/rdmablk

skip() {
  echo "SKIP: $*" >&2
  exit 77
}

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

require() {
  local cmd
  for cmd in "$@"; do
    command -v "$cmd" >/dev/null 2>&1 || skip "$cmd is not installed (scripts/install-deps installs it)"
  done
}

[ -x "$TARGET" ] || fail "no target binary at $TARGET (build first)"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/rdmablk-test.XXXXXX")
TARGET_PIDS=()

cleanup() {
  local pid
  for pid in "${TARGET_PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${TARGET_PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

# start_target NAME ARGS...: starts rdmablk-target on $TARGET_LISTEN
# (127.0.0.1 unless set; the VM tests use the rxe address) with ephemeral
# ports, waits until it listens, and sets ${NAME}_PID, ${NAME}_PORT (NBD),
# ${NAME}_RDMA_PORT (empty without RDMA) and ${NAME}_LOG.
TARGET_LISTEN=${TARGET_LISTEN:-127.0.0.1}
start_target() {
  local name=$1
  shift
  local portfile=$WORK/$name.ports log=$WORK/$name.log
  rm -f "$portfile"
  "$TARGET" --listen "$TARGET_LISTEN" --nbd-port 0 --rdma-port 0 --port-file "$portfile" "$@" >"$log" 2>&1 &
  local pid=$!
  TARGET_PIDS+=("$pid")
  local i
  for i in $(seq 1 300); do  # 30 s: RAM exports of hundreds of MB take a while under TCG
    [ -s "$portfile" ] && break
    kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; fail "target $name exited during start-up"; }
    sleep 0.1
  done
  [ -s "$portfile" ] || { cat "$log" >&2; fail "target $name did not listen within 30 s"; }
  local port
  port=$(sed -n 's/^nbd=//p' "$portfile")
  printf -v "${name}_PID" '%s' "$pid"
  printf -v "${name}_PORT" '%s' "$port"
  printf -v "${name}_RDMA_PORT" '%s' "$(sed -n 's/^rdma=//p' "$portfile")"
  printf -v "${name}_LOG" '%s' "$log"
}

# stop_target PID: SIGTERM and wait; returns the target's exit status.
stop_target() {
  local pid=$1 rc=0
  kill -TERM "$pid"
  wait "$pid" || rc=$?
  return $rc
}

# assert_alive PID LOG: the target process must still be running.
assert_alive() {
  kill -0 "$1" 2>/dev/null || { cat "$2" >&2; fail "target died"; }
}

# random_file PATH MIB: a file of random bytes.
random_file() {
  head -c "$(($2 * 1024 * 1024))" /dev/urandom >"$1"
}

# same_bytes A B [WHAT]: byte-for-byte comparison.
same_bytes() {
  cmp "$1" "$2" || fail "${3:-data} differs between $1 and $2"
}

# Metrics (--metrics): scrape fetches $murl (the caller sets it) into
# $WORK/scrape.txt; metric NAME LABELS prints one sample of the last scrape
# ("missing" when absent); expect NAME LABELS OP VALUE asserts one.
scrape() { curl -fsS --max-time 10 "$murl" >"$WORK/scrape.txt" || fail "curl $murl"; }
metric() {
  local key=$1
  [ -z "$2" ] || key="$1{$2}"
  awk -v key="$key" '$1 == key { print $2; found = 1 } END { if (!found) print "missing" }' "$WORK/scrape.txt"
}
expect() {
  local v
  v=$(metric "$1" "$2")
  [ "$v" != missing ] || { cat "$WORK/scrape.txt" >&2; fail "no sample $1{$2}"; }
  awk -v v="$v" -v w="$4" "BEGIN { exit !(v $3 w) }" || fail "$1{$2} = $v, expected $3 $4"
  echo "ok: $1{$2} = $v"
}

# finish_client PID LOG WHAT: wait for a client started in the background,
# print its log, and fail unless it exited 0.
finish_client() {
  local rc=0
  wait "$1" || rc=$?
  cat "$2"
  [ "$rc" -eq 0 ] || fail "$3 (exit $rc)"
}

# dkms_build SOURCETREE: dkms build of rdmablk/$version from SOURCETREE
# (holding rdmablk-$version/) for the VM kernel ($RDMABLK_VM_KVER,
# $RDMABLK_VM_KDIR) in $WORK/dkms; sets ko to the module it built.
dkms_build() {
  mkdir -p "$WORK/dkms"
  dkms build "rdmablk/$version" --sourcetree "$1" --dkmstree "$WORK/dkms" \
    -k "$RDMABLK_VM_KVER" --kernelsourcedir "$RDMABLK_VM_KDIR" >"$WORK/dkms.log" 2>&1 ||
    { tail -n 40 "$WORK/dkms.log" >&2; find "$WORK/dkms" -name make.log -exec tail -n 40 {} + >&2; fail "dkms build"; }
  ko=$(find "$WORK/dkms/rdmablk/$version/$RDMABLK_VM_KVER" -name 'rdmablk.ko*' | head -n 1)
  [ -n "$ko" ] || fail "dkms build made no rdmablk.ko"
}
