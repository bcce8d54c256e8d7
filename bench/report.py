#!/usr/bin/env python3
"""Summarise `rdmablk bench --json` results of a two-system run
(bench/nbd-loopback).

Files are named SYSTEM-RW-BS-qdQD-repN.json. For each workload the table
shows the median (min..max over repetitions) of IOPS, MB/s and p50/p99
latency per system, then the subject/baseline ratios of the medians.
"""
import argparse
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import benchlib as bl  # noqa: E402


def load(directory):
    runs = {}
    for path in sorted(pathlib.Path(directory).glob("*.json")):
        m = bl.NAME.match(path.name)
        if m:
            key = (m["rw"], m["bs"], int(m["qd"]))
            runs.setdefault(key, {}).setdefault(m["system"], []).append(bl.parse_rdmablk_bench(path.read_text()))
    return runs


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("directory")
    ap.add_argument("--baseline", required=True)
    ap.add_argument("--subject", required=True)
    args = ap.parse_args()
    runs = load(args.directory)
    if not runs:
        sys.exit(f"report: no results in {args.directory}")
    rows, ratios = [], []
    for (rw, bs, qd), systems in sorted(runs.items(), key=lambda kv: (kv[0][1], kv[0][2], kv[0][0])):
        med = {}
        for system in (args.subject, args.baseline):
            if system not in systems:
                continue
            s = {k: bl.spread([r[k] for r in systems[system]]) for k in ("iops", "mb_s", "p50_us", "p99_us")}
            med[system] = s
            rows.append([f"{rw} {bs} QD{qd}", system, bl.cell(s["iops"]), bl.cell(s["mb_s"], 1),
                         bl.cell(s["p50_us"]), bl.cell(s["p99_us"])])
        if len(med) == 2:
            sub, base = med[args.subject], med[args.baseline]
            ratios.append([f"{rw} {bs} QD{qd}", bl.ratio_text(sub["iops"]["median"] / base["iops"]["median"]),
                           bl.ratio_text(base["p50_us"]["median"] / sub["p50_us"]["median"])])
    print(bl.table(["workload", "system", "IOPS", "MB/s", "p50 us", "p99 us"], rows))
    print()
    print(bl.table(["workload", f"IOPS {args.subject}/{args.baseline}",
                    f"p50 latency {args.baseline}/{args.subject}"], ratios))


if __name__ == "__main__":
    main()
