#!/usr/bin/env bash
# SIGHUP reloads the export list while a session does I/O: the session of
# an unchanged export (rdmablk-stress over NBD, every byte compared) runs on
# through reloads that add, remove and change other exports; the added
# export is then served, the removed one refuses new sessions, the changed
# one shows its new size, and a config that cannot load changes nothing.
source "$(dirname "$0")/lib.sh"
require nbdinfo nbdcopy
STRESS=$RDMABLK_BIN/rdmablk-stress
[ -x "$STRESS" ] || fail "no $STRESS (build the rdmablk-stress target)"

conf=$WORK/target.toml
base() {
  cat <<TOML
[[export]]
name = "kept"
ram = "256M"
TOML
}
{ base; printf '[[export]]\nname = "gone"\nram = "8M"\n[[export]]\nname = "resized"\nram = "8M"\n'; } >"$conf"
start_target t --no-rdma --config "$conf"
url=nbd://127.0.0.1:$t_PORT

reloads_done() { grep -c 'reload: added' "$t_LOG" || true; }
# reload_to CONTENT: writes the config, sends SIGHUP, waits for the log line.
reload_to() {
  local before
  before=$(reloads_done)
  printf '%s\n' "$1" >"$conf"
  kill -HUP "$t_PID"
  for _ in $(seq 1 100); do
    [ "$(reloads_done)" -gt "$before" ] && return 0
    assert_alive "$t_PID" "$t_LOG"
    sleep 0.05
  done
  cat "$t_LOG" >&2
  fail "no reload within 5 s"
}

# A long session on "kept": queue depth 1, 4 KiB writes, then a full read-back.
"$STRESS" "$url/kept" --bytes 256M --span 64M --min-bs 4k --max-bs 4k --qd 1 --queues 1 \
  >"$WORK/stress.log" 2>&1 &
stress=$!
during=0
for round in 1 2 3 4 5 6; do
  case $round in
    1|3|5) reload_to "$(base; printf '[[export]]\nname = "added"\nram = "16M"\n[[export]]\nname = "resized"\nram = "12M"\n')" ;;
    *) reload_to "$(base; printf '[[export]]\nname = "gone"\nram = "8M"\n[[export]]\nname = "resized"\nram = "8M"\n')" ;;
  esac
  kill -0 "$stress" 2>/dev/null && during=$((during + 1))
  sleep 0.2
done
finish_client "$stress" "$WORK/stress.log" "the session on 'kept' failed across reloads"
[ "$during" -ge 2 ] || skip "the session ended after $during reload(s): too fast to overlap here"
echo "reloads while the session ran: $during"

# The last reload (round 6) restored "gone"; add "added" again and check
# what new sessions see.
reload_to "$(base; printf '[[export]]\nname = "added"\nram = "16M"\n[[export]]\nname = "resized"\nram = "12M"\n')"
list=$(nbdinfo --list "$url")
grep -q 'export="added"' <<<"$list" || fail "added export not listed: $list"
grep -q 'export="gone"' <<<"$list" && fail "removed export still listed"
nbdinfo "$url/gone" >/dev/null 2>&1 && fail "removed export accepted a new session"
[ "$(nbdinfo --size "$url/resized")" = $((12 << 20)) ] || fail "changed export has not its new size"
random_file "$WORK/in.bin" 16
nbdcopy "$WORK/in.bin" "$url/added" || fail "copy into the added export"
nbdcopy "$url/added" "$WORK/out.bin" || fail "copy out of the added export"
same_bytes "$WORK/in.bin" "$WORK/out.bin" "added export"

# A config that does not load changes nothing.
printf 'this is not toml\n' >"$conf"
kill -HUP "$t_PID"
for _ in $(seq 1 100); do
  grep -q 'reload refused' "$t_LOG" && break
  sleep 0.05
done
grep -q 'reload refused' "$t_LOG" || fail "bad config not refused"
nbdinfo --list "$url" | grep -q 'export="added"' || fail "a refused reload changed the exports"
stop_target "$t_PID" || fail "target exit status $?"
echo PASS
