#!/usr/bin/env bash
# dist/systemd/rdmablk-target.service: systemd-analyze verify finds nothing
# to say about it; then its ExecStart line runs under the same restrictions,
# reproduced with bubblewrap where no systemd runs the unit (read-only
# system, hidden /home and /root, private /tmp, writable only the export
# directory, only the unit's capabilities, no new privileges), and must
# report READY=1 over $NOTIFY_SOCKET, serve its exports, reload on SIGHUP
# (ExecReload) with RELOADING=1 / READY=1, refuse a writable export outside
# ReadWritePaths, and stop cleanly with STOPPING=1.
source "$(dirname "$0")/lib.sh"
require systemd-analyze bwrap nbdcopy nbdinfo python3
unit_in=$RDMABLK_SRC/dist/systemd/rdmablk-target.service.in
[ -f "$unit_in" ] || fail "no $unit_in"
[ "$(id -u)" -eq 0 ] || skip "bubblewrap needs root here to drop to the unit's capabilities"

unit=$WORK/rdmablk-target.service
sed "s|@RDMABLK_TARGET@|$TARGET|" "$unit_in" >"$unit"
# verify exits 0 after warnings too (unknown keys are "ignored"): any output fails.
out=$(systemd-analyze verify --man=no "$unit" 2>&1) || fail "systemd-analyze verify: $out"
[ -z "$out" ] || fail "systemd-analyze verify complains: $out"
echo "systemd-analyze verify: clean"
if [ -d /run/systemd/system ]; then
  echo "note: systemd runs here, but the test does not install units into the host's systemd"
fi

# The unit's values, so the sandbox below follows the file, not a copy of it.
value() { sed -n "s/^$1=//p" "$unit"; }
exec_start=$(value ExecStart)
caps=$(value CapabilityBoundingSet)
[ "$(value ProtectSystem)" = strict ] || fail "unit lost ProtectSystem=strict"
[ "$(value ProtectHome)" = yes ] && [ "$(value PrivateTmp)" = yes ] && [ "$(value NoNewPrivileges)" = yes ] \
  || fail "unit lost ProtectHome/PrivateTmp/NoNewPrivileges"
[ "$(value Type)" = notify ] || fail "unit is not Type=notify"
[ "$(value ExecReload)" = '/bin/kill -HUP $MAINPID' ] || fail "ExecReload is not SIGHUP"
[ "$(value LimitMEMLOCK)" = infinity ] || fail "LimitMEMLOCK is not infinity"
read -r -a argv <<<"$exec_start"
[ "${argv[0]}" = "$TARGET" ] && [ "${argv[1]}" = --config ] && [ "${argv[2]}" = /etc/rdmablk/target.toml ] \
  || fail "unexpected ExecStart: $exec_start"

# ReadWritePaths stands in as $srv; the config as the unit's is read-only.
srv=$WORK/srv etc=$WORK/etc
mkdir -p "$srv" "$etc" "$WORK/outside"
truncate -s 32M "$srv/vol0.img"
conf=$etc/target.toml
write_conf() {
  {
    printf '[target]\nlisten = "127.0.0.1"\nnbd_port = 0\nrdma_port = -1\n'
    printf '[[export]]\nname = "vol0"\npath = "%s"\n' "$srv/vol0.img"
    printf '%s\n' "$@"
  } >"$conf"
}
write_conf
memlock=unlimited:unlimited nofile=1048576:1048576
prlimit --memlock="$memlock" true 2>/dev/null || memlock=$(ulimit -Hl):$(ulimit -Hl)
prlimit --nofile="$nofile" true 2>/dev/null || nofile=$(ulimit -Hn):$(ulimit -Hn)
cap_args=(--cap-drop ALL)
for c in $caps; do cap_args+=(--cap-add "$c"); done

# sandbox LOG ARGS...: the unit's process under the unit's restrictions
# (execs: call it in a subshell).
sandbox() {
  local log=$1
  shift
  # LimitMEMLOCK=infinity and LimitNOFILE, as far as this host lets root go.
  exec prlimit --memlock="$memlock" --nofile="$nofile" -- \
    bwrap --ro-bind / / --dev-bind /dev /dev --proc /proc \
      --tmpfs /tmp --tmpfs /home --tmpfs /root \
      --ro-bind "$etc" "$etc" --bind "$srv" "$srv" --ro-bind "$WORK/outside" "$WORK/outside" \
      --unshare-ipc --unshare-uts --die-with-parent --new-session "${cap_args[@]}" \
      --setenv NOTIFY_SOCKET "$srv/notify" \
      -- "$TARGET" --config "$conf" --port-file "$srv/ports" "$@" >"$log" 2>&1
}

