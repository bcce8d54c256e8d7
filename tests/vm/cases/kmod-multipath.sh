#!/usr/bin/env bash
# dm-multipath across two gateways of one shared file, with the real
# multipath-tools (tests/vm/multipath-lib.sh, mp_run): both targets declare
# serial=mp-vol for the file, the kernel driver maps it through each with
# --fast-io-fail-tmo 1, both disks show wwid rdmablk.mp-vol and udev
# ID_SERIAL/ID_WWN, multipathd (dist/multipath/rdmablk.conf) makes one map;
# fio crc32c-verified writes on it survive SIGKILL of gateway A with zero
# errors (the slowest write is the failover time), A's path is reinstated
# after its restart, and the pass that verifies every block survives
# SIGKILL of gateway B, moving back onto A. Before that: an export without
# a serial has no wwid. dmesg stays clean.
source "$(dirname "$0")/../multipath-lib.sh"
started=$SECONDS

echo "== no identity without a serial"
start_rdma_target t --export solo=ram:8M
solo=$("$CLI" map "$t_URL/solo") || fail "map solo"
[ ! -e "/sys/block/${solo#/dev/}/wwid" ] || fail "$solo has a wwid without a serial"
[ -z "$(cat /sys/block/"${solo#/dev/}"/rdmablk/serial)" ] || fail "$solo has a serial"
[ "$(cat /sys/block/"${solo#/dev/}"/rdmablk/fast_io_fail_tmo)" = -1 ] || fail "$solo: fast_io_fail_tmo is not off"
expect_fail "--fast-io-fail-tmo 3601" "fast-io-fail-tmo must be" "$CLI" map "$t_URL/solo" --fast-io-fail-tmo 3601
expect_fail "--fast-io-fail-tmo -2" "fast-io-fail-tmo must be" "$CLI" map "$t_URL/solo" --fast-io-fail-tmo -2
udevadm settle --timeout=60 || fail "udevadm settle"
udevadm info --query=property --name="$solo" | grep -q '^ID_WWN=' && fail "$solo has an ID_WWN"
"$CLI" unmap "$solo" || fail "unmap $solo"
stop_target "$t_PID" || fail "target t did not shut down cleanly"
echo "ok: $solo had no wwid, serial or ID_WWN"

truncate -s 192M "$WORK/shared.img"
mp_run "vol=$WORK/shared.img,serial=mp-vol" mp-vol $((192 << 20)) 160M

rmmod rdmablk || fail "rmmod"
check_dmesg
echo "PASS in $((SECONDS - started)) s"
