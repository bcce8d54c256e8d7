#!/usr/bin/env bash
# 64 sessions at once against one target, over Soft-RoCE, each at queue
# depth 32 with 4K random reads and writes (50/50) for RDMABLK_LOAD_SECONDS
# (default 60):
#   RDMABLK_LOAD_KDEVS (8) kernel devices /dev/rdmablkN (command mode, one
#     queue of depth 32), one fio job each;
#   RDMABLK_LOAD_DIRECT (8) `rdmablk bench` processes in direct mode;
#   the rest (48) `rdmablk bench` processes in command mode.
# Then: no errors (every bench exits 0, every fio job has error 0), no
# starvation (every session's IOPS at least RDMABLK_LOAD_BAND (0.4) x the mean
# of its kind, kernel or direct, and RDMABLK_LOAD_BAND_COMMAND (0.25) x the
# mean of the librdmablk command sessions, which 48 processes on 2 emulated
# CPUs spread wider: docs/reliability.md), the target's memory flat (VmRSS at
# the end within 5% + 8 MiB of the sample taken once every session is up),
# every session still logged in at the end, and a clean kernel log.
source "$(dirname "$0")/../kmod-lib.sh"
require fio python3
SECS=${RDMABLK_LOAD_SECONDS:-60}
KDEVS=${RDMABLK_LOAD_KDEVS:-8}
NDIRECT=${RDMABLK_LOAD_DIRECT:-8}
BAND=${RDMABLK_LOAD_BAND:-0.4}
BAND_COMMAND=${RDMABLK_LOAD_BAND_COMMAND:-0.25}
TOTAL=64
NCMD=$((TOTAL - KDEVS - NDIRECT))
[ "$NCMD" -ge 0 ] || fail "more kernel and direct sessions than $TOTAL"

exports=()
for i in $(seq 0 $((KDEVS - 1))); do exports+=(--export "k$i=ram:16M"); done
for i in 0 1 2 3; do exports+=(--export "c$i=ram:32M"); done
for i in 0 1; do exports+=(--export "d$i=ram:32M"); done
start_rdma_target t --threads 2 "${exports[@]}"
rss() { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\).*/\1/p' "/proc/$t_PID/status"; }
echo "target VmRSS after start-up: $(rss) kB"

devs=()
for i in $(seq 0 $((KDEVS - 1))); do
  dev=$("$CLI" map "$t_URL/k$i" --mode command --queues 1 --qd 32) || fail "map k$i"
  devs+=("$dev")
done
echo "mapped ${#devs[@]} kernel devices: ${devs[*]}"

echo "== $TOTAL sessions for $SECS s: $KDEVS kernel (fio), $NCMD librdmablk command, $NDIRECT librdmablk direct; 4K randrw QD32"
pids=()
for i in $(seq 1 "$NCMD"); do
  timeout $((SECS + 120)) "$CLI" bench "$t_URL/c$((i % 4))" --mode command --rw randrw --bs 4k --qd 32 \
    --time "$SECS" --json >"$WORK/command$i.json" 2>"$WORK/command$i.err" &
  pids+=($!)
done
for i in $(seq 1 "$NDIRECT"); do
  timeout $((SECS + 120)) "$CLI" bench "$t_URL/d$((i % 2))" --mode direct --rw randrw --bs 4k --qd 32 \
    --time "$SECS" --json >"$WORK/direct$i.json" 2>"$WORK/direct$i.err" &
  pids+=($!)
done
fio_args=()
for i in "${!devs[@]}"; do fio_args+=(--name="k$i" --filename="${devs[$i]}"); done
timeout $((SECS + 120)) fio --output-format=json --output="$WORK/fio.json" --ioengine=libaio --direct=1 \
  --rw=randrw --rwmixread=50 --bs=4k --iodepth=32 --time_based --runtime="$SECS" --randrepeat=0 \
  "${fio_args[@]}" >/dev/null 2>"$WORK/fio.err" &
fiopid=$!

