#!/usr/bin/env bash
# A connect flood from one address must not lock out a real login from
# another (docs/reliability.md, hostile initiators). rdmablk-rdma-flood
# opens queue-0 connections that never log in from 198.51.100.17 (on v1)
# as fast as rdma_cm allows, against a target whose cap of connections not
# logged in (--rdma-max-pending 32) one address could fill on its own.
# A newcomer gets in only by evicting one that had 1 s to log in; a flood
# faster than one connection per second per cap place evicts each as soon
# as it is 1 s old, so without a rate limit newcomers are rejected for as
# long as the flood runs (first phase, reported, not asserted: it depends
# on how fast the flood is here). With the per-address token bucket
# (--rdma-connect-rate 8 --rdma-connect-burst 16, second phase) the flood's
# connections age past 1 s before it can replace them, and a real
# `rdmablk info` from 198.51.100.1 must succeed within 2 s of its first try.
source "$(dirname "$0")/../rdma-lib.sh"
FLOOD=$RDMABLK_BIN/rdmablk-rdma-flood
[ -x "$FLOOD" ] || fail "no $FLOOD (build first)"
[ "${RDMABLK_VM_PAIR:-1}" = 1 ] || skip "needs the rxe1/rxe2 pair (RDMABLK_VM_PAIR=1)"
FAR=198.51.100.2       # rxe2, where the target is reached
FLOOD_SRC=198.51.100.17
FLOOD_SECONDS=12
CAP=32

# The flood address, answered through the pair like 198.51.100.1
# (tests/vm/guest-init, as rdma-hostile.sh does).
ip addr add "$FLOOD_SRC/32" dev v1 || fail "ip addr add $FLOOD_SRC"
ip rule add pref 22 to "$FLOOD_SRC" lookup 102 || fail "ip rule"
ip route add "$FLOOD_SRC" dev v2 src "$FAR" table 102 || fail "ip route"

# newcomer URL SECONDS: `rdmablk info URL` from 198.51.100.1 until it
# succeeds or SECONDS pass; prints the milliseconds from the first try to
# the success (or "never") and the number of tries.
newcomer() {
  local url=$1 secs=$2 t0 now tries=0
  t0=$(date +%s%N)
  while :; do
    tries=$((tries + 1))
    if timeout 10 "$CLI" info "$url" >"$WORK/info.out" 2>"$WORK/info.err"; then
      now=$(date +%s%N)
      echo "$(( (now - t0) / 1000000 )) $tries"
      return 0
    fi
    now=$(date +%s%N)
    [ $(( (now - t0) / 1000000000 )) -lt "$secs" ] || { echo "never $tries"; return 0; }
    sleep 0.05
  done
}

# phase NAME TARGET_ARGS...: a target of its own, the flood, and after the
# flood has run 4 s (its burst spent, the cap full) the newcomer; sets
# NEWCOMER ("MS TRIES" or "never TRIES").
phase() {
  local name=$1 rc=0
  shift
  TARGET_LISTEN=0.0.0.0
  start_target "$name" --export open=ram:16M --rdma-max-pending "$CAP" --rdma-login-timeout 30 "$@"
  local port=${name}_RDMA_PORT log=${name}_LOG pid=${name}_PID
  [ -n "${!port}" ] || { cat "${!log}" >&2; fail "$name: target does not serve RDMA"; }
  # Before the flood, a login must work (the first across the pair may
  # wait for neighbour resolution: a few tries).
  local i
  for i in 1 2 3 4 5; do
    timeout 30 "$CLI" info "rdma://$FAR:${!port}/open" >/dev/null 2>"$WORK/info.err" && break
    [ "$i" -lt 5 ] || { cat "$WORK/info.err" "${!log}" >&2; fail "$name: info before the flood (5 tries)"; }
    echo "$name: info before the flood, try $i: $(head -n 1 "$WORK/info.err")"
    sleep 1
  done
  rm -f "$WORK/ready"
  "$FLOOD" "$FAR" "${!port}" --src "$FLOOD_SRC" --seconds "$FLOOD_SECONDS" --ready "$WORK/ready" \
    >"$WORK/$name.flood" 2>&1 &
  local fp=$!
  for _ in $(seq 100); do [ -e "$WORK/ready" ] && break; sleep 0.1; done
  [ -e "$WORK/ready" ] || { cat "$WORK/$name.flood" >&2; fail "$name: no flood connection established in 10 s"; }
  sleep 4
  NEWCOMER=$(newcomer "rdma://$FAR:${!port}/open" 6)
  wait "$fp" || rc=$?
  cat "$WORK/$name.flood"
  [ "$rc" -eq 0 ] || fail "$name: the flood tool failed (exit $rc)"
  assert_alive "${!pid}" "${!log}"
  echo "$name: target log: $(grep -c 'used its burst' "${!log}") rejected by the rate limit," \
    "$(grep -c 'from this address have not logged in' "${!log}") by the per-address cap," \
    "$(grep -c 'none for 1 s' "${!log}") by the full cap, $(grep -c 'evicted:' "${!log}") evicted"
  stop_target "${!pid}" || fail "$name: target exit status $? on SIGTERM"
}

echo "== without a rate limit (--rdma-connect-rate 0)"
phase norate --rdma-connect-rate 0
read -r ms tries <<<"$NEWCOMER"
echo "without a rate limit: a real login from 198.51.100.1 got in after: ${ms} ms ($tries tries)"

echo "== with the per-address token bucket (--rdma-connect-rate 8 --rdma-connect-burst 16)"
phase rate --rdma-connect-rate 8 --rdma-connect-burst 16
read -r ms tries <<<"$NEWCOMER"
[ "$ms" != never ] || { cat "$WORK/info.err" >&2; fail "with the rate limit: the real login did not get in within 6 s ($tries tries)"; }
[ "$ms" -le 2000 ] || fail "with the rate limit: the real login got in only after $ms ms ($tries tries; at most 2000)"
echo "ok: with the rate limit, a real login from 198.51.100.1 got in after $ms ms ($tries tries) while the flood ran"
grep -q 'used its burst' "$rate_LOG" || fail "the rate limit never refused a flood connection"
check_dmesg
echo "PASS"
