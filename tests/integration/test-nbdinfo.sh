#!/usr/bin/env bash
# nbdinfo (libnbd) sees each export as configured: size, read-only flag,
# block size, flush/trim/zero support, and the export list.
source "$(dirname "$0")/lib.sh"
require nbdinfo

truncate -s 48M "$WORK/disk.img"
start_target t \
  --export "scratch=ram:64M,desc=scratch space" \
  --export "ro=ram:16M,ro" \
  --export "vol0=$WORK/disk.img,bs=4096"

url=nbd://127.0.0.1:$t_PORT

[ "$(nbdinfo --size "$url/scratch")" = $((64 << 20)) ] || fail "scratch size"
[ "$(nbdinfo --size "$url/vol0")" = $((48 << 20)) ] || fail "vol0 size"
nbdinfo --is read-only "$url/ro" || fail "ro export not read-only"
nbdinfo --is read-only "$url/scratch" && fail "scratch export read-only"
nbdinfo --can flush "$url/vol0" || fail "vol0 cannot flush"
nbdinfo --can trim "$url/vol0" || fail "vol0 cannot trim"
nbdinfo --can zero "$url/scratch" || fail "scratch cannot zero"
nbdinfo --can multi-conn "$url/scratch" || fail "scratch not multi-conn"

json=$(nbdinfo --json "$url/vol0")
python3 - "$json" <<'PY' || fail "vol0 details: $json"
import json, sys
exp = json.loads(sys.argv[1])["exports"][0]
assert exp["export-size"] == 48 << 20, exp
assert exp["block_size_preferred"] >= 4096, exp
assert exp["block_size_maximum"] >= 1 << 20, exp
PY

list=$(nbdinfo --list --json "$url")
python3 - "$list" <<'PY' || fail "export list: $list"
import json, sys
names = sorted(e["export-name"] for e in json.loads(sys.argv[1])["exports"])
assert names == ["ro", "scratch", "vol0"], names
PY
nbdinfo "$url/scratch" | grep -q "description: scratch space" || fail "description missing"

# An unknown export is refused, and the target stays up for others.
nbdinfo "$url/nosuch" >/dev/null 2>&1 && fail "unknown export accepted"
assert_alive "$t_PID" "$t_LOG"
nbdinfo --size "$url/scratch" >/dev/null || fail "target unusable after a refusal"
echo PASS
