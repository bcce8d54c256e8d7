#!/usr/bin/env bash
# nbdcopy moves a file into RAM and file exports over several connections
# and back out again, byte for byte.
source "$(dirname "$0")/lib.sh"
require nbdcopy

random_file "$WORK/src.bin" 96
truncate -s 96M "$WORK/disk.img"
start_target t --export scratch=ram:96M --export "vol0=$WORK/disk.img"
url=nbd://127.0.0.1:$t_PORT

for exp in scratch vol0; do
  nbdcopy --connections=4 --requests=16 --flush "$WORK/src.bin" "$url/$exp" || fail "copy into $exp"
  nbdcopy --connections=4 "$url/$exp" "$WORK/back-$exp.bin" || fail "copy out of $exp"
  same_bytes "$WORK/src.bin" "$WORK/back-$exp.bin" "$exp round trip"
done
# The file export holds the bytes on disk too.
same_bytes "$WORK/src.bin" "$WORK/disk.img" "backing file"
echo PASS
