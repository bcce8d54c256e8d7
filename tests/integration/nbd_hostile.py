#!/usr/bin/env python3
"""A hostile NBD client: speaks raw bytes to rdmablk-target and checks that
every malformed or out-of-bounds message gets the protocol's error reply or a
clean disconnect, and that the target keeps serving correctly afterwards.

usage: nbd_hostile.py PORT RW_EXPORT RW_SIZE RO_EXPORT
RW_EXPORT must be writable and RW_SIZE bytes long; RO_EXPORT read-only.
"""
import socket
import struct
import sys

NBDMAGIC = 0x4E42444D41474943
IHAVEOPT = 0x49484156454F5054
OPT_REPLY_MAGIC = 0x3E889045565A9
REQUEST_MAGIC = 0x25609513
SIMPLE_REPLY_MAGIC = 0x67446698

OPT_EXPORT_NAME, OPT_ABORT, OPT_LIST, OPT_INFO, OPT_GO = 1, 2, 3, 6, 7
REP_ACK, REP_SERVER, REP_INFO = 1, 2, 3
REP_ERR = 1 << 31
ERR_UNSUP, ERR_POLICY, ERR_INVALID, ERR_UNKNOWN, ERR_TOO_BIG = (
    REP_ERR + 1, REP_ERR + 2, REP_ERR + 3, REP_ERR + 6, REP_ERR + 9)
CMD_READ, CMD_WRITE, CMD_DISC, CMD_FLUSH, CMD_TRIM, CMD_WRITE_ZEROES = 0, 1, 2, 3, 4, 6
EPERM, EIO, EINVAL, ENOSPC, EOVERFLOW = 1, 5, 22, 28, 75

PORT = int(sys.argv[1])
RW, RW_SIZE, RO = sys.argv[2], int(sys.argv[3]), sys.argv[4]
checks = 0


def check(cond, what):
    global checks
    if not cond:
        print(f"FAIL: {what}", file=sys.stderr)
        sys.exit(1)
    checks += 1
    print(f"ok: {what}")


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("closed")
        buf += chunk
    return buf


def closed_by_peer(s):
    """True when the server closes the connection (EOF or reset) within 5 s."""
    s.settimeout(5)
    try:
        while s.recv(4096):
            pass
        return True
    except socket.timeout:
        return False
    except ConnectionError:
        return True


def connect():
    s = socket.create_connection(("127.0.0.1", PORT), timeout=10)
    magic, opt, flags = struct.unpack(">QQH", recv_exact(s, 18))
    assert magic == NBDMAGIC and opt == IHAVEOPT, "bad greeting"
    s.sendall(struct.pack(">I", 1 | 2))  # fixed newstyle, no zeroes
    return s


def send_opt(s, opt, data=b"", magic=IHAVEOPT):
    s.sendall(struct.pack(">QII", magic, opt, len(data)) + data)


def read_opt_reply(s):
    magic, opt, rtype, length = struct.unpack(">QIII", recv_exact(s, 20))
    assert magic == OPT_REPLY_MAGIC, hex(magic)
    return opt, rtype, recv_exact(s, length)


def go(s, name):
    """NBD_OPT_GO; returns (reply type, transmission flags or None)."""
    name_b = name.encode()
    send_opt(s, OPT_GO, struct.pack(">I", len(name_b)) + name_b + struct.pack(">H", 0))
    flags = None
    while True:
        _, rtype, data = read_opt_reply(s)
        if rtype == REP_INFO and struct.unpack(">H", data[:2])[0] == 0:
            flags = struct.unpack(">QH", data[2:12])[1]
        if rtype != REP_INFO:
            return rtype, flags


def open_export(name):
    s = connect()
    rtype, flags = go(s, name)
    assert rtype == REP_ACK, f"GO {name}: {rtype:#x}"
    return s


def request(s, cmd, offset, length, data=b"", flags=0, handle=0x1234):
    s.sendall(struct.pack(">IHHQQI", REQUEST_MAGIC, flags, cmd, handle, offset, length) + data)


def simple_reply(s, expect_data=0):
    magic, error, handle = struct.unpack(">IIQ", recv_exact(s, 16))
    assert magic == SIMPLE_REPLY_MAGIC, hex(magic)
    data = recv_exact(s, expect_data) if error == 0 and expect_data else b""
    return error, handle, data


def server_ok():
    """A fresh, well-behaved client still gets full service."""
    s = open_export(RW)
    request(s, CMD_READ, 0, 4096)
    err, _, data = simple_reply(s, 4096)
    request(s, CMD_DISC, 0, 0)
    s.close()
    return err == 0 and len(data) == 4096


# --- Handshake phase ---------------------------------------------------------
s = connect()
send_opt(s, 0x7777)
_, rtype, _ = read_opt_reply(s)
check(rtype == ERR_UNSUP, "unknown option -> NBD_REP_ERR_UNSUP")
rtype, _ = go(s, "no-such-export")
check(rtype in (ERR_UNKNOWN, ERR_POLICY), "unknown export -> NBD_REP_ERR_UNKNOWN")
send_opt(s, OPT_ABORT)
_, rtype, _ = read_opt_reply(s)
check(rtype == REP_ACK, "NBD_OPT_ABORT acknowledged")
s.close()

