#!/usr/bin/env bash
# Minimal reproducer of the Soft-RoCE connection-manager bug (kernel 6.1,
# see docs/rxe-cm-bug.md), without rdmablk: rping only, on rxe0 (d0,
# 192.0.2.1) of the VM rig. Run it in the VM:
#   tests/vm/run bash tests/vm/rxe-cm-repro.sh
# A CM message sent by the kernel while d0 is down (here the DREQ of a
# killed rping client) fails locally on rxe0's GSI QP (QP1); rxe moves QP1 to
# the error state and the MAD layer's recovery brings back only its send
# side: every connect afterwards times out (rxe0 sends, never receives),
# whatever the application does, until the device is re-created.
# A carrier flap first: there the same DREQ does no harm (the route lookup
# succeeds, the packet is dropped). Then it tries what needs no re-creation (another link flap, a fresh
# connection, each a new cm id and address resolution) and last the
# re-creation, which must repair it.
# Exit: 0 the bug showed and behaved as described; 1 it did not show (a
# fixed kernel?); 2 something else went wrong; 77 not inside the VM.
set -uo pipefail
[ "${RDMABLK_VM:-0}" = 1 ] || { echo "SKIP: not inside the rig's VM; run: tests/vm/run bash $0"; exit 77; }
command -v rping >/dev/null || { echo "SKIP: no rping (rdmacm-utils)"; exit 77; }
DEV=rxe0 NETDEV=d0 IP=${RDMABLK_VM_IP:-192.0.2.1}
CNT=/sys/class/infiniband/$DEV/ports/1/hw_counters
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done; wait 2>/dev/null; }
trap cleanup EXIT
counters() { echo "sent_pkts $(cat $CNT/sent_pkts) rcvd_pkts $(cat $CNT/rcvd_pkts) send_err $(cat $CNT/send_err)"; }
qp1() { rdma res show qp link "$DEV/1" lqpn 1 2>/dev/null | tr -s ' ' | head -n 1; }
# try WHAT: one short rping connection (3 verified iterations, 20 s at most);
# prints the counter deltas; returns rping's status.
try() {
  local s0 r0 rc=0
  s0=$(cat $CNT/sent_pkts) r0=$(cat $CNT/rcvd_pkts)
  timeout 20 rping -c -a "$IP" -C 3 -S 64 -V >/dev/null 2>&1 || rc=$?
  echo "$1: rping exit $rc; $DEV sent $(( $(cat $CNT/sent_pkts) - s0 )), received $(( $(cat $CNT/rcvd_pkts) - r0 )) packets"
  return "$rc"
}
server() { rping -s -a "$IP" -P >/dev/null 2>&1 & pids+=($!); sleep 1; }

echo "kernel $(uname -r)"
server
try "before the flap" || { echo "rping does not work even before the flap"; exit 2; }
echo "QP1: $(qp1)"

# flap_with_dreq DOWN UP: a client with a live connection is killed while
# the link is down (DOWN and UP are `ip link set` arguments): the kernel
# sends its DREQ then. The server is started afresh afterwards.
flap_with_dreq() {
  rping -c -a "$IP" -C 1000000 -S 64 >/dev/null 2>&1 & c=$!
  pids+=("$c")
  sleep 3
  echo "ip link set $NETDEV $1, kill -9 the connected client (its DREQ goes out now), $2 1 s later"
  ip link set "$NETDEV" $1
  kill -9 "$c"
  sleep 1
  ip link set "$NETDEV" $2
  sleep 2
  echo "after the flap: $(counters); QP1: $(qp1)"
  kill -9 "${pids[@]}" 2>/dev/null; wait 2>/dev/null; pids=()
  server
}

# Loss of carrier (a pulled cable) keeps the routes: the DREQ's route
# lookup succeeds and the packet is only dropped, QP1 is left alone.
flap_with_dreq "carrier off" "carrier on"
try "after a carrier flap" || { echo "UNEXPECTED: deaf after a carrier flap (the route lookup is not the trigger)"; exit 2; }

# The trigger: the link administratively down, its routes gone.
flap_with_dreq down up

deaf=0
try "a fresh connection after the flap" || deaf=1
if [ "$deaf" = 0 ]; then
  echo "NOT REPRODUCED: $DEV still receives connection requests"
  exit 1
fi
# What needs no re-creation: a flap with nothing sent, a fresh cm id and
# address resolution again (every rping is both). Neither brings QP1 back.
ip link set "$NETDEV" down; sleep 1; ip link set "$NETDEV" up; sleep 2
try "after another flap with nothing sent" && { echo "UNEXPECTED: another flap repaired it"; exit 2; }
try "a second fresh connection" && { echo "UNEXPECTED: a retry repaired it"; exit 2; }
echo "QP1 (rxe reports the state the MAD layer set, not that of its receive side): $(qp1)"

echo "re-creating $DEV (rdma link del/add)"
kill -9 "${pids[@]}" 2>/dev/null; wait 2>/dev/null; pids=()
rdma link del "$DEV" || exit 2
sleep 1
rdma link add "$DEV" type rxe netdev "$NETDEV" || exit 2
sleep 2
server
try "after re-creating $DEV" || { echo "UNEXPECTED: still deaf after re-creation"; exit 2; }
echo "REPRODUCED: $DEV was deaf to connection requests after a DREQ sent with the link down, until re-created"
exit 0
