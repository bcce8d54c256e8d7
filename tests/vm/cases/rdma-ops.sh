#!/usr/bin/env bash
# Operations over Soft-RoCE: an RDMA session (rdmablk-stress, every byte
# compared) keeps doing I/O through SIGHUP reloads that add exports; the
# added RAM export (not registered: bounce buffers) and file export serve
# RDMA; the metrics endpoint counts the RDMA requests, bytes, sessions,
# queues, bounce buffers and a refused login, and promtool accepts it; then
# the service's ExecStart under the unit's sandbox (bubblewrap) serves RDMA.
source "$(dirname "$0")/../rdma-lib.sh"
require curl promtool

truncate -s 64M "$WORK/disk.img" "$WORK/disk2.img"
conf=$WORK/target.toml
exports() {
  printf '[target]\nmetrics = "127.0.0.1:0"\n'
  printf '[[export]]\nname = "kept"\nram = "64M"\n'
  printf '[[export]]\nname = "file0"\npath = "%s"\n' "$WORK/disk.img"
  printf '%s\n' "$@"
}
exports >"$conf"
start_rdma_target t --config "$conf"
murl=http://127.0.0.1:$(sed -n 's/^metrics=//p' "$WORK/t.ports")/metrics
reloads() { grep -c 'reload: added' "$t_LOG" || true; }
reload_to() {
  local before
  before=$(reloads)
  exports "$@" >"$conf"
  kill -HUP "$t_PID"
  for _ in $(seq 1 200); do
    [ "$(reloads)" -gt "$before" ] && return 0
    assert_alive "$t_PID" "$t_LOG"
    sleep 0.1
  done
  fail "no reload within 20 s"
}

echo "== an RDMA session through reloads"
timeout 300 "$STRESS" "$t_URL/kept" --mode command --qd 1 --queues 2 --span 16M --bytes 128M \
  --min-bs 4k --max-bs 64k >"$WORK/stress.log" 2>&1 &
stress_pid=$!
during=0
for round in 1 2 3 4; do
  if [ $((round % 2)) = 1 ]; then
    reload_to '[[export]]' 'name = "added"' 'ram = "32M"' '[[export]]' 'name = "file2"' "path = \"$WORK/disk2.img\""
  else
    reload_to
  fi
  kill -0 "$stress_pid" 2>/dev/null && during=$((during + 1))
  sleep 0.5
done
finish_client "$stress_pid" "$WORK/stress.log" "the RDMA session failed across reloads"
[ "$during" -ge 2 ] || fail "only $during reload(s) happened while the session ran"
echo "ok: $during reloads while the RDMA session ran"

echo "== exports added by a reload serve RDMA"
reload_to '[[export]]' 'name = "added"' 'ram = "32M"' '[[export]]' 'name = "file2"' "path = \"$WORK/disk2.img\""
"$CLI" discover "$t_URL" | tee "$WORK/discover"
grep -q added "$WORK/discover" && grep -q file2 "$WORK/discover" || fail "added exports not discovered"
stress "$t_URL/added" command 8 2 32M 32M
stress "$t_URL/file2" command 8 2 32M 32M
stress "$t_URL/file0" command 16 1 32M 32M

echo "== metrics"
expect_fail "login to a missing export" "unknown export|no such export" "$CLI" info "$t_URL/nosuch"
scrape
promtool check metrics <"$WORK/scrape.txt" || fail "promtool check metrics"
kept='export="kept",transport="rdma"'
expect rdmablk_requests_total "$kept,op=\"write\"" '>' 0
expect rdmablk_requests_total "$kept,op=\"read\"" '>' 0
expect rdmablk_written_bytes_total "$kept" '>=' $((128 << 20))
expect rdmablk_read_bytes_total 'export="added",transport="rdma"' '>=' $((32 << 20))
expect rdmablk_written_bytes_total 'export="file2",transport="rdma"' '>=' $((32 << 20))
expect rdmablk_request_duration_seconds_count "$kept" '>' 0
expect rdmablk_bounce_buffers '' '>' 0
expect rdmablk_bounce_buffers_in_use '' == 0
expect rdmablk_login_rejects_total 'reason="unknown_export"' '>=' 1
expect rdmablk_sessions "$kept" == 0
expect rdmablk_reloads_total '' '>=' 5
# --queues counts queue 0 too: one session of 3 queue pairs.
"$CLI" bench "$t_URL/kept" --rw randread --bs 4k --qd 4 --queues 3 --time 6 >"$WORK/bench.log" 2>&1 &
bench=$!
seen=0
for _ in $(seq 1 50); do
  scrape
  sessions=$(metric rdmablk_sessions "$kept") queues=$(metric rdmablk_queues 'transport="rdma"')
  [ "$sessions" = 1 ] && [ "$queues" -ge 3 ] && { seen=1; break; }
  sleep 0.1
