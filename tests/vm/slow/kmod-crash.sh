#!/usr/bin/env bash
# Crash consistency of acknowledged writes. The target serves a file on
# ext4 on a ram disk in the VM (brd, through a device-mapper linear device
# so it can be stopped at an instant); the kernel driver maps it in command
# mode across the rxe1 -> rxe2 pair, with ext4 on /dev/rdmablkN. A workload
# (tests/vm/crash-records.py) appends numbered 4 KiB records, each made
# durable by fdatasync (every 8th also by a file of its own, fsync of it and
# of its directory) before its number goes to a log outside the tested file
# systems. RDMABLK_CRASH_ROUNDS (3; docs/reliability.md records 20) rounds,
# each at a random moment 0.5-3 s into the workload, alternating:
#   - power cut (odd rounds): the client's ext4 is shut down without a log
#     flush (EXT4_IOC_SHUTDOWN: the initiator's machine "crashes"), the
#     workload and the target get SIGKILL, the backing device is suspended
#     (in-flight I/O done, nothing more) and copied raw to the other ram
#     disk: what the target's storage held at that instant, its page cache
#     lost. The old backing dies; the copy is mounted (journal recovery), a
#     new target serves it on the same port, the mapped device reconnects,
#     the client's ext4 is unmounted and mounted again (its recovery);
#   - kill (even rounds): SIGKILL of the target alone, the page cache
#     dropped, a new target on the same file; the workload goes on through
#     the reconnect and is stopped 1 s after the device is live again.
# Then, with the page cache dropped again, every record and file the log
# names must read back byte for byte, and fsck.ext4 -n -f of the mapped disk
# must be clean; at the end the backing file system's fsck too.
source "$(dirname "$0")/../kmod-lib.sh"
require mkfs.ext4 fsck.ext4 mount umount dd dmsetup blockdev
ROUNDS=${RDMABLK_CRASH_ROUNDS:-3}
PY=/usr/bin/python3
RECORDS=$RDMABLK_SRC/tests/vm/crash-records.py
[ -x "$PY" ] || skip "no $PY"
export DM_DISABLE_UDEV=1  # no udev in the VM: dmsetup makes its own nodes
TARGET_LISTEN=198.51.100.2  # the pair's far end: traffic leaves rxe1 on v1
BACK=$WORK/back MNT=$WORK/mnt ACKED=$WORK/acked
mkdir -p "$BACK" "$MNT"
: >"$ACKED"
RAM_MB=160
SECTORS=$((RAM_MB * 2048))
work_pid=

kmod_case_cleanup() {
  [ -z "$work_pid" ] || kill -9 "$work_pid" 2>/dev/null || true
  mountpoint -q "$MNT" && umount "$MNT"
  for p in "${TARGET_PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  mountpoint -q "$BACK" && umount "$BACK"
  dmsetup remove_all --noudevsync >/dev/null 2>&1 || true
}

modprobe brd rd_nr=2 rd_size=$((RAM_MB * 1024)) || fail "modprobe brd"
modprobe dm-mod || true
[ -b /dev/ram1 ] || fail "no /dev/ram1 after modprobe brd"
cur=0  # the ram disk under the live backing file system
back_dev() { echo "/dev/mapper/back$1"; }
dm_up() {  # dm_up N: a linear device over /dev/ramN
  dmsetup create --noudevsync "back$1" --table "0 $SECTORS linear /dev/ram$1 0" || fail "dmsetup create back$1"
  [ -b "$(back_dev "$1")" ] || fail "no $(back_dev "$1")"
}
dm_up 0
mkfs.ext4 -q "$(back_dev 0)" || fail "mkfs.ext4 (backing)"
mount "$(back_dev 0)" "$BACK" || fail "mount backing"
truncate -s 128M "$BACK/disk.img"  # sparse: the target's writes allocate, journalled
TARGET_ARGS=(--export "file0=$BACK/disk.img")
start_rdma_target t "${TARGET_ARGS[@]}"

# kill_target, restart_target (TARGET_ARGS): tests/vm/kmod-lib.sh
drop_caches() { sync -f "$BACK" 2>/dev/null; echo 3 >/proc/sys/vm/drop_caches; }
acked_top() { tail -n 1 "$ACKED" 2>/dev/null || true; }

dev=$("$CLI" map "$t_URL/file0" --mode command --queues 2 --qd 32 --reconnect-delay 1 --ctrl-loss-tmo 300 \
  --io-timeout 15) || fail "map file0"
echo "mapped $dev"
mkfs.ext4 -q "$dev" || fail "mkfs.ext4 $dev"
mount "$dev" "$MNT" || fail "mount $dev"

start_workload() {
  local top
  top=$(acked_top)
  "$PY" "$RECORDS" write "$MNT" "$ACKED" $(( ${top:-0} + 1 )) 2>"$WORK/work.err" &
  work_pid=$!
  local n0=${top:-0}
  for _ in $(seq 300); do [ "$(acked_top)" != "${top}" ] && return 0; sleep 0.1; done
  cat "$WORK/work.err" >&2
  fail "the workload acknowledged nothing in 30 s (from record $((n0 + 1)))"
}
stop_workload() {  # stop_workload SIGNAL
  kill "-$1" "$work_pid" 2>/dev/null || true
  wait "$work_pid" 2>/dev/null || true
  work_pid=
}