s = connect()
send_opt(s, OPT_LIST, b"x" * 8)
_, rtype, _ = read_opt_reply(s)
check(rtype == ERR_INVALID, "NBD_OPT_LIST with data -> NBD_REP_ERR_INVALID")
s.close()

s = connect()
send_opt(s, OPT_GO, struct.pack(">I", 1000) + b"short")
_, rtype, _ = read_opt_reply(s)
check(rtype == ERR_INVALID, "GO with a name longer than its option -> ERR_INVALID")
s.close()

s = connect()
send_opt(s, OPT_GO, magic=0xDEADBEEF)
check(closed_by_peer(s), "bad option magic -> disconnect")
s.close()

s = connect()
s.sendall(struct.pack(">QII", IHAVEOPT, OPT_GO, 64 << 20))  # claims 64 MiB of option data
try:
    _, rtype, _ = read_opt_reply(s)
    check(rtype == ERR_TOO_BIG or rtype == ERR_INVALID, "oversized option -> error reply")
except ConnectionError:
    check(True, "oversized option -> disconnect")
s.close()

s = socket.create_connection(("127.0.0.1", PORT), timeout=10)
recv_exact(s, 18)
s.sendall(struct.pack(">I", 0xFFFFFFF0))  # unknown client flags
check(closed_by_peer(s), "unknown client flags -> disconnect")
s.close()

# --- Transmission phase ------------------------------------------------------
s = open_export(RW)
request(s, CMD_WRITE, 0, 4096, b"\xab" * 4096, handle=1)
check(simple_reply(s)[0] == 0, "aligned write succeeds")
request(s, CMD_READ, RW_SIZE - 512, 1024, handle=2)
err, handle, _ = simple_reply(s)
check(err == EINVAL and handle == 2, "read past the end -> EINVAL")
request(s, CMD_WRITE, RW_SIZE - 512, 1024, b"\xcd" * 1024, handle=3)
err, _, _ = simple_reply(s)
check(err in (ENOSPC, EINVAL), "write past the end -> ENOSPC")
request(s, CMD_READ, 2**64 - 512, 1024, handle=4)
check(simple_reply(s)[0] == EINVAL, "offset + length overflow -> EINVAL")
request(s, CMD_TRIM, RW_SIZE, 4096, handle=5)
check(simple_reply(s)[0] in (ENOSPC, EINVAL), "trim past the end -> error")
request(s, CMD_WRITE_ZEROES, RW_SIZE - 4096, 8192, handle=6)
check(simple_reply(s)[0] in (ENOSPC, EINVAL), "write-zeroes past the end -> error")
request(s, 99, 0, 4096, handle=7)
check(simple_reply(s)[0] == EINVAL, "unknown command -> EINVAL")
request(s, CMD_FLUSH, 0, 0, flags=0x8000, handle=8)
err, _, _ = simple_reply(s)
check(err in (0, EINVAL), "unknown command flag -> EINVAL or ignored")
request(s, CMD_READ, 0, 1 << 30, handle=9)
try:
    err, _, _ = simple_reply(s)
    check(err in (EINVAL, EOVERFLOW), "1 GiB read -> EINVAL")
except ConnectionError:
    check(True, "1 GiB read -> disconnect")
s.close()

# The last good bytes before the end are untouched by the refused writes.
s = open_export(RW)
request(s, CMD_READ, RW_SIZE - 512, 512, handle=10)
err, _, data = simple_reply(s, 512)
check(err == 0 and b"\xcd" not in data, "bytes before the end unchanged by refused write")
request(s, CMD_READ, 0, 4096, handle=11)
err, _, data = simple_reply(s, 4096)
check(err == 0 and data == b"\xab" * 4096, "earlier write reads back")
s.close()

# Read-only export: writes, trims and zeroes are refused with EPERM.
s = open_export(RO)
request(s, CMD_READ, 0, 4096, handle=20)
err, _, before = simple_reply(s, 4096)
for cmd, payload in ((CMD_WRITE, b"\x11" * 4096), (CMD_TRIM, b""), (CMD_WRITE_ZEROES, b"")):
    request(s, cmd, 0, 4096, payload, handle=21)
    check(simple_reply(s)[0] == EPERM, f"command {cmd} on read-only export -> EPERM")
request(s, CMD_READ, 0, 4096, handle=22)
err, _, after = simple_reply(s, 4096)
check(before == after, "read-only export unchanged")
s.close()

# A client that vanishes in the middle of a write payload, or of a header.
s = open_export(RW)
request(s, CMD_WRITE, 0, 1 << 20, b"\x99" * 100)
s.close()
s = open_export(RW)
s.sendall(struct.pack(">IHH", REQUEST_MAGIC, 0, CMD_READ))
s.close()
# Bad request magic: the server must drop the connection.
s = open_export(RW)
s.sendall(struct.pack(">IHHQQI", 0x12345678, 0, CMD_READ, 1, 0, 512))
check(closed_by_peer(s), "bad request magic -> disconnect")
s.close()

check(server_ok(), "target serves a well-behaved client after all of it")
print(f"{checks} checks passed")
