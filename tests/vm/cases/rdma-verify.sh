#!/usr/bin/env bash
# Proves the VM rig: Soft-RoCE device rxe0 on d0 (192.0.2.1) is ACTIVE with a
# 4096-byte path MTU, verbs work, RDMA CM connects (rping with data
# verification) and perftest moves data (ib_read_lat 4K).
#
# Run inside the VM:  tests/vm/run bash tests/vm/cases/rdma-verify.sh
# Exit 0 on success, 1 on the first failure, 77 when not inside the rig's VM.
set -uo pipefail

if [ "${RDMABLK_VM:-0}" != 1 ]; then
  echo "rdma-verify: SKIP: not inside the rig's VM; run: tests/vm/run bash $0" >&2
  exit 77
fi

ip=192.0.2.1
work=$(mktemp -d /tmp/rdma-verify.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT

failed=0
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; failed=1; }
show() { sed 's/^/    /' "$1"; }

# Wait (bounded) until something listens on a TCP port (perftest's OOB channel).
wait_tcp_listen() {
  local port=$1
  for _ in $(seq 100); do
    ss -Hltn "sport = :$port" 2>/dev/null | grep -q . && return 0
    sleep 0.1
  done
  return 1
}

# Wait (bounded) until an rping server is listening on RDMA CM.
wait_rdma_listen() {
  for _ in $(seq 100); do
    rdma resource show cm_id 2>/dev/null | grep -q 'state LISTEN' && return 0
    sleep 0.1
  done
  return 1
}

echo "== rdma link"
if timeout 10 rdma link show >"$work/link" 2>&1 && grep -q '^link rxe0/1 state ACTIVE .*netdev d0' "$work/link"; then
  show "$work/link"; pass "rxe0 is ACTIVE on d0"
else
  show "$work/link"; fail "rxe0 is not ACTIVE on d0"
fi

echo "== ibv_devinfo -d rxe0"
if timeout 20 ibv_devinfo -d rxe0 >"$work/devinfo" 2>&1; then
  show "$work/devinfo"
  grep -q 'state:[[:space:]]*PORT_ACTIVE' "$work/devinfo" && pass "ibv_devinfo: port ACTIVE" \
    || fail "ibv_devinfo: port not ACTIVE"
  grep -q 'active_mtu:[[:space:]]*4096' "$work/devinfo" && pass "ibv_devinfo: active_mtu 4096" \
    || fail "ibv_devinfo: active_mtu is not 4096 (d0 MTU 9000 expected)"
else
  show "$work/devinfo"; fail "ibv_devinfo -d rxe0 failed"
fi

echo "== rping loopback over $ip (10 iterations, verified)"
timeout 60 rping -s -a "$ip" -v -C 10 >"$work/rping-s" 2>&1 &
spid=$!; pids+=("$spid")
if wait_rdma_listen; then
  timeout 60 rping -c -a "$ip" -v -C 10 >"$work/rping-c" 2>&1
  crc=$?
  wait "$spid"; src=$?
  n=$(grep -c '^ping data: rdma-ping-' "$work/rping-c")
  echo "  client (exit $crc, $n pings):"; tail -n 3 "$work/rping-c" | sed 's/^/    /'
  echo "  server (exit $src):"; tail -n 3 "$work/rping-s" | sed 's/^/    /'
  if [ "$crc" -eq 0 ] && [ "$src" -eq 0 ] && [ "$n" -eq 10 ]; then
    pass "rping: 10 verified round trips"
  else
    fail "rping: client exit $crc, server exit $src, $n/10 pings"
  fi
else
  fail "rping server did not listen within 10 s"; show "$work/rping-s"
fi

echo "== ib_read_lat -d rxe0 -s 4096 -n 1000 loopback over $ip"
port=18515
timeout 120 ib_read_lat -d rxe0 -s 4096 -n 1000 -p "$port" >"$work/lat-s" 2>&1 &
spid=$!; pids+=("$spid")
if wait_tcp_listen "$port"; then
  timeout 120 ib_read_lat -d rxe0 -s 4096 -n 1000 -p "$port" "$ip" >"$work/lat-c" 2>&1
  crc=$?
  wait "$spid"; src=$?
  show "$work/lat-c"
  # The result line: "#bytes #iterations t_min[usec] t_max[usec] t_typical[usec] ..."
  line=$(awk '$1 == 4096 && $2 == 1000 && NF >= 5' "$work/lat-c" | tail -n 1)
  if [ "$crc" -eq 0 ] && [ "$src" -eq 0 ] && [ -n "$line" ]; then
    set -- $line
    pass "ib_read_lat 4K: typical $5 us (min $3, max $4)"
  else
    fail "ib_read_lat: client exit $crc, server exit $src, no latency line"; show "$work/lat-s"
  fi
else
  fail "ib_read_lat server did not listen on TCP $port within 10 s"; show "$work/lat-s"
fi

if [ "${RDMABLK_VM_PAIR:-0}" = 1 ]; then
  echo "== rping across the pair: rxe1 (198.51.100.1, v1) -> rxe2 (198.51.100.2, v2)"
  tx0=$(cat /sys/class/net/v1/statistics/tx_bytes)
  rx0=$(cat /sys/class/net/v2/statistics/rx_bytes)
  timeout 60 rping -s -a 198.51.100.2 -v -C 10 >"$work/prping-s" 2>&1 &
  spid=$!; pids+=("$spid")
  if wait_rdma_listen; then
    timeout 60 rping -c -I 198.51.100.1 -a 198.51.100.2 -v -C 10 >"$work/prping-c" 2>&1
    crc=$?
    wait "$spid"; src=$?
    n=$(grep -c '^ping data: rdma-ping-' "$work/prping-c")
    tx=$(( $(cat /sys/class/net/v1/statistics/tx_bytes) - tx0 ))
    rx=$(( $(cat /sys/class/net/v2/statistics/rx_bytes) - rx0 ))
    echo "  client exit $crc, server exit $src, $n pings; v1 sent $tx bytes, v2 received $rx bytes"
    if [ "$crc" -eq 0 ] && [ "$src" -eq 0 ] && [ "$n" -eq 10 ] && [ "$tx" -gt 0 ] && [ "$rx" -gt 0 ]; then
      pass "pair: 10 verified round trips over the veth wire"
    else
      fail "pair rping"; show "$work/prping-c"; show "$work/prping-s"
    fi
  else
    fail "pair rping server did not listen within 10 s"; show "$work/prping-s"
  fi
fi

if [ "$failed" -ne 0 ]; then
  echo "rdma-verify: FAILED"
  exit 1
fi
echo "rdma-verify: all checks passed"
