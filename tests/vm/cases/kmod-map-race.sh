#!/usr/bin/env bash
# Racing maps of one export: 8 `rdmablk map` of the same export at once all
# get past the CLI's own duplicate check (it lists the devices before the
# connect), so the module must refuse all but one (-EEXIST, checked and
# claimed under its device-table lock). Exactly one map succeeds, the others
# say "already mapped", one disk exists; after its unmap the export maps
# again, and another export of the same target maps beside it. dmesg clean.
source "$(dirname "$0")/../kmod-lib.sh"
start_rdma_target t --export ram0=ram:64M --export ram1=ram:64M

nr_disks() { "$CLI" list --json | grep -o '"device":' | wc -l; }

for round in 1 2 3; do
  echo "== round $round: 8 concurrent maps of ram0"
  pids=()
  for i in $(seq 1 8); do
    timeout 120 "$CLI" map "$t_URL/ram0" --queues 1 --qd 16 >"$WORK/map$i.out" 2>"$WORK/map$i.err" &
    pids+=($!)
  done
  ok=0 dup=0
  for i in $(seq 1 8); do
    if wait "${pids[$((i - 1))]}"; then
      ok=$((ok + 1)); dev=$(cat "$WORK/map$i.out")
    elif grep -q "already" "$WORK/map$i.err"; then
      dup=$((dup + 1))
    else
      cat "$WORK/map$i.err" >&2; fail "map $i failed, not as a duplicate"
    fi
  done
  echo "succeeded $ok, refused as duplicates $dup"
  [ "$ok" = 1 ] && [ "$dup" = 7 ] || fail "round $round: $ok maps succeeded, $dup refused (want 1 and 7)"
  [ "$(nr_disks)" = 1 ] || { "$CLI" list >&2; fail "round $round: $(nr_disks) disks, not 1"; }
  dev1=$("$CLI" map "$t_URL/ram1" --queues 1 --qd 16) || fail "map ram1 beside ram0"
  [ "$(nr_disks)" = 2 ] || fail "round $round: ram1 did not map beside ram0"
  "$CLI" unmap "$dev1" || fail "unmap $dev1"
  "$CLI" unmap "$dev" || fail "unmap $dev"
  [ "$(nr_disks)" = 0 ] || fail "round $round: disks left after unmap"
done

rmmod rdmablk || fail "rmmod"
stop_target "$t_PID" || { cat "$t_LOG" >&2; fail "target did not shut down cleanly"; }
check_dmesg
echo PASS
