#!/usr/bin/env python3
"""Summarise a bench/rdma-vm run: medians (min..max over repetitions) per
system and workload, then the ratios against perftest's floor and against
NBD/TCP that the project aims at.

Files are named SYSTEM-RW-BS-qdQD-repN.json (`rdmablk bench --json`), with
an optional SYSTEM-RW-BS-qdQD-repN.cpu beside each: "real user sys target"
seconds (the client's wall and CPU time, the target's CPU time meanwhile).
perftest reports MB/sec in units of 2^20 bytes; they are converted to the
10^6 bytes of `rdmablk bench` here.
"""
import argparse
import json
import pathlib
import re
import statistics
import sys

NAME = re.compile(r"^(?P<system>.+)-(?P<rw>[a-z]+)-(?P<bs>\w+)-qd(?P<qd>\d+)-rep(?P<rep>\d+)\.json$")
SYSTEMS = ("rdma-direct", "rdma-command", "rdma-direct-poll", "rdma-command-poll", "nbd-tcp")


def load(directory):
    runs = {}
    for path in sorted(pathlib.Path(directory).glob("*.json")):
        m = NAME.match(path.name)
        if m:
            total = dict(json.loads(path.read_text())["total"])
            cpu = path.with_suffix(".cpu")
            if cpu.exists():
                try:
                    real, user, sys_, target = (float(x) for x in cpu.read_text().split()[:4])
                    # Percent of one CPU over the client's wall time.
                    total["client_cpu"] = 100 * (user + sys_) / real
                    total["target_cpu"] = 100 * target / real
                except ValueError:
                    pass
            runs.setdefault((m["rw"], m["bs"], int(m["qd"])), {}).setdefault(m["system"], []).append(total)
    return runs


