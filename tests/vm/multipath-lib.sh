# Shared part of the dm-multipath VM cases (kmod-multipath.sh on a shared
# file, kmod-multipath-rbd.sh on a Ceph RBD image): kmod-lib.sh, then
# multipath-tools set up the way dist/multipath/rdmablk.conf says (on an
# overlay of the read-only /etc), systemd-udevd with dist/udev/60-rdmablk.rules,
# and mp_run, the failover run on two gateways of one disk.
source "$(dirname "${BASH_SOURCE[0]}")/kmod-lib.sh"
require fio multipath multipathd dmsetup udevadm
UDEVD=/lib/systemd/systemd-udevd
[ -x "$UDEVD" ] || fail "no $UDEVD (scripts/install-vm-deps installs udev)"
FAIL_TMO=1	# --fast-io-fail-tmo of both paths, seconds
for m in dm_multipath dm_round_robin dm_service_time overlay; do modprobe "$m" || fail "no $m module"; done

# The guest's /etc is the host's, read-only: an overlay gives multipath-tools
# a writable /etc/multipath (wwids, bindings, conf.d) for this run only.
mkdir -p "$WORK/etc-up" "$WORK/etc-work"
mount -t overlay overlay -o "lowerdir=/etc,upperdir=$WORK/etc-up,workdir=$WORK/etc-work" /etc ||
  fail "cannot put an overlay on /etc"
etc_overlaid=1
mkdir -p /etc/multipath/conf.d
cp "$RDMABLK_SRC/dist/multipath/rdmablk.conf" /etc/multipath/conf.d/rdmablk.conf
# The cases' own settings: check every second, so reinstating is quick.
cat >/etc/multipath/conf.d/test.conf <<'EOF'
defaults {
	polling_interval 1
	max_polling_interval 2
}
EOF

udevd_pid= mpd_pid= fiopid=
mp_cleanup() {
  [ -n "$fiopid" ] && kill "$fiopid" 2>/dev/null
  multipath -F >/dev/null 2>&1 || true
  if [ -n "$mpd_pid" ]; then kill "$mpd_pid" 2>/dev/null; wait "$mpd_pid" 2>/dev/null; fi
  if [ -n "$udevd_pid" ]; then udevadm control --exit 2>/dev/null || kill "$udevd_pid" 2>/dev/null || true; fi
  if [ -n "${etc_overlaid:-}" ]; then umount /etc 2>/dev/null || umount -l /etc; fi
}
kmod_case_cleanup() {
  if declare -F mp_case_cleanup >/dev/null; then mp_case_cleanup || true; fi
  mp_cleanup
}

mkdir -p /run/udev/rules.d
sed "s|@RDMABLK_CLI@|$CLI|g" "$RDMABLK_SRC/dist/udev/60-rdmablk.rules.in" >/run/udev/rules.d/60-rdmablk.rules
"$UDEVD" --daemon --resolve-names=never || fail "systemd-udevd did not start"
udevd_pid=$(pidof systemd-udevd || true)
[ -n "$udevd_pid" ] || fail "systemd-udevd is not running"

# paths_up WWID: how many paths of the map multipathd counts active and ready.
paths_up() {
  multipathd show paths format '%w %t %T' 2>/dev/null |
    awk -v w="$1" '$1 == w && $2 == "active" && $3 == "ready"' | wc -l
}

