#!/usr/bin/env python3
"""Summarise a bench/kmod-vm run: the kernel driver (/dev/rdmablkN, command
and direct mode) against the kernel's nvme-rdma, fio on each block device.
Medians (min..max over repetitions) per system and workload, then the
ratios the project aims at, each with its goal.

Files are named SYSTEM-RW-BS-qdQD-repN.json (fio --output-format=json), each
with SYSTEM-RW-BS-qdQD-repN.sys beside it: "busy total ctxt" deltas of
/proc/stat over the fio run (jiffies over all vCPUs, context switches).
perftest MB/sec (2^20 bytes) is converted to 10^6 bytes as fio's bw_bytes.
"""
import argparse
import json
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from rdma_report import NAME, median  # noqa: E402  (same file naming, same medians)

SYSTEMS = ("rdmablk-command", "rdmablk-direct", "nvme-rdma")
RDMABLK = ("rdmablk-command", "rdmablk-direct")
MIB = 1.048576


def load_fio(path):
    text = path.read_text()
    job = json.loads(text[text.index("{"):])["jobs"][0]
    side = job["write"] if job["write"]["io_bytes"] > job["read"]["io_bytes"] else job["read"]
    pct = side["clat_ns"].get("percentile", {})
    total = {
        "iops": side["iops"],
        "mb_s": side["bw_bytes"] / 1e6,
        "p50": pct.get("50.000000", float("nan")) / 1e3,
        "p99": pct.get("99.000000", float("nan")) / 1e3,
    }
    sys_file = path.with_suffix(".sys")
    if sys_file.exists():
        try:
            busy, tot, ctxt = (float(x) for x in sys_file.read_text().split()[:3])
            total["cpu"] = 100 * busy / tot if tot else float("nan")
            # Context switches per I/O: the switch rate over the whole window
            # (ramp and fio start included) divided by the measured IOPS.
            if side["iops"]:
                total["ctxt_io"] = ctxt / (tot / 100 / ncpu()) / side["iops"]
        except (ValueError, ZeroDivisionError):
            pass
    return total


_NCPU = None


def ncpu():
    return _NCPU or 2


def load(directory):
    runs = {}
    for path in sorted(pathlib.Path(directory).glob("*.json")):
        m = NAME.match(path.name)
        if m:
            runs.setdefault((m["rw"], m["bs"], int(m["qd"])), {}).setdefault(m["system"], []).append(load_fio(path))
    return runs


def verdict(value, goal):
    op, target = goal.split()
    ok = value <= float(target) if op == "<=" else value >= float(target)
    return f"{goal} ({'met' if ok else 'NOT MET'})" if value == value else f"{goal} (no data)"