done
wait "$bench" || { cat "$WORK/bench.log" >&2; fail "bench"; }
[ "$seen" = 1 ] || fail "the bench's session and queues never showed (last: sessions $sessions, queues $queues)"
echo "ok: a session of 3 queues showed in rdmablk_sessions ($sessions) and rdmablk_queues ($queues)"
stop_target "$t_PID" || { cat "$t_LOG" >&2; fail "target did not shut down cleanly"; }

echo "== the service's command line under its sandbox, over RDMA"
if ! command -v bwrap >/dev/null; then
  echo "skipped: no bwrap in the guest"
else
  unit=$RDMABLK_SRC/dist/systemd/rdmablk-target.service.in
  caps=(--cap-drop ALL)
  for c in $(sed -n 's/^CapabilityBoundingSet=//p' "$unit"); do caps+=(--cap-add "$c"); done
  srv=$WORK/srv
  mkdir -p "$srv"
  truncate -s 32M "$srv/vol0.img"
  printf '[target]\nlisten = "%s"\nnbd_port = 0\nrdma_port = 0\n[[export]]\nname = "vol0"\npath = "%s"\n[[export]]\nname = "ram0"\nram = "32M"\n' \
    "$TARGET_LISTEN" "$srv/vol0.img" >"$WORK/sandbox.toml"
  bwrap --ro-bind / / --dev-bind /dev /dev --proc /proc --tmpfs /tmp --tmpfs /home --tmpfs /root \
    --ro-bind "$WORK/sandbox.toml" "$WORK/sandbox.toml" --bind "$srv" "$srv" \
    --unshare-ipc --unshare-uts --die-with-parent --new-session "${caps[@]}" \
    -- "$TARGET" --config "$WORK/sandbox.toml" --port-file "$srv/ports" >"$WORK/sandbox.log" 2>&1 &
  sb=$!
  TARGET_PIDS+=("$sb")
  for _ in $(seq 1 300); do [ -s "$srv/ports" ] && break; kill -0 "$sb" || break; sleep 0.1; done
  # bwrap waits for the target: signals go to the target itself ($MAINPID).
  main=$(cat /proc/"$sb"/task/*/children 2>/dev/null | awk '{print $1; exit}')
  [ "$(cat /proc/"$main"/comm 2>/dev/null)" = rdmablk-target ] || fail "no target process under bwrap"
  grep -q '^rdma=' "$srv/ports" 2>/dev/null || { cat "$WORK/sandbox.log" >&2; fail "sandboxed target serves no RDMA"; }
  surl=rdma://$TARGET_LISTEN:$(sed -n 's/^rdma=//p' "$srv/ports")
  stress "$surl/vol0" command 8 2 16M 16M
  stress "$surl/ram0" direct 8 2 16M 16M
  grep -q "registered" "$WORK/sandbox.log" || { cat "$WORK/sandbox.log" >&2; fail "RAM export not registered (pinned) in the sandbox"; }
  kill -TERM "$main"
  wait "$sb" || { cat "$WORK/sandbox.log" >&2; fail "sandboxed target exit $?"; }
  echo "ok: sandboxed target served RDMA (file in command mode, RAM in direct mode)"
fi
check_dmesg
echo PASS
