#!/usr/bin/env bash
# The control device trusts nothing from userspace: each malformed ioctl on
# /dev/rdmablk-control gets its documented errno (docs/kernel.md) and leaves
# no device behind; a well-formed MAP/LIST/UNMAP round trip works.
source "$(dirname "$0")/../kmod-lib.sh"
start_rdma_target t --export ram0=ram:16M
python3 - "$TARGET_LISTEN" "$t_RDMA_PORT" <<'PY' || fail "ioctl checks"
import errno, fcntl, os, socket, struct, sys

MAP_FMT = "<IIHHI16s128s64sIHHIIiIII32s1024s"
assert struct.calcsize(MAP_FMT) == 1312
def IOC(d, nr, size): return (d << 30) | (size << 16) | (0xd8 << 8) | nr
MAP, UNMAP, LIST = IOC(3, 1, 1312), IOC(1, 2, 16), IOC(3, 3, 32)
fd = os.open("/dev/rdmablk-control", os.O_RDWR)
ip, port = socket.inet_aton(sys.argv[1]) + bytes(12), int(sys.argv[2])

def mapreq(**kw):
    f = dict(version=1, flags=0, family=socket.AF_INET, port=port, scope=0, addr=ip,
             name=b"ram0", host=b"ioctl-test", secret_len=0, queues=1, qd=8, mode=0,
             delay=0, tmo=0, io_timeout=0, index=0, status=0, rsvd1=bytes(32), secret=b"")
    f.update(kw)
    return bytearray(struct.pack(MAP_FMT, *f.values()))

def expect(what, err, req, buf):
    try:
        fcntl.ioctl(fd, req, buf)
    except OSError as e:
        if e.errno != err:
            sys.exit(f"{what}: errno {errno.errorcode[e.errno]}, expected {errno.errorcode[err]}")
        print(f"ok: {what}: {errno.errorcode[err]}")
        return
    sys.exit(f"{what}: accepted")

expect("MAP version 2", errno.EPROTONOSUPPORT, MAP, mapreq(version=2))
expect("MAP unknown flag", errno.EINVAL, MAP, mapreq(flags=4))
expect("MAP family AF_UNIX", errno.EAFNOSUPPORT, MAP, mapreq(family=socket.AF_UNIX))
expect("MAP IPv4 with junk after the address", errno.EINVAL, MAP, mapreq(addr=ip[:4] + b"\1" + bytes(11)))
expect("MAP address all zero", errno.EDESTADDRREQ, MAP, mapreq(addr=bytes(16)))
expect("MAP empty export name", errno.EINVAL, MAP, mapreq(name=b""))
expect("MAP export name with a space", errno.EINVAL, MAP, mapreq(name=b"ram 0"))
expect("MAP export name with a NUL inside", errno.EINVAL, MAP, mapreq(name=b"ram\0x"))
expect("MAP host id not printable", errno.EINVAL, MAP, mapreq(host=b"h\x01"))
expect("MAP secret_len 1025", errno.EINVAL, MAP, mapreq(secret_len=1025))
expect("MAP secret bytes past secret_len", errno.EINVAL, MAP, mapreq(secret_len=1, secret=b"ab"))
expect("MAP 256 queues", errno.EINVAL, MAP, mapreq(queues=256))
expect("MAP queue depth 1024", errno.EINVAL, MAP, mapreq(qd=1024))
expect("MAP mode 7", errno.EINVAL, MAP, mapreq(mode=7))
expect("MAP ctrl_loss_tmo -2", errno.EINVAL, MAP, mapreq(tmo=-2))
expect("MAP io_timeout 3601", errno.EINVAL, MAP, mapreq(io_timeout=3601))
# the old rsvd1 is poll_queues (0..64), rsvd0, fast_io_fail_tmo, rsvd1 now
def tail(poll=0, rsvd0=0, fast=0, rest=bytes(24)): return struct.pack("<HHI", poll, rsvd0, fast) + rest
expect("MAP poll_queues 65", errno.EINVAL, MAP, mapreq(rsvd1=tail(poll=65)))
expect("MAP rsvd0", errno.EINVAL, MAP, mapreq(rsvd1=tail(rsvd0=1)))
expect("MAP reserved bytes", errno.EINVAL, MAP, mapreq(rsvd1=tail(rest=b"\1" + bytes(23))))
expect("MAP fast_io_fail_tmo without its flag", errno.EINVAL, MAP, mapreq(rsvd1=tail(fast=5)))
expect("MAP fast_io_fail_tmo 3601", errno.EINVAL, MAP, mapreq(flags=2, rsvd1=tail(fast=3601)))
expect("MAP unknown export", errno.ENOENT, MAP, mapreq(name=b"nosuch"))
expect("UNMAP unknown device", errno.ENODEV, UNMAP, bytearray(struct.pack("<IIII", 1, 77, 0, 0)))
expect("UNMAP flags", errno.EINVAL, UNMAP, bytearray(struct.pack("<IIII", 1, 0, 1, 0)))
expect("LIST room without a buffer", errno.EINVAL, LIST, bytearray(struct.pack("<IIQ16s", 1, 4, 0, bytes(16))))
expect("unknown ioctl", errno.ENOTTY, IOC(3, 9, 16), bytearray(16))

l = bytearray(struct.pack("<IIQ16s", 1, 0, 0, bytes(16)))
fcntl.ioctl(fd, LIST, l)
assert struct.unpack_from("<I", l, 4)[0] == 0, "a refused MAP left a device"
m = mapreq()
fcntl.ioctl(fd, MAP, m)
index = struct.unpack_from("<I", m, 1312 - 1024 - 32 - 8)[0]
print(f"ok: MAP -> /dev/rdmablk{index}")
fcntl.ioctl(fd, LIST, l)
assert struct.unpack_from("<I", l, 4)[0] == 1
fcntl.ioctl(fd, UNMAP, bytearray(struct.pack("<IIII", 1, index, 0, 0)))
print("ok: UNMAP")
PY
"$CLI" list | grep -q '^no devices' || fail "devices left behind"
rmmod rdmablk || fail "rmmod"
check_dmesg
echo PASS
