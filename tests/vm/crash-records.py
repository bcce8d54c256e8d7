#!/usr/bin/python3
# Workload and checker of the crash-consistency case (cases/kmod-crash.sh).
#
#   crash-records.py write DIR ACKLOG START   append numbered records to
#       DIR/records from START on, each made durable (fdatasync, and every
#       8th by a file of its own, DIR/r/N, with fsync of the file and of the
#       directory) before its number is appended to ACKLOG; until killed.
#   crash-records.py shutdown MOUNTPOINT      the crash of the machine the
#       file system runs on: EXT4_IOC_SHUTDOWN without flushing the log, so
#       nothing written after this reaches the disk (xfstests' godown).
#   crash-records.py check DIR ACKLOG         every record and file ACKLOG
#       names must be there, byte for byte; prints the highest one and
#       how many records past it survived (written, not yet acknowledged).
# A record is 4 KiB: its number and bytes derived from it, so a record is
# either right or wrong wherever it is read, never merely present.
import fcntl
import hashlib
import os
import struct
import sys

RECORD = 4096
EXT4_IOC_SHUTDOWN = 0x8004587D  # _IOR('X', 125, __u32), shared with XFS
EXT4_GOING_FLAGS_NOLOGFLUSH = 2
USAGE = "usage: crash-records.py write DIR ACKLOG START | shutdown MOUNTPOINT | check DIR ACKLOG"


def record(n):
    head = b"rec %012d\n" % n
    body = hashlib.sha256(b"%d" % n).digest() * (RECORD // 32)
    return (head + body)[:RECORD]


def write(d, acklog, start):
    os.makedirs(os.path.join(d, "r"), exist_ok=True)
    fd = os.open(os.path.join(d, "records"), os.O_WRONLY | os.O_CREAT, 0o644)
    dfd = os.open(os.path.join(d, "r"), os.O_RDONLY | os.O_DIRECTORY)
    # Line-buffered, and the acknowledgment log lives outside the tested
    # file system: a number in it was acknowledged, whatever happens after.
    with open(acklog, "a", buffering=1) as log:
        n = start
        while True:
            os.pwrite(fd, record(n), (n - 1) * RECORD)
            os.fdatasync(fd)
            if n % 8 == 0:
                path = os.path.join(d, "r", str(n))
                f = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                os.write(f, record(n)[:512])
                os.fsync(f)
                os.close(f)
                os.fsync(dfd)
            log.write("%d\n" % n)
            n += 1


def shutdown(mnt):
    fd = os.open(mnt, os.O_RDONLY | os.O_DIRECTORY)
    fcntl.ioctl(fd, EXT4_IOC_SHUTDOWN, struct.pack("I", EXT4_GOING_FLAGS_NOLOGFLUSH))
    os.close(fd)


def check(d, acklog):
    acked = [int(x) for x in open(acklog).read().split()]
    if not acked:
        print("no record acknowledged")
        return 1
    bad = []
    with open(os.path.join(d, "records"), "rb") as f:
        for n in acked:
            f.seek((n - 1) * RECORD)
            if f.read(RECORD) != record(n):
                bad.append("record %d" % n)
            if n % 8 == 0:
                try:
                    with open(os.path.join(d, "r", str(n)), "rb") as g:
                        if g.read() != record(n)[:512]:
                            bad.append("file r/%d (content)" % n)
                except OSError as e:
                    bad.append("file r/%d (%s)" % (n, e.strerror))
        top = max(acked)
        extra = 0
        while True:
            f.seek((top + extra) * RECORD)
            if f.read(RECORD) != record(top + extra + 1):
                break
            extra += 1
    missing = sorted(set(range(1, top + 1)) - set(acked))
    if bad:
        print("LOST %d acknowledged: %s" % (len(bad), ", ".join(bad[:10])))
        return 1
    print("all %d acknowledged records intact (1..%d%s), %d more past the last acknowledged"
          % (len(acked), top, ", %d never acknowledged" % len(missing) if missing else "", extra))
    return 0


def main():
    if len(sys.argv) == 5 and sys.argv[1] == "write":
        write(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    elif len(sys.argv) == 3 and sys.argv[1] == "shutdown":
        shutdown(sys.argv[2])
    elif len(sys.argv) == 4 and sys.argv[1] == "check":
        return check(sys.argv[2], sys.argv[3])
    else:
        print(USAGE, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
