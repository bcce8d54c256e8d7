#!/usr/bin/env bash
# Malformed and out-of-bounds NBD traffic (tests/integration/nbd_hostile.py)
# against RAM and file exports: protocol errors or clean disconnects, no byte
# outside an export touched, the target up and serving others throughout.
source "$(dirname "$0")/lib.sh"
require python3

truncate -s 8M "$WORK/disk.img"
start_target t --export scratch=ram:8M --export "vol0=$WORK/disk.img" --export ro=ram:1M,ro \
  --export bystander=ram:8M

# A well-behaved client keeps copying to its own export while the hostile
# one attacks the others.
if command -v nbdcopy >/dev/null; then
  random_file "$WORK/src.bin" 8
  ( for i in 1 2 3 4 5; do
      nbdcopy "$WORK/src.bin" "nbd://127.0.0.1:$t_PORT/bystander" || exit 1
      nbdcopy "nbd://127.0.0.1:$t_PORT/bystander" "$WORK/back.bin" || exit 1
      cmp -s "$WORK/src.bin" "$WORK/back.bin" || exit 2
    done ) &
  bystander=$!
fi

for exp in scratch vol0; do
  python3 "$RDMABLK_SRC/tests/integration/nbd_hostile.py" "$t_PORT" "$exp" $((8 << 20)) ro ||
    fail "hostile client against $exp"
done

[ "$(stat -c %s "$WORK/disk.img")" = $((8 << 20)) ] || fail "backing file size changed"
if [ -n "${bystander:-}" ]; then
  wait "$bystander" || fail "a well-behaved client saw errors during the attack"
fi
assert_alive "$t_PID" "$t_LOG"
grep -Eq "Assertion|core dumped|AddressSanitizer|runtime error:|terminate called" "$t_LOG" && fail "target log shows a crash: $(cat "$t_LOG")"
echo PASS