# mp_run EXPORT SERIAL SIZE FIO_SIZE: two gateways (targets gA, gB) serve
# EXPORT (a name=backend spec, named vol) of SIZE bytes whose identity is
# SERIAL; the kernel driver maps it through each; both disks must show
# wwid rdmablk.SERIAL and the udev properties; multipathd groups them; fio
# writes FIO_SIZE of crc32c-verified blocks on the map while gateway A gets
# SIGKILL (zero errors; the slowest write is the failover time); A comes
# back and its path is reinstated; B gets SIGKILL during the pass that
# verifies every block, which moves back onto A with zero errors.
mp_run() {
  local export=$1 serial=$2 size=$3 fio_size=$4
  local wwid=rdmablk.$serial map=/dev/mapper/rdmablk.$serial d n props
  start_rdma_target gA --export "$export"
  start_rdma_target gB --export "$export"
  local map_opts=(--mode command --queues 2 --qd 32 --reconnect-delay 1 --ctrl-loss-tmo -1 --io-timeout 5
    --fast-io-fail-tmo "$FAIL_TMO")
  devA=$("$CLI" map "$gA_URL/vol" "${map_opts[@]}") || fail "map through gateway A"
  devB=$("$CLI" map "$gB_URL/vol" "${map_opts[@]}") || fail "map through gateway B"
  udevadm settle --timeout=60 || fail "udevadm settle"
  echo "paths: $devA (gateway A), $devB (gateway B)"

  echo "== one identity through both gateways"
  for d in "$devA" "$devB"; do
    n=${d#/dev/}
    [ "$(cat /sys/block/"$n"/wwid)" = "$wwid" ] || fail "$d: wwid '$(cat /sys/block/"$n"/wwid)', not $wwid"
    [ "$(cat /sys/block/"$n"/rdmablk/serial)" = "$serial" ] || fail "$d: serial is not $serial"
    props=$(udevadm info --query=property --name="$d")
    grep -qx "ID_SERIAL=$wwid" <<<"$props" || { echo "$props" >&2; fail "$d: no udev ID_SERIAL=$wwid"; }
    grep -qx "ID_WWN=$wwid" <<<"$props" || fail "$d: no udev ID_WWN=$wwid"
    grep -qx "ID_SERIAL_SHORT=$serial" <<<"$props" || fail "$d: no udev ID_SERIAL_SHORT=$serial"
    [ "$(cat /sys/block/"$n"/rdmablk/fast_io_fail_tmo)" = "$FAIL_TMO" ] || fail "$d: fast_io_fail_tmo not $FAIL_TMO"
  done
  echo "ok: $devA and $devB are $wwid"

  echo "== multipathd groups the two paths"
  multipath -a "$devA" >"$WORK/mp-a.log" 2>&1 || { cat "$WORK/mp-a.log" >&2; fail "multipath -a $devA"; }
  multipathd -d -s -v3 >"$WORK/multipathd.log" 2>&1 &
  mpd_pid=$!
  for _ in $(seq 1 300); do [ -b "$map" ] && [ "$(paths_up "$wwid")" = 2 ] && break; sleep 0.1; done
  [ -b "$map" ] && [ "$(paths_up "$wwid")" = 2 ] || {
    multipath -ll >&2 || true; multipathd show paths >&2 || true; tail -n 40 "$WORK/multipathd.log" >&2
    fail "no map $map with 2 active paths within 30 s"
  }
  multipath -ll "$wwid"
  [ "$(blockdev --getsize64 "$map")" = "$size" ] || fail "$map has the wrong size"

  local fio_args=(--filename="$map" --ioengine=libaio --direct=1 --rw=randwrite --bssplit=4k/50:64k/30:256k/20
    --blockalign=4k --verify=crc32c --verify_fatal=1 --size="$fio_size" --name=mp --iodepth=16)
  echo "== fio verify on $map; SIGKILL to gateway A mid-write"
  timeout 900 fio --output="$WORK/fio.out" "${fio_args[@]}" --do_verify=1 --write_lat_log="$WORK/lat" \
    --log_avg_msec=0 >/dev/null 2>"$WORK/fio.err" &
  fiopid=$!
  sleep 4
  kill -0 "$fiopid" 2>/dev/null || { cat "$WORK/fio.out" "$WORK/fio.err" >&2; fail "fio ended before the kill"; }
  [ "$(cat /sys/block/"${devA#/dev/}"/rdmablk/sends)" -gt 0 ] || fail "no I/O went through gateway A before the kill"
  local kill_at=$SECONDS
  kill -9 "$gA_PID"
  wait "$gA_PID" 2>/dev/null || true
  for _ in $(seq 1 300); do [ "$(paths_up "$wwid")" = 1 ] && break; sleep 0.1; done
  [ "$(paths_up "$wwid")" = 1 ] || { multipathd show paths >&2; fail "the path through gateway A did not fail within 30 s"; }
  echo "path failed $((SECONDS - kill_at)) s after the kill; $devA is $(sysfs_state "$devA")"
  kill -0 "$fiopid" 2>/dev/null || echo "(fio finished its writes before the path failed)"
  wait "$fiopid" || { cat "$WORK/fio.out" "$WORK/fio.err" >&2; fail "fio across the failover"; }
  fiopid=
  grep -E 'WRITE:|READ:|err=' "$WORK/fio.out"
  grep -q 'err= 0' "$WORK/fio.out" || fail "fio saw errors across the failover"
  # The write phase's slowest completion (clat log: msec, nsec, dir 1 =
  # write): the I/O that waited out the failover.
  local worst
  worst=$(awk -F, '$3 + 0 == 1 && $2 + 0 > m { m = $2 + 0 } END { printf "%d", m / 1e6 }' "$WORK"/lat_clat*.log)
  echo "failover: the slowest write took $worst ms; path timeout $FAIL_TMO s (goal <= $((2 * FAIL_TMO * 1000)) ms)"
  echo "$devA failed $(cat /sys/block/"${devA#/dev/}"/rdmablk/io_errors) requests with a path error"

  echo "== gateway A returns: its disk reconnects, multipathd reinstates the path"
  local back_at=$SECONDS
  "$TARGET" --listen "$TARGET_LISTEN" --nbd-port 0 --rdma-port "$gA_RDMA_PORT" --export "$export" \
    >"$WORK/gA2.log" 2>&1 &
  gA_PID=$!
  TARGET_PIDS+=("$gA_PID")
  wait_state "$devA" live 60 "gateway A's restart"
  for _ in $(seq 1 600); do [ "$(paths_up "$wwid")" = 2 ] && break; sleep 0.1; done
  [ "$(paths_up "$wwid")" = 2 ] || {
    multipathd show paths >&2; tail -n 40 "$WORK/multipathd.log" >&2; fail "path not reinstated within 60 s"
  }
  echo "reinstated $((SECONDS - back_at)) s after the restart"
  multipath -ll "$wwid"

  echo "== every block verified through the map while gateway B dies: back onto A"
  # The default grouping is one path per group (active/passive, the safe
  # shape for RBD images with exclusive-lock): I/O stays on B after A's
  # return, so B's death proves the reinstated path carries I/O again.
  local sends1 sends2
  sends1=$(cat /sys/block/"${devA#/dev/}"/rdmablk/sends)
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
  [ "$sends2" -gt $((sends1 + 100)) ] ||
    fail "the verify pass did not move to the reinstated path ($((sends2 - sends1)) commands)"
  echo "ok: every block verified; $((sends2 - sends1)) commands through the reinstated path"

  # udev may still be probing the map after the last I/O: settle, retry
  udevadm settle --timeout=60
  local flushed=
  for _ in $(seq 1 20); do multipath -f "$wwid" >"$WORK/mp-f.log" 2>&1 && flushed=1 && break; sleep 0.5; done
  [ -n "$flushed" ] || { cat "$WORK/mp-f.log" >&2; fail "multipath -f $wwid"; }
  kill "$mpd_pid"
  wait "$mpd_pid" 2>/dev/null || true
  mpd_pid=
  for d in "$devA" "$devB"; do "$CLI" unmap "$d" || fail "unmap $d"; done
  stop_target "$gA_PID" || fail "gateway A did not shut down cleanly"
}