power_cut() {
  local other=$((1 - cur))
  "$PY" "$RECORDS" shutdown "$MNT" || fail "EXT4_IOC_SHUTDOWN of $MNT"
  stop_workload 9
  kill_target
  # The storage's instant: in-flight I/O completes, nothing more gets in;
  # the raw copy is what a power cut would have left on it.
  dmsetup suspend --noudevsync --nolockfs --noflush "back$cur" || fail "dmsetup suspend back$cur"
  dd if="/dev/ram$cur" of="/dev/ram$other" bs=1M iflag=direct oflag=direct status=none || fail "copy ram$cur"
  dmsetup load --noudevsync "back$cur" --table "0 $SECTORS error" || fail "dmsetup load error"
  dmsetup resume --noudevsync "back$cur" || fail "dmsetup resume back$cur"
  umount "$BACK" 2>/dev/null || umount -l "$BACK" || fail "umount the dead backing"
  dmsetup remove --noudevsync "back$cur" || fail "dmsetup remove back$cur"
  dm_up "$other"
  mount "$(back_dev "$other")" "$BACK" || fail "mount the backing after the power cut"
  cur=$other
  # What the client's disk held at the cut, before anything the client
  # still sends lands on it: if a record is lost later, this copy tells
  # whether the storage lost it or what came after the cut did.
  cp --sparse=always "$BACK/disk.img" "$WORK/at-cut.img"
  acked_at_cut=$(acked_top)
  drop_caches
  restart_target
  wait_state "$dev" live 90 "the power cut"
  umount "$MNT" || fail "umount the shut-down $MNT"
  blockdev --flushbufs "$dev"
  drop_caches
  mount "$dev" "$MNT" || fail "mount $dev after the power cut"
}

kill_round() {
  kill_target
  drop_caches
  restart_target
  wait_state "$dev" live 90 "the kill"
  sleep 1  # the workload writes through the new target too
  stop_workload TERM
}

# at_cut_check: the records on the copy of the client's disk taken at the
# last power cut (its own journal recovery, on a loop device).
at_cut_check() {
  [ -f "$WORK/at-cut.img" ] || return 0
  local m=$WORK/at-cut
  mkdir -p "$m"
  modprobe loop 2>/dev/null || true
  echo "-- the client's disk as the power cut left it (last acknowledged then: $acked_at_cut):" >&2
  dumpe2fs -h "$WORK/at-cut.img" 2>/dev/null | grep -E 'features|state|Journal (sequence|start)' >&2 || true
  if mount -o loop "$WORK/at-cut.img" "$m" 2>&1 >&2; then
    "$PY" "$RECORDS" check "$m" "$ACKED" >&2 || true
    umount "$m"
  else
    echo "(cannot mount the copy)" >&2
  fi
}

verify() {  # verify ROUND KIND
  drop_caches
  "$PY" "$RECORDS" check "$MNT" "$ACKED" >"$WORK/check.out" 2>&1 || {
    cat "$WORK/check.out" >&2
    at_cut_check
    fail "round $1 ($2): acknowledged records lost"
  }
  umount "$MNT" || fail "umount $MNT"
  blockdev --flushbufs "$dev"
  fsck.ext4 -n -f "$dev" >"$WORK/fsck.out" 2>&1 || { cat "$WORK/fsck.out" >&2; fail "round $1 ($2): fsck.ext4 -n $dev not clean"; }
  mount "$dev" "$MNT" || fail "mount $dev after fsck"
  echo "round $1 ($2): $(cat "$WORK/check.out"); fsck clean"
}

start=$SECONDS
for ((r = 1; r <= ROUNDS; r++)); do
  start_workload
  ms=$((RANDOM % 2500 + 500))
  sleep "$((ms / 1000)).$(printf '%03d' $((ms % 1000)))"
  if ((r % 2)); then
    kind="power cut ${ms} ms in"
    power_cut
  else
    kind="target kill ${ms} ms in"
    kill_round
  fi
  verify "$r" "$kind"
done
echo "$ROUNDS rounds in $((SECONDS - start)) s; $(wc -l <"$ACKED") records acknowledged in all," \
  "reconnects $(cat "/sys/block/${dev#/dev/}/rdmablk/reconnects"), io_errors $(cat "/sys/block/${dev#/dev/}/rdmablk/io_errors")"
umount "$MNT" || fail "umount $MNT"
"$CLI" unmap "$dev" || fail "unmap"
stop_target "$t_PID" || fail "target exit status $? on SIGTERM"
umount "$BACK" || fail "umount backing"
fsck.ext4 -n -f "$(back_dev "$cur")" >"$WORK/fsck.out" 2>&1 || { cat "$WORK/fsck.out" >&2; fail "backing file system not clean"; }
echo "ok: the backing file system is clean"
check_dmesg
echo "PASS"
