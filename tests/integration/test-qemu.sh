#!/usr/bin/env bash
# qemu-img and qemu-io (QEMU's NBD client) read and write through the target:
# convert an image in, verify patterns at unaligned places, compare.
source "$(dirname "$0")/lib.sh"
require qemu-img qemu-io

random_file "$WORK/src.raw" 32
truncate -s 32M "$WORK/disk.img"
start_target t --export "vol0=$WORK/disk.img" --export ro=ram:8M,ro
url=nbd://127.0.0.1:$t_PORT

qemu-img info "$url/vol0" | grep -q "virtual size: 32 MiB" || fail "qemu-img info size"
qemu-img convert -n -f raw -O raw "$WORK/src.raw" "$url/vol0" || fail "convert in"
qemu-img compare -f raw -F raw "$WORK/src.raw" "$url/vol0" || fail "compare after convert"

# Patterns at odd offsets and sizes, FUA writes, zeroes and discard.
qemu-io -f raw "$url/vol0" \
  -c "write -P 0xa5 512 3584" \
  -c "write -P 0x5a -f 1M 64k" \
  -c "write -z 2M 128k" \
  -c "flush" >/dev/null || fail "qemu-io writes"
qemu-io -f raw -r "$url/vol0" \
  -c "read -P 0xa5 512 3584" \
  -c "read -P 0x5a 1M 64k" \
  -c "read -P 0 2M 128k" | tee "$WORK/io.log" >/dev/null
grep -q "Pattern verification failed" "$WORK/io.log" && fail "qemu-io pattern mismatch"

# Bytes qemu-io did not touch still hold the source image.
cmp -n 512 "$WORK/src.raw" "$WORK/disk.img" || fail "bytes before first write changed"
cmp -i $((4096)):$((4096)) -n $((1024 * 1024 - 4096)) "$WORK/src.raw" "$WORK/disk.img" || fail "bytes between writes changed"

# A read-only export refuses writes and is left unchanged.
qemu-io -f raw "$url/ro" -c "write -P 0x11 0 4k" >"$WORK/ro.log" 2>&1 || true
grep -qi "permission\|read-only\|not permitted" "$WORK/ro.log" || fail "write to read-only export not refused: $(cat "$WORK/ro.log")"
qemu-io -f raw -r "$url/ro" -c "read -P 0 0 4k" | grep -q "Pattern verification failed" && fail "read-only export changed"
assert_alive "$t_PID" "$t_LOG"
echo PASS