# Memory once every session is up (all logged in), and near the end.
up=0
for _ in $(seq 1 $((SECS / 2))); do
  sleep 1
  up=$(grep -c "I/O queue(s) of depth" "$t_LOG" || true)
  [ "$up" -ge "$TOTAL" ] && break
done
t_up=$SECONDS
rss_up=$(rss)
echo "sessions logged in: $up after ${t_up}s of the case; target VmRSS $rss_up kB"
[ "$up" -ge "$TOTAL" ] || fail "only $up of $TOTAL sessions logged in"
sleep $((SECS / 2))
rss_mid=$(rss)
rc=0
wait "$fiopid" || rc=$?
[ "$rc" -eq 0 ] || { cat "$WORK/fio.err" >&2; fail "fio exit $rc"; }
bad=0
for p in "${pids[@]}"; do wait "$p" || bad=$((bad + 1)); done
rss_end=$(rss)
echo "target VmRSS: sessions up $rss_up kB, half-way $rss_mid kB, end $rss_end kB"
if [ "$bad" -gt 0 ]; then
  for f in "$WORK"/*.err; do [ -s "$f" ] && { echo "--- $f"; tail -n 3 "$f"; }; done >&2
  fail "$bad bench process(es) failed"
fi
assert_alive "$t_PID" "$t_LOG"

python3 - "$WORK" "$NCMD" "$NDIRECT" "$BAND" "$BAND_COMMAND" <<'EOF' || fail "sessions out of band, or errors"
import json, sys, statistics
work, ncmd, ndirect = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
bands = {"kernel": float(sys.argv[4]), "direct": float(sys.argv[4]), "command": float(sys.argv[5])}
kinds = {"kernel": [], "command": [], "direct": []}
errors = 0
fio = json.load(open(f"{work}/fio.json"))
for j in fio["jobs"]:
    errors += j["error"]
    kinds["kernel"].append(j["read"]["iops"] + j["write"]["iops"])
for kind, n in (("command", ncmd), ("direct", ndirect)):
    for i in range(1, n + 1):
        kinds[kind].append(json.load(open(f"{work}/{kind}{i}.json"))["total"]["iops"])
ok = errors == 0
print(f"{'kind':8} {'sessions':>8} {'IOPS sum':>9} {'mean':>7} {'min':>7} {'max':>7} {'min/mean':>8} {'max/mean':>8} {'cv':>5}")
for kind, v in kinds.items():
    if not v:
        continue
    m = statistics.mean(v)
    cv = statistics.pstdev(v) / m if m else 0
    print(f"{kind:8} {len(v):8} {sum(v):9.0f} {m:7.0f} {min(v):7.0f} {max(v):7.0f} {min(v)/m:8.2f} {max(v)/m:8.2f} {cv:5.2f}")
    if min(v) < bands[kind] * m:
        print(f"FAIL: a {kind} session got {min(v):.0f} IOPS, under {bands[kind]} x the mean {m:.0f}")
        ok = False
print(f"all sessions: {sum(len(v) for v in kinds.values())}, total IOPS {sum(sum(v) for v in kinds.values()):.0f}, fio errors {errors}")
sys.exit(0 if ok else 1)
EOF
echo "ok: every session at least $BAND x the mean of its kind ($BAND_COMMAND for librdmablk command), no errors"

# Memory flat: the end within 5% + 8 MiB of the sample once all were up.
limit=$((rss_up + rss_up / 20 + 8192))
[ "$rss_end" -le "$limit" ] || fail "target VmRSS grew from $rss_up to $rss_end kB (limit $limit)"
echo "ok: target memory flat ($rss_up -> $rss_end kB, limit $limit)"

for d in "${devs[@]}"; do "$CLI" unmap "$d" || fail "unmap $d"; done
if dmesg | grep -iE 'rdmablk.*(error|timed out|reconnect|dead)|I/O error' >&2; then fail "driver errors in dmesg"; fi
stop_target "$t_PID" || { tail -n 20 "$t_LOG" >&2; fail "target did not shut down cleanly"; }
check_dmesg
echo "case time: ${SECONDS} s"
echo PASS