python3 "$RDMABLK_SRC/tests/integration/notify_listen.py" "$srv/notify" 60 >"$WORK/notify.log" &
notify_pid=$!
TARGET_PIDS+=("$notify_pid")
for _ in $(seq 1 50); do grep -q LISTENING "$WORK/notify.log" && break; sleep 0.1; done

(sandbox "$WORK/target.log") &
bwrap_pid=$!
TARGET_PIDS+=("$bwrap_pid")
# bwrap forks the target and waits for it: signals go to the target itself,
# as systemd sends them to $MAINPID.
tpid=''
for _ in $(seq 1 100); do
  p=$bwrap_pid
  for _ in 1 2 3; do
    [ "$(cat /proc/"$p"/comm 2>/dev/null)" = rdmablk-target ] && { tpid=$p; break; }
    p=$(cat /proc/"$p"/task/*/children 2>/dev/null | awk '{print $1; exit}')
    [ -n "$p" ] || break
  done
  [ -n "$tpid" ] && break
  sleep 0.1
done
[ -n "$tpid" ] || fail "cannot find the target process under bwrap"
TARGET_PIDS+=("$tpid")
wait_notify() {  # wait_notify LINE COUNT: the COUNT-th LINE from the target
  for _ in $(seq 1 300); do
    [ "$(grep -c "^$1" "$WORK/notify.log" || true)" -ge "$2" ] && return 0
    kill -0 "$tpid" 2>/dev/null || { cat "$WORK/target.log" >&2; fail "target exited in its sandbox"; }
    sleep 0.1
  done
  cat "$WORK/target.log" "$WORK/notify.log" >&2
  fail "no $1 (#$2) from the target within 30 s"
}
wait_notify READY=1 1
port=$(sed -n 's/^nbd=//p' "$srv/ports")
url=nbd://127.0.0.1:$port
echo "sandboxed target ready: $(grep ^STATUS= "$WORK/notify.log" | tail -1)"

random_file "$WORK/in.bin" 32
nbdcopy --flush "$WORK/in.bin" "$url/vol0" || fail "copy into vol0 under the sandbox"
nbdcopy "$url/vol0" "$WORK/out.bin" || fail "copy out of vol0"
same_bytes "$WORK/in.bin" "$WORK/out.bin" "vol0 round trip"
same_bytes "$WORK/in.bin" "$srv/vol0.img" "vol0 backing file"

# systemctl reload = ExecReload = SIGHUP to the main process.
write_conf '[[export]]' 'name = "scratch"' 'ram = "16M"'
kill -HUP "$tpid"
wait_notify RELOADING=1 1
wait_notify READY=1 2
nbdinfo --list "$url" | grep -q 'export="scratch"' || fail "reloaded export not served"
nbdcopy "$WORK/in.bin" "$url/scratch" 2>/dev/null && fail "32 MiB fit a 16 MiB export"
head -c 16M "$WORK/in.bin" >"$WORK/in16.bin"
nbdcopy "$WORK/in16.bin" "$url/scratch" || fail "copy into the reloaded export"
nbdcopy "$url/scratch" "$WORK/out16.bin" || fail "copy out of the reloaded export"
same_bytes "$WORK/in16.bin" "$WORK/out16.bin" "scratch round trip"

kill -TERM "$tpid"
rc=0
wait "$bwrap_pid" || rc=$?
[ "$rc" -eq 0 ] || { cat "$WORK/target.log" >&2; fail "target exit status $rc after SIGTERM"; }
wait_stopping() { grep -q '^STOPPING=1' "$WORK/notify.log"; }
for _ in $(seq 1 20); do wait_stopping && break; sleep 0.1; done
wait_stopping || fail "no STOPPING=1 at shutdown"

# The sandbox holds: a writable export outside ReadWritePaths cannot open.
truncate -s 1M "$WORK/outside/disk.img"
write_conf "[[export]]" 'name = "outside"' "path = \"$WORK/outside/disk.img\""
rm -f "$srv/ports"
rc=0
(sandbox "$WORK/target2.log") || rc=$?
[ "$rc" -eq 2 ] || { cat "$WORK/target2.log" >&2; fail "export outside ReadWritePaths: exit $rc, not 2"; }
grep -qi 'read-only file system' "$WORK/target2.log" || { cat "$WORK/target2.log" >&2; fail "no EROFS in the error"; }
echo "outside ReadWritePaths: $(grep -i 'read-only' "$WORK/target2.log" | head -1)"
echo PASS
