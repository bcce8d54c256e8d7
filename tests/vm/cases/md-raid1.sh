#!/usr/bin/env bash
# md RAID1 across two independent targets, each with its own backing file
# (the shape for users without Ceph): two rdmablk devices (kernel driver,
# command mode, short ctrl-loss-tmo so a dead path fails I/O instead of
# holding it), mdadm RAID1 with a write-intent bitmap over them, fio writing
# crc32c-verified blocks on /dev/md0. Target 1 gets SIGKILL mid-write: its
# device dies, md fails that leg and keeps serving (fio: zero errors). The
# target restarts on its port, the device is mapped again and re-added, the
# resync completes (bounded), fio verifies every block through md, and the
# two legs' data areas compare byte for byte. dmesg stays clean.
source "$(dirname "$0")/../kmod-lib.sh"
require fio mdadm
started=$SECONDS
MD=/dev/md/rdmablk-r1
modprobe raid1 || fail "no raid1 module"

kmod_case_cleanup() {
  [ -n "${fiopid:-}" ] && kill "$fiopid" 2>/dev/null
  mdadm --stop "$MD" >/dev/null 2>&1 || true
}

leg_mib=160
truncate -s ${leg_mib}M "$WORK/leg1.img" "$WORK/leg2.img"
start_rdma_target t1 --export "leg=$WORK/leg1.img"
start_rdma_target t2 --export "leg=$WORK/leg2.img"
map_opts=(--mode command --queues 2 --qd 32 --reconnect-delay 1 --ctrl-loss-tmo 2 --io-timeout 5)
dev1=$("$CLI" map "$t1_URL/leg" "${map_opts[@]}") || fail "map leg 1"
dev2=$("$CLI" map "$t2_URL/leg" "${map_opts[@]}") || fail "map leg 2"
echo "legs: $dev1 (target 1), $dev2 (target 2)"

# --failfast: a leg whose I/O fails is failed at once, instead of md
# recording bad blocks on it while the path is gone.
mdadm --create "$MD" --run --level=1 --raid-devices=2 --metadata=1.2 --bitmap=internal \
  --assume-clean --failfast "$dev1" "$dev2" >"$WORK/mdadm.log" 2>&1 || { cat "$WORK/mdadm.log" >&2; fail "mdadm --create"; }
md=$(readlink -f "$MD")
mdname=${md#/dev/}
echo "array $md: $(cat /sys/block/"$mdname"/md/array_state), $(($(blockdev --getsize64 "$md") >> 20)) MiB"

fio_args=(--filename="$md" --ioengine=libaio --direct=1 --rw=randwrite --bssplit=4k/50:64k/30:1m/20
  --blockalign=4k --verify=crc32c --verify_fatal=1 --size=128M --name=j1 --iodepth=16)
echo "== fio verify on $md; SIGKILL to target 1 mid-write"
timeout 900 fio --output="$WORK/fio.out" "${fio_args[@]}" --do_verify=1 >/dev/null 2>"$WORK/fio.err" &
fiopid=$!
sleep 3
kill -0 "$fiopid" 2>/dev/null || { cat "$WORK/fio.out" "$WORK/fio.err" >&2; fail "fio ended before the kill"; }
kill_at=$SECONDS
kill -9 "$t1_PID"
wait "$t1_PID" 2>/dev/null || true
for _ in $(seq 1 300); do
  [ "$(cat /sys/block/"$mdname"/md/degraded)" = 1 ] && break
  sleep 0.1
done
[ "$(cat /sys/block/"$mdname"/md/degraded)" = 1 ] || { cat /proc/mdstat >&2; fail "md did not degrade within 30 s"; }
echo "degraded $((SECONDS - kill_at)) s after the kill; $dev1 is $(sysfs_state "$dev1")"
grep -A2 "^$mdname" /proc/mdstat
kill -0 "$fiopid" 2>/dev/null || echo "(fio finished its writes before md degraded)"
wait "$fiopid" || { cat "$WORK/fio.out" "$WORK/fio.err" >&2; fail "fio on the degraded array"; }
fiopid=
grep -E 'WRITE:|READ:|err=' "$WORK/fio.out"
grep -q 'err= 0' "$WORK/fio.out" || fail "fio saw errors while the array degraded"
echo "fio done (write and verify) $((SECONDS - kill_at)) s after the kill"

echo "== target 1 returns; its leg is mapped again and re-added"
mdadm "$MD" --remove failed >/dev/null 2>&1 || mdadm "$MD" --remove "$dev1" || fail "remove the failed leg"
"$CLI" unmap "$dev1" || fail "unmap the dead $dev1"
"$TARGET" --listen "$TARGET_LISTEN" --nbd-port 0 --rdma-port "$t1_RDMA_PORT" --export "leg=$WORK/leg1.img" \
  >"$WORK/t1b.log" 2>&1 &
t1_PID=$!
TARGET_PIDS+=("$t1_PID")
dev1=
for _ in $(seq 1 50); do
  dev1=$("$CLI" map "$t1_URL/leg" "${map_opts[@]}" 2>/dev/null) && break
  sleep 0.2
done
[ -n "$dev1" ] || { cat "$WORK/t1b.log" >&2; fail "map leg 1 after the restart"; }
readd_at=$SECONDS
# With the bitmap, --re-add resyncs only what was written while it was gone.
mdadm "$MD" --re-add "$dev1" >"$WORK/readd.log" 2>&1 || {
  echo "re-add refused ($(cat "$WORK/readd.log")): full resync with --add"
  mdadm "$MD" --add "$dev1" || fail "mdadm --add"
}
for _ in $(seq 1 1200); do
  [ "$(cat /sys/block/"$mdname"/md/degraded)" = 0 ] &&
    [ "$(cat /sys/block/"$mdname"/md/sync_action)" = idle ] && break
  sleep 0.1
done
grep -A2 "^$mdname" /proc/mdstat
[ "$(cat /sys/block/"$mdname"/md/degraded)" = 0 ] || fail "resync did not complete within 120 s"
echo "resync complete $((SECONDS - readd_at)) s after the re-add"

echo "== every block verified through md, then the legs compared"
timeout 600 fio --output="$WORK/fio2.out" "${fio_args[@]}" --verify_only >/dev/null 2>"$WORK/fio2.err" ||
  { cat "$WORK/fio2.out" "$WORK/fio2.err" >&2; fail "fio verify after the resync"; }
grep -q 'err= 0' "$WORK/fio2.out" || fail "fio verify after the resync reported errors"
echo "/sys/block/$mdname/md/mismatch_cnt before check: $(cat /sys/block/"$mdname"/md/mismatch_cnt)"
offset=$(( $(mdadm --examine "$dev2" | sed -n 's/^ *Data Offset : \([0-9]*\) sectors.*/\1/p') * 512 ))
size=$(blockdev --getsize64 "$md")
[ "$offset" -gt 0 ] || fail "no data offset from mdadm --examine"
mdadm --stop "$MD" || fail "mdadm --stop"
for dev in "$dev1" "$dev2"; do "$CLI" unmap "$dev" || fail "unmap $dev"; done
cmp -i "$offset:$offset" -n "$size" "$WORK/leg1.img" "$WORK/leg2.img" || fail "the legs' data areas differ"
echo "legs equal: $size bytes from offset $offset"

rmmod rdmablk || fail "rmmod"
for pid in "$t1_PID" "$t2_PID"; do stop_target "$pid" || fail "a target did not shut down cleanly"; done
check_dmesg
echo "PASS in $((SECONDS - started)) s"