def main():
    global _NCPU
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("directory")
    ap.add_argument("--read-lat", type=float, required=True, help="ib_read_lat -s 4096 typical, us")
    ap.add_argument("--write-lat", type=float, required=True, help="ib_write_lat -s 4096 typical, us")
    ap.add_argument("--read-bw", type=float, required=True, help="ib_read_bw -s 131072 average, MiB/s")
    ap.add_argument("--write-bw", type=float, required=True, help="ib_write_bw -s 131072 average, MiB/s")
    ap.add_argument("--commit", help="what was measured (git describe)")
    ap.add_argument("--ncpu", type=int, default=2, help="vCPUs of the VM (for the switch rate)")
    ap.add_argument("--note", action="append", default=[], help="a line to print under the table")
    a = ap.parse_args()
    _NCPU = a.ncpu
    runs = load(a.directory)
    if not runs:
        sys.exit(f"kmod_report: no results in {a.directory}")
    read_bw, write_bw = a.read_bw * MIB, a.write_bw * MIB

    med = {}
    if a.commit:
        print(f"commit {a.commit}")
        print()
    print("| workload | system | IOPS | MB/s | p50 us | p99 us | VM CPU % | ctxt/IO |")
    print("|---|---|---|---|---|---|---|---|")
    order = {"randread": 0, "randwrite": 1, "read": 2, "write": 3}
    for key, systems in sorted(runs.items(), key=lambda kv: (kv[0][1] != "4k", kv[0][2], order.get(kv[0][0], 9))):
        rw, bs, qd = key
        for s in SYSTEMS:
            t = systems.get(s, [])
            if not t:
                continue
            vals = {k: [x[k] for x in t if k in x] for k in ("iops", "mb_s", "p50", "p99", "cpu", "ctxt_io")}
            med[(key, s)] = {k: median(v) for k, v in vals.items()}
            n0 = lambda v: f"{v:,.0f}"
            n1 = lambda v: f"{v:,.1f}"
            cell = lambda k, f: f"{f(median(vals[k]))} ({f(min(vals[k]))}..{f(max(vals[k]))})"
            one = lambda k, f: f(median(vals[k])) if vals[k] else "-"
            print(f"| {rw} {bs} QD{qd} | {s} | {cell('iops', n0)} | {cell('mb_s', n1)} | "
                  f"{cell('p50', n0)} | {cell('p99', n0)} | {one('cpu', n0)} | {one('ctxt_io', n1)} |")
    print()
    print(f"perftest on rxe0: ib_read_lat 4K {a.read_lat:.1f} us, ib_write_lat 4K {a.write_lat:.1f} us, "
          f"ib_read_bw 128K {read_bw:.1f} MB/s, ib_write_bw 128K {write_bw:.1f} MB/s")
    for note in a.note:
        print(note)
    print()

    def get(rw, bs, qd, s, k):
        return med.get(((rw, bs, qd), s), {}).get(k, float("nan"))

    def vs_nvme(rw, bs, qd, s, k):
        return get(rw, bs, qd, s, k) / get(rw, bs, qd, "nvme-rdma", k)

    rows = []
    for s in RDMABLK:
        rows += [
            (f"{s} / nvme-rdma: 4K QD1 randread p50", vs_nvme("randread", "4k", 1, s, "p50"), "<= 0.8"),
            (f"{s} / nvme-rdma: 4K QD1 randwrite p50", vs_nvme("randwrite", "4k", 1, s, "p50"), "<= 0.8"),
            (f"{s} / nvme-rdma: 4K QD32 randread IOPS", vs_nvme("randread", "4k", 32, s, "iops"), ">= 1.25"),
            (f"{s} / nvme-rdma: 4K QD32 randwrite IOPS", vs_nvme("randwrite", "4k", 32, s, "iops"), ">= 1.25"),
            (f"{s} / nvme-rdma: 128K QD8 read MB/s", vs_nvme("read", "128k", 8, s, "mb_s"), ">= 1.0"),
            (f"{s} / nvme-rdma: 128K QD8 write MB/s", vs_nvme("write", "128k", 8, s, "mb_s"), ">= 1.0"),
        ]
    # Same direction of data as perftest: reads move data target -> initiator.
    # Command mode and nvme-rdma do that with the target's RDMA WRITEs, direct
    # mode with the initiator's RDMA READs (and the other way round for writes).
    floor = {("rdmablk-command", "read"): ("ib_write_bw", write_bw), ("rdmablk-command", "write"): ("ib_read_bw", read_bw),
             ("rdmablk-direct", "read"): ("ib_read_bw", read_bw), ("rdmablk-direct", "write"): ("ib_write_bw", write_bw),
             ("nvme-rdma", "read"): ("ib_write_bw", write_bw), ("nvme-rdma", "write"): ("ib_read_bw", read_bw)}
    for s in SYSTEMS:
        for rw in ("read", "write"):
            tool, bw = floor[(s, rw)]
            goal = ">= 0.9" if s in RDMABLK else "-"
            rows.append((f"{s} 128K QD8 {rw} MB/s / {tool} 128K", get(rw, "128k", 8, s, "mb_s") / bw, goal))
    for s in SYSTEMS:
        rows.append((f"{s} 4K QD1 randread p50 / ib_read_lat", get("randread", "4k", 1, s, "p50") / a.read_lat, "-"))
    print("| ratio | value | goal |")
    print("|---|---|---|")
    for name, value, goal in rows:
        # Three decimals where two would round onto the goal and hide which side it is on.
        shown = f"{value:.3f}" if goal != "-" and f"{value:.2f}" == f"{float(goal.split()[1]):.2f}" else f"{value:.2f}"
        print(f"| {name} | {shown}x | {verdict(value, goal) if goal != '-' else '-'} |")


if __name__ == "__main__":
    main()
