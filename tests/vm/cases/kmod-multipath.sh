#!/usr/bin/env bash
# dm-multipath across two gateways of one disk, with the real multipath-tools:
# two target processes serve one file (serial=mp-vol on both, the export's
# declared identity), the kernel driver maps it through each with
# --fast-io-fail-tmo 1, and both disks show the same sysfs wwid and udev
# ID_SERIAL/ID_WWN (dist/udev/60-rdmablk.rules); an export without a serial
# has no wwid. multipathd, configured by dist/multipath/rdmablk.conf, groups
# the two paths into one map. fio writes crc32c-verified blocks on the map;
# gateway A gets SIGKILL mid-write: its path fails, I/O goes on through B
# with zero errors, and the longest I/O across the failover is reported
# against the goal (<= 2x the path timeout). Gateway A restarts, its disk
# reconnects, multipathd reinstates the path; then gateway B dies during
# the pass that verifies every block, which moves back onto A with zero
# errors. dmesg stays clean.
source "$(dirname "$0")/../kmod-lib.sh"
require fio multipath multipathd dmsetup udevadm
UDEVD=/lib/systemd/systemd-udevd
[ -x "$UDEVD" ] || fail "no $UDEVD (scripts/install-vm-deps installs udev)"
started=$SECONDS
SERIAL=mp-vol
WWID=rdmablk.$SERIAL
MAP=/dev/mapper/$WWID
FAIL_TMO=1
for m in dm_multipath dm_round_robin dm_service_time overlay; do modprobe "$m" || fail "no $m module"; done

# The guest's /etc is the host's, read-only: an overlay gives multipath-tools
# a writable /etc/multipath (wwids, bindings, conf.d) for this run only.
mkdir -p "$WORK/etc-up" "$WORK/etc-work"
mount -t overlay overlay -o "lowerdir=/etc,upperdir=$WORK/etc-up,workdir=$WORK/etc-work" /etc ||
  fail "cannot put an overlay on /etc"
etc_overlaid=1
mkdir -p /etc/multipath/conf.d
cp "$RDMABLK_SRC/dist/multipath/rdmablk.conf" /etc/multipath/conf.d/rdmablk.conf
# This case's own settings: check every second, so reinstating is quick.
cat >/etc/multipath/conf.d/test.conf <<'EOF'
defaults {
	polling_interval 1
	max_polling_interval 2
}
EOF

udevd_pid= mpd_pid=
kmod_case_cleanup() {
  [ -n "${fiopid:-}" ] && kill "$fiopid" 2>/dev/null
  multipath -F >/dev/null 2>&1 || true
  if [ -n "$mpd_pid" ]; then kill "$mpd_pid" 2>/dev/null; wait "$mpd_pid" 2>/dev/null; fi
  if [ -n "$udevd_pid" ]; then udevadm control --exit 2>/dev/null || kill "$udevd_pid" 2>/dev/null || true; fi
  dmsetup remove "$WWID" >/dev/null 2>&1 || true
  if [ -n "${etc_overlaid:-}" ]; then umount /etc 2>/dev/null || umount -l /etc; fi
}

mkdir -p /run/udev/rules.d
sed "s|@RDMABLK_CLI@|$CLI|g" "$RDMABLK_SRC/dist/udev/60-rdmablk.rules.in" >/run/udev/rules.d/60-rdmablk.rules
"$UDEVD" --daemon --resolve-names=never || fail "systemd-udevd did not start"
udevd_pid=$(pidof systemd-udevd || true)
[ -n "$udevd_pid" ] || fail "systemd-udevd is not running"

truncate -s 192M "$WORK/shared.img"
start_rdma_target gA --export "vol=$WORK/shared.img,serial=$SERIAL" --export "solo=ram:8M"
start_rdma_target gB --export "vol=$WORK/shared.img,serial=$SERIAL"
map_opts=(--mode command --queues 2 --qd 32 --reconnect-delay 1 --ctrl-loss-tmo -1 --io-timeout 5
  --fast-io-fail-tmo "$FAIL_TMO")
