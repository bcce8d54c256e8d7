#!/usr/bin/env bash
# --metrics: curl scrapes the Prometheus endpoint; the request, byte and
# latency figures of the export move with I/O (nbdcopy writes, rdmablk get
# reads, both over NBD), errors count (a hostile client), an open session shows in the sessions gauge,
# `promtool check metrics` accepts the exposition, other paths and methods
# get 404/405, and bad --metrics values or a taken port get a clear error.
source "$(dirname "$0")/lib.sh"
require curl promtool nbdcopy
[ -x "$CLI" ] || fail "no CLI at $CLI"

truncate -s 32M "$WORK/disk.img"
start_target t --no-rdma --export scratch=ram:64M --export "vol0=$WORK/disk.img" --export ro=ram:1M,ro \
  --metrics 127.0.0.1:0
mport=$(sed -n 's/^metrics=//p' "$WORK/t.ports")
[ -n "$mport" ] || fail "no metrics= line in the port file"
murl=http://127.0.0.1:$mport/metrics
url=nbd://127.0.0.1:$t_PORT

# scrape, metric, expect: tests/integration/lib.sh
check_format() {
  promtool check metrics <"$WORK/scrape.txt" >"$WORK/promtool.txt" 2>&1 \
    || { cat "$WORK/promtool.txt" >&2; fail "promtool check metrics"; }
}

scrape
check_format
nbd='export="vol0",transport="nbd"'
expect rdmablk_exports '' == 3
expect rdmablk_requests_total "$nbd,op=\"write\"" == 0
expect rdmablk_written_bytes_total "$nbd" == 0
expect rdmablk_sessions "$nbd" == 0

random_file "$WORK/in.bin" 16
nbdcopy --flush "$WORK/in.bin" "$url/vol0" || fail "nbdcopy into vol0"
"$CLI" get "$url/vol0" "$WORK/out.bin" --length 16M || fail "rdmablk get"
same_bytes "$WORK/in.bin" "$WORK/out.bin" "vol0"
scrape
check_format
expect rdmablk_written_bytes_total "$nbd" == $((16 << 20))
expect rdmablk_read_bytes_total "$nbd" '>=' $((16 << 20))
expect rdmablk_requests_total "$nbd,op=\"write\"" '>' 0
expect rdmablk_requests_total "$nbd,op=\"read\"" '>' 0
expect rdmablk_requests_total "$nbd,op=\"flush\"" '>' 0
expect rdmablk_request_errors_total "$nbd,op=\"write\"" == 0
writes=$(metric rdmablk_requests_total "$nbd,op=\"write\"")
expect rdmablk_request_duration_seconds_count "$nbd" '>=' "$writes"
expect rdmablk_request_duration_seconds_bucket "$nbd,le=\"+Inf\"" == "$(metric rdmablk_request_duration_seconds_count "$nbd")"
expect rdmablk_request_duration_seconds_sum "$nbd" '>' 0
expect rdmablk_written_bytes_total 'export="scratch",transport="nbd"' == 0

# Errors count too: the hostile client's writes to the read-only export
# (EPERM) and requests past the end of the writable one.
python3 "$RDMABLK_SRC/tests/integration/nbd_hostile.py" "$t_PORT" scratch $((64 << 20)) ro >"$WORK/hostile.log" 2>&1 \
  || { cat "$WORK/hostile.log" >&2; fail "nbd_hostile.py"; }
scrape
check_format
expect rdmablk_request_errors_total 'export="ro",transport="nbd",op="write"' '>' 0
expect rdmablk_written_bytes_total 'export="ro",transport="nbd"' == 0

# A session held open shows in the gauges.
"$CLI" bench "$url/scratch" --rw randread --bs 4k --qd 4 --time 3 >"$WORK/bench.log" 2>&1 &
bench=$!
seen=0
for _ in $(seq 1 40); do
  scrape
  if [ "$(metric rdmablk_sessions 'export="scratch",transport="nbd"')" -ge 1 ] 2>/dev/null; then seen=1; break; fi
  sleep 0.1
done
wait "$bench" || { cat "$WORK/bench.log" >&2; fail "rdmablk bench"; }
[ "$seen" = 1 ] || fail "an open session never showed in rdmablk_sessions"
expect rdmablk_queues 'transport="nbd"' '>=' 1
scrape
check_format
expect rdmablk_sessions 'export="scratch",transport="nbd"' == 0
expect rdmablk_requests_total 'export="scratch",transport="nbd",op="read"' '>' 0

# HTTP edges: only GET/HEAD of /metrics.
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$mport/")" = 404 ] || fail "/ is not 404"
[ "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$murl")" = 405 ] || fail "POST is not 405"
[ "$(curl -s -o /dev/null -w '%{http_code}' -I "$murl")" = 200 ] || fail "HEAD is not 200"
curl -fsS --max-time 10 "$murl" "$murl" >/dev/null || fail "two scrapes on one keep-alive connection"
assert_alive "$t_PID" "$t_LOG"

# Bad values are refused up front, with the reason.
for bad in nonsense 127.0.0.1 127.0.0.1:99999 '::1:9100' 'host.example:9100' '[::1'; do
  rc=0
  "$TARGET" --no-rdma --export x=ram:1M --metrics "$bad" >"$WORK/bad.log" 2>&1 || rc=$?
  [ "$rc" -eq 2 ] || fail "--metrics '$bad': exit $rc, not 2"
  grep -q "bad metrics address" "$WORK/bad.log" || { cat "$WORK/bad.log" >&2; fail "--metrics '$bad': no reason"; }
done
rc=0
"$TARGET" --no-rdma --nbd-port 0 --export x=ram:1M --metrics "127.0.0.1:$mport" >"$WORK/taken.log" 2>&1 || rc=$?
[ "$rc" -eq 1 ] || fail "metrics port in use: exit $rc, not 1"
grep -q "metrics: cannot listen" "$WORK/taken.log" || { cat "$WORK/taken.log" >&2; fail "port in use: no reason"; }
stop_target "$t_PID" || fail "target exit status $?"
echo PASS