def median(values):
    return statistics.median(values) if values else float("nan")


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("directory")
    ap.add_argument("--read-lat", type=float, required=True, help="ib_read_lat -s 4096 typical, us")
    ap.add_argument("--write-lat", type=float, required=True, help="ib_write_lat -s 4096 typical, us")
    ap.add_argument("--read-bw", type=float, required=True, help="ib_read_bw -s 131072 average, MiB/s")
    ap.add_argument("--write-bw", type=float, required=True, help="ib_write_bw -s 131072 average, MiB/s")
    ap.add_argument("--read-bw-4k", type=float, help="ib_read_bw -s 4096 -t 32 average, MiB/s")
    ap.add_argument("--write-bw-4k", type=float, help="ib_write_bw -s 4096 -t 32 average, MiB/s")
    ap.add_argument("--read-mpps-4k", type=float, help="ib_read_bw -s 4096 -t 32 message rate, Mpps")
    ap.add_argument("--write-mpps-4k", type=float, help="ib_write_bw -s 4096 -t 32 message rate, Mpps")
    ap.add_argument("--commit", help="what was measured (git describe)")
    a = ap.parse_args()
    runs = load(a.directory)
    if not runs:
        sys.exit(f"rdma_report: no results in {a.directory}")
    mib = 1.048576
    read_bw, write_bw = a.read_bw * mib, a.write_bw * mib

    med = {}
    if a.commit:
        print(f"commit {a.commit}")
        print()
    print("| workload | system | IOPS | MB/s | p50 us | p99 us | client CPU % | target CPU % |")
    print("|---|---|---|---|---|---|---|---|")
    for key, systems in sorted(runs.items(), key=lambda kv: (kv[0][1], kv[0][2], kv[0][0])):
        rw, bs, qd = key
        for s in SYSTEMS:
            t = systems.get(s, [])
            if not t:
                continue
            vals = {
                "iops": [x["iops"] for x in t],
                "mb_s": [x["mb_s"] for x in t],
                "p50": [x["lat_us"]["p50"] for x in t],
                "p99": [x["lat_us"]["p99"] for x in t],
                "client_cpu": [x["client_cpu"] for x in t if "client_cpu" in x],
                "target_cpu": [x["target_cpu"] for x in t if "target_cpu" in x],
            }
            med[(key, s)] = {k: median(v) for k, v in vals.items()}
            cell = lambda k, f: f"{f(median(vals[k]))} ({f(min(vals[k]))}..{f(max(vals[k]))})"
            n0 = lambda v: f"{v:,.0f}"
            n1 = lambda v: f"{v:,.1f}"
            pct = lambda k: f"{median(vals[k]):.0f}" if vals[k] else "-"
            print(f"| {rw} {bs} QD{qd} | {s} | {cell('iops', n0)} | {cell('mb_s', n1)} | "
                  f"{cell('p50', n0)} | {cell('p99', n0)} | {pct('client_cpu')} | {pct('target_cpu')} |")
    print()
    print(f"perftest on rxe0: ib_read_lat 4K {a.read_lat:.1f} us, ib_write_lat 4K {a.write_lat:.1f} us, "
          f"ib_read_bw 128K {read_bw:.1f} MB/s, ib_write_bw 128K {write_bw:.1f} MB/s")
    ceiling = {}  # 4K message rate, IOPS
    for name, bw, mpps in (("ib_read_bw", a.read_bw_4k, a.read_mpps_4k), ("ib_write_bw", a.write_bw_4k, a.write_mpps_4k)):
        if bw is not None:
            ceiling[name] = mpps * 1e6 if mpps else bw * mib * 1e6 / 4096
            print(f"perftest 4K message rate (-s 4096 -t 32): {name} {bw * mib:.1f} MB/s = {ceiling[name]:,.0f} msg/s")
    print()

    def get(rw, bs, qd, s, k):
        return med.get(((rw, bs, qd), s), {}).get(k, float("nan"))

    rows = [
        ("direct 4K QD1 read p50 / ib_read_lat", get("randread", "4k", 1, "rdma-direct", "p50") / a.read_lat, "<= 1.5"),
        ("command 4K QD1 read p50 / ib_read_lat", get("randread", "4k", 1, "rdma-command", "p50") / a.read_lat, "<= 2.5"),
        ("direct 4K QD1 write p50 / ib_write_lat", get("randwrite", "4k", 1, "rdma-direct", "p50") / a.write_lat, "-"),
        ("command 4K QD1 write p50 / ib_write_lat", get("randwrite", "4k", 1, "rdma-command", "p50") / a.write_lat, "-"),
        ("direct 128K QD8 read MB/s / ib_read_bw", get("read", "128k", 8, "rdma-direct", "mb_s") / read_bw, ">= 0.85"),
        ("command 128K QD8 read MB/s / ib_write_bw (target RDMA WRITEs)",
         get("read", "128k", 8, "rdma-command", "mb_s") / write_bw, ">= 0.85"),
        ("direct 128K QD8 write MB/s / ib_write_bw", get("write", "128k", 8, "rdma-direct", "mb_s") / write_bw, ">= 0.85"),
        ("command 128K QD8 write MB/s / ib_read_bw (target RDMA READs)",
         get("write", "128k", 8, "rdma-command", "mb_s") / read_bw, ">= 0.85"),
        ("direct 4K QD1 read p50 / nbd-tcp", get("randread", "4k", 1, "rdma-direct", "p50") /
         get("randread", "4k", 1, "nbd-tcp", "p50"), "<= 0.7"),
        ("command 4K QD1 read p50 / nbd-tcp", get("randread", "4k", 1, "rdma-command", "p50") /
         get("randread", "4k", 1, "nbd-tcp", "p50"), "<= 0.7"),
        ("command 4K QD32 read IOPS / nbd-tcp", get("randread", "4k", 32, "rdma-command", "iops") /
         get("randread", "4k", 32, "nbd-tcp", "iops"), "-"),
        ("direct 4K QD32 read IOPS / nbd-tcp", get("randread", "4k", 32, "rdma-direct", "iops") /
         get("randread", "4k", 32, "nbd-tcp", "iops"), "-"),
    ]
    for poll in ("-poll",):
        d, c = "rdma-direct" + poll, "rdma-command" + poll
        if not any(((("randread", "4k", 1), c) == k) for k in med):
            continue
        rows += [
            (f"{d} 4K QD1 read p50 / ib_read_lat", get("randread", "4k", 1, d, "p50") / a.read_lat, "<= 1.5"),
            (f"{c} 4K QD1 read p50 / ib_read_lat", get("randread", "4k", 1, c, "p50") / a.read_lat, "<= 2.5"),
            (f"{d} 4K QD1 write p50 / ib_write_lat", get("randwrite", "4k", 1, d, "p50") / a.write_lat, "-"),
            (f"{c} 4K QD1 write p50 / ib_write_lat", get("randwrite", "4k", 1, c, "p50") / a.write_lat, "-"),
            (f"{d} 4K QD1 read p50 / nbd-tcp", get("randread", "4k", 1, d, "p50") /
             get("randread", "4k", 1, "nbd-tcp", "p50"), "<= 0.7"),
            (f"{c} 4K QD1 read p50 / nbd-tcp", get("randread", "4k", 1, c, "p50") /
             get("randread", "4k", 1, "nbd-tcp", "p50"), "<= 0.7"),
            (f"{c} 4K QD32 read IOPS / nbd-tcp", get("randread", "4k", 32, c, "iops") /
             get("randread", "4k", 32, "nbd-tcp", "iops"), "-"),
            (f"{d} 4K QD32 read IOPS / nbd-tcp", get("randread", "4k", 32, d, "iops") /
             get("randread", "4k", 32, "nbd-tcp", "iops"), "-"),
        ]
    # 4K QD32 against the device's own 4K message rate: direct reads are RDMA
    # READs, command reads cost the target an RDMA WRITE (and two SENDs).
    for s, tool in (("rdma-direct", "ib_read_bw"), ("rdma-command", "ib_write_bw"),
                    ("rdma-direct-poll", "ib_read_bw"), ("rdma-command-poll", "ib_write_bw")):
        if tool in ceiling and ((("randread", "4k", 32), s) in med):
            rows.append((f"{s} 4K QD32 read IOPS / {tool} 4K msg rate",
                         get("randread", "4k", 32, s, "iops") / ceiling[tool], "-"))
    print("| ratio | value | goal |")
    print("|---|---|---|")
    for name, value, goal in rows:
        print(f"| {name} | {value:.2f}x | {goal} |")


if __name__ == "__main__":
    main()