devA=$("$CLI" map "$gA_URL/vol" "${map_opts[@]}") || fail "map through gateway A"
devB=$("$CLI" map "$gB_URL/vol" "${map_opts[@]}") || fail "map through gateway B"
solo=$("$CLI" map "$gA_URL/solo") || fail "map solo"
udevadm settle --timeout=60 || fail "udevadm settle"
echo "paths: $devA (gateway A), $devB (gateway B); $solo has no serial"

echo "== one identity through both gateways"
for d in "$devA" "$devB"; do
  n=${d#/dev/}
  [ "$(cat /sys/block/"$n"/wwid)" = "$WWID" ] || fail "$d: wwid '$(cat /sys/block/"$n"/wwid)', not $WWID"
  [ "$(cat /sys/block/"$n"/rdmablk/serial)" = "$SERIAL" ] || fail "$d: serial is not $SERIAL"
  props=$(udevadm info --query=property --name="$d")
  grep -qx "ID_SERIAL=$WWID" <<<"$props" || { echo "$props" >&2; fail "$d: no udev ID_SERIAL=$WWID"; }
  grep -qx "ID_WWN=$WWID" <<<"$props" || fail "$d: no udev ID_WWN=$WWID"
  grep -qx "ID_SERIAL_SHORT=$SERIAL" <<<"$props" || fail "$d: no udev ID_SERIAL_SHORT=$SERIAL"
done
[ ! -e "/sys/block/${solo#/dev/}/wwid" ] || fail "$solo has a wwid without a serial"
[ -z "$(cat /sys/block/"${solo#/dev/}"/rdmablk/serial)" ] || fail "$solo has a serial"
"$CLI" unmap "$solo" || fail "unmap $solo"
echo "ok: $devA and $devB are $WWID; no identity without a serial"

echo "== multipathd groups the two paths"
multipath -a "$devA" >"$WORK/mp-a.log" 2>&1 || { cat "$WORK/mp-a.log" >&2; fail "multipath -a $devA"; }
multipathd -d -s -v3 >"$WORK/multipathd.log" 2>&1 &
mpd_pid=$!
# paths_up: how many paths of the map multipathd counts active and ready
paths_up() { multipathd show paths format '%w %t %T' 2>/dev/null | awk -v w="$WWID" '$1 == w && $2 == "active" && $3 == "ready"' | wc -l; }
for _ in $(seq 1 300); do [ -b "$MAP" ] && [ "$(paths_up)" = 2 ] && break; sleep 0.1; done
[ -b "$MAP" ] && [ "$(paths_up)" = 2 ] || {
  multipath -ll >&2 || true; multipathd show paths >&2 || true; tail -n 40 "$WORK/multipathd.log" >&2
  fail "no map $MAP with 2 active paths within 30 s"
}
multipath -ll "$WWID"
[ "$(blockdev --getsize64 "$MAP")" = $((192 << 20)) ] || fail "$MAP has the wrong size"

fio_args=(--filename="$MAP" --ioengine=libaio --direct=1 --rw=randwrite --bssplit=4k/50:64k/30:256k/20
  --blockalign=4k --verify=crc32c --verify_fatal=1 --size=160M --name=mp --iodepth=16)
echo "== fio verify on $MAP; SIGKILL to gateway A mid-write"
timeout 900 fio --output="$WORK/fio.out" "${fio_args[@]}" --do_verify=1 --write_lat_log="$WORK/lat" \
  --log_avg_msec=0 >/dev/null 2>"$WORK/fio.err" &
fiopid=$!
sleep 4
kill -0 "$fiopid" 2>/dev/null || { cat "$WORK/fio.out" "$WORK/fio.err" >&2; fail "fio ended before the kill"; }
sendsA=$(cat /sys/block/"${devA#/dev/}"/rdmablk/sends)
[ "$sendsA" -gt 0 ] || fail "no I/O went through gateway A before the kill"
kill_at=$SECONDS
kill -9 "$gA_PID"
wait "$gA_PID" 2>/dev/null || true
for _ in $(seq 1 300); do [ "$(paths_up)" = 1 ] && break; sleep 0.1; done
[ "$(paths_up)" = 1 ] || { multipathd show paths >&2; fail "the path through gateway A did not fail within 30 s"; }
echo "path failed $((SECONDS - kill_at)) s after the kill; $devA is $(sysfs_state "$devA")"
kill -0 "$fiopid" 2>/dev/null || echo "(fio finished its writes before the path failed)"
wait "$fiopid" || { cat "$WORK/fio.out" "$WORK/fio.err" >&2; fail "fio across the failover"; }
fiopid=
grep -E 'WRITE:|READ:|err=' "$WORK/fio.out"
grep -q 'err= 0' "$WORK/fio.out" || fail "fio saw errors across the failover"
# The write phase's slowest completion (clat log: msec, nsec, dir 1 =
# write): the I/O that waited out the failover.
worst=$(awk -F, '$3 + 0 == 1 && $2 + 0 > m { m = $2 + 0 } END { printf "%d", m / 1e6 }' "$WORK"/lat_clat*.log)
echo "failover: the slowest write took $worst ms; path timeout $FAIL_TMO s (goal <= $((2 * FAIL_TMO * 1000)) ms)"
echo "$devA failed $(cat /sys/block/"${devA#/dev/}"/rdmablk/io_errors) requests with a path error"

echo "== gateway A returns: its disk reconnects, multipathd reinstates the path"
back_at=$SECONDS
"$TARGET" --listen "$TARGET_LISTEN" --nbd-port 0 --rdma-port "$gA_RDMA_PORT" \
  --export "vol=$WORK/shared.img,serial=$SERIAL" >"$WORK/gA2.log" 2>&1 &
gA_PID=$!
TARGET_PIDS+=("$gA_PID")
wait_state "$devA" live 60 "gateway A's restart"
for _ in $(seq 1 600); do [ "$(paths_up)" = 2 ] && break; sleep 0.1; done
[ "$(paths_up)" = 2 ] || { multipathd show paths >&2; tail -n 40 "$WORK/multipathd.log" >&2; fail "path not reinstated within 60 s"; }
echo "reinstated $((SECONDS - back_at)) s after the restart"
multipath -ll "$WWID"

echo "== every block verified through the map while gateway B dies: back onto A"
# The default grouping is one path per group (active/passive, the safe
# shape for RBD images with exclusive-lock): I/O stays on B after A's
# return, so B's death proves the reinstated path carries I/O again.
sendsA=$(cat /sys/block/"${devA#/dev/}"/rdmablk/sends)
timeout 600 fio --output="$WORK/fio2.out" "${fio_args[@]}" --verify_only >/dev/null 2>"$WORK/fio2.err" &
fiopid=$!
sleep 1.5
kill -0 "$fiopid" 2>/dev/null || echo "(the verify pass ended before gateway B's death)"
kill -9 "$gB_PID"
wait "$gB_PID" 2>/dev/null || true
wait "$fiopid" || { cat "$WORK/fio2.out" "$WORK/fio2.err" >&2; fail "fio verify across the second failover"; }
fiopid=
grep -q 'err= 0' "$WORK/fio2.out" || fail "fio verify across the second failover reported errors"
sends2=$(cat /sys/block/"${devA#/dev/}"/rdmablk/sends)
[ "$sends2" -gt $((sendsA + 100)) ] || fail "the verify pass did not move to the reinstated path ($((sends2 - sendsA)) commands)"
echo "ok: every block verified; $((sends2 - sendsA)) commands through the reinstated path"

multipath -f "$WWID" || fail "multipath -f $WWID"
kill "$mpd_pid"; wait "$mpd_pid" 2>/dev/null; mpd_pid=
for d in "$devA" "$devB"; do "$CLI" unmap "$d" || fail "unmap $d"; done
rmmod rdmablk || fail "rmmod"
stop_target "$gA_PID" || fail "gateway A did not shut down cleanly"
check_dmesg
echo "PASS in $((SECONDS - started)) s"
