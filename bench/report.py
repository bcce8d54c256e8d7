#!/usr/bin/env python3
"""Summarise `rdmablk bench --json` results of a side-by-side run.

Files are named SYSTEM-RW-BS-qdQD-repN.json. For each workload the table
shows the median (min..max over repetitions) of IOPS, MB/s and p50/p99
latency per system, and the subject/baseline ratios of the medians.
"""
import argparse
import json
import pathlib
import re
import statistics
import sys

NAME = re.compile(r"^(?P<system>.+)-(?P<rw>[a-z]+)-(?P<bs>\w+)-qd(?P<qd>\d+)-rep(?P<rep>\d+)\.json$")


def load(directory):
    runs = {}
    for path in sorted(pathlib.Path(directory).glob("*.json")):
        m = NAME.match(path.name)
        if not m:
            continue
        total = json.loads(path.read_text())["total"]
        key = (m["rw"], m["bs"], int(m["qd"]))
        runs.setdefault(key, {}).setdefault(m["system"], []).append(total)
    return runs


def spread(values, fmt):
    med = statistics.median(values)
    return med, f"{fmt(med)} ({fmt(min(values))}..{fmt(max(values))})"


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("directory")
    ap.add_argument("--baseline", required=True)
    ap.add_argument("--subject", required=True)
    args = ap.parse_args()
    runs = load(args.directory)
    if not runs:
        sys.exit(f"report: no results in {args.directory}")

    print(f"| workload | system | IOPS | MB/s | p50 us | p99 us |")
    print(f"|---|---|---|---|---|---|")
    ratios = []
    for (rw, bs, qd), systems in sorted(runs.items(), key=lambda kv: (kv[0][1], kv[0][2], kv[0][0])):
        med = {}
        for system in (args.subject, args.baseline):
            totals = systems.get(system, [])
            if not totals:
                continue
            iops, iops_s = spread([t["iops"] for t in totals], lambda v: f"{v:,.0f}")
            mbs, mbs_s = spread([t["mb_s"] for t in totals], lambda v: f"{v:,.1f}")
            p50, p50_s = spread([t["lat_us"]["p50"] for t in totals], lambda v: f"{v:,.0f}")
            p99, p99_s = spread([t["lat_us"]["p99"] for t in totals], lambda v: f"{v:,.0f}")
            med[system] = (iops, mbs, p50, p99)
            print(f"| {rw} {bs} QD{qd} | {system} | {iops_s} | {mbs_s} | {p50_s} | {p99_s} |")
        if len(med) == 2:
            s, b = med[args.subject], med[args.baseline]
            ratios.append((f"{rw} {bs} QD{qd}", s[0] / b[0], b[2] / s[2] if s[2] else 0.0))
    print()
    print(f"| workload | IOPS {args.subject}/{args.baseline} | p50 latency {args.baseline}/{args.subject} |")
    print("|---|---|---|")
    for workload, iops_ratio, lat_ratio in ratios:
        print(f"| {workload} | {iops_ratio:.2f}x | {lat_ratio:.2f}x |")


if __name__ == "__main__":
    main()
