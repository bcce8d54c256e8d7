"""Shared pieces of the benchmark reports (bench/compare, bench/nbd-loopback).

- parsing: fio --output-format=json (unified_rw_reporting=mixed or per
  direction), `rdmablk bench --json`, perftest result lines;
- statistics: median (min..max) over repetitions;
- goals: a ratio against a bound (<= or >=), met or missed and by how much;
- markdown: number formatting and tables.

Units everywhere: latency in microseconds, throughput in MB/s of 10^6 bytes
(perftest's MB/sec are 2^20 bytes and are converted on parsing).
"""
import json
import math
import re
import statistics

MIB_TO_MB = 1.048576  # perftest MiB/s -> MB/s (10^6 bytes)

# SYSTEM-RW-BS-qdQD-repN.json: the raw result files of one run.
NAME = re.compile(r"^(?P<system>.+)-(?P<rw>randrw\d*|[a-z]+)-(?P<bs>\d+[kmKM]?)-qd(?P<qd>\d+)-rep(?P<rep>\d+)\.json$")

NAN = float("nan")


def isnum(v):
    return isinstance(v, (int, float)) and not math.isnan(v)


# ---- parsing -------------------------------------------------------------

def _pct(percentiles, p):
    """fio clat percentile P (e.g. 99.9) in us from the ns dict, or NaN."""
    v = percentiles.get(f"{p:.6f}")
    return v / 1e3 if v is not None else NAN


def parse_fio(text):
    """One fio JSON result (first job) -> a run record. Accepts a report with
    a 'mixed' section (unified_rw_reporting=mixed) or separate read/write
    sections (summed for IOPS and bandwidth; latency of the busier side).
    Latency percentiles: total (lat_ns) if fio reported them, else clat_ns."""
    job = json.loads(text[text.index("{"):])["jobs"][0]
    if "mixed" in job:
        sides = [job["mixed"]]
    else:
        sides = [job[d] for d in ("read", "write") if job.get(d, {}).get("total_ios", 0)]
    if not sides:
        raise ValueError("fio result without I/O")
    main = max(sides, key=lambda s: s["total_ios"])
    # Total latency (submission + completion, fio --lat_percentiles=1) where
    # present: with some drivers (nvme-tcp on loopback) io_submit itself does
    # most of the work and the completion latency alone would hide it.
    pct = main.get("lat_ns", {}).get("percentile") or main.get("clat_ns", {}).get("percentile", {})
    return {
        "iops": sum(s["iops"] for s in sides),
        "mb_s": sum(s["bw_bytes"] for s in sides) / 1e6,
        "p50_us": _pct(pct, 50),
        "p99_us": _pct(pct, 99),
        "p999_us": _pct(pct, 99.9),
        "ios": sum(s["total_ios"] for s in sides),
        "runtime_s": max(s.get("runtime", 0) for s in sides) / 1e3,
    }


def parse_rdmablk_bench(text):
    """`rdmablk bench --json` -> a run record (its 'total' figures)."""
    j = json.loads(text)
    t = j["total"]
    lat = t["lat_us"]
    return {
        "iops": t["iops"],
        "mb_s": t["mb_s"],
        "p50_us": lat["p50"],
        "p99_us": lat["p99"],
        "p999_us": lat.get("p99.9", NAN),
        "ios": t["ops"],
        "runtime_s": j.get("elapsed_s", NAN),
    }


def parse_perftest(text, size):
    """The result line of a perftest run for message size SIZE.

    Latency tools (ib_*_lat): #bytes #iterations t_min t_max t_typical t_avg
    t_stdev 99% 99.9% -> typical/avg/p99/p99.9 in us.
    Bandwidth tools (ib_*_bw): #bytes #iterations BW_peak BW_average MsgRate
    -> mb_s (10^6 bytes) and msg_rate per second."""
    rows = [line.split() for line in text.splitlines()]
    rows = [r for r in rows if len(r) >= 5 and r[0] == str(size)]
    if not rows:
        raise ValueError(f"no perftest result line for {size} bytes")
    r = [float(x) for x in rows[-1][:9]]
    if not all(math.isfinite(x) for x in r):
        # perftest prints inf when it could not measure the CPU clock (its
        # "Correlation coefficient r^2 < 0.9" under a loaded host).
        raise ValueError(f"perftest result not finite: {' '.join(rows[-1])}")
    if len(r) >= 9:
        return {"bytes": size, "iterations": int(r[1]), "min_us": r[2], "typical_us": r[4], "avg_us": r[5],
                "p99_us": r[7], "p999_us": r[8]}
    return {"bytes": size, "iterations": int(r[1]), "mb_s": r[3] * MIB_TO_MB, "msg_rate": r[4] * 1e6}


# ---- statistics ----------------------------------------------------------

def median(values):
    values = [v for v in values if isnum(v)]
    return statistics.median(values) if values else NAN


def spread(values):
    """{'median', 'min', 'max', 'n'} over the numeric values."""
    values = [v for v in values if isnum(v)]
    if not values:
        return {"median": NAN, "min": NAN, "max": NAN, "n": 0}
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


# ---- goals ---------------------------------------------------------------

def evaluate(value, op, target):
    """A goal 'value OP target' -> (met, margin): margin is how far past the
    bound the value lies, as a fraction of the bound: positive = met by that
    much, negative = missed by that much. (None, None) without a value."""
    if not isnum(value):
        return None, None
    if op == "<=":
        margin = (target - value) / target
    elif op == ">=":
        margin = (value - target) / target
    else:
        raise ValueError(f"unknown goal operator {op!r}")
    return margin >= 0, margin


def verdict(goal):
    """'met (by 12%)' / 'MISSED (by 30%)' / 'no data' for an evaluated goal dict."""
    if goal.get("met") is None:
        return "no data"
    word = "met" if goal["met"] else "MISSED"
    return f"{word} (by {abs(goal['margin']) * 100:.0f}%)"


def ratio_text(value, target=None):
    """Two decimals, three where two would round onto the bound (and hide
    which side of it the value is)."""
    if not isnum(value):
        return "-"
    if target is not None and f"{value:.2f}" == f"{target:.2f}":
        return f"{value:.3f}x"
    return f"{value:.2f}x"


# ---- markdown ------------------------------------------------------------

def num(v, digits=0):
    return f"{v:,.{digits}f}" if isnum(v) else "-"


def cell(s, digits=0):
    """'median (min..max)' of a spread dict; just the median for one value."""
    if not s or not s.get("n"):
        return "-"
    if s["n"] == 1 or s["min"] == s["max"]:
        return num(s["median"], digits)
    return f"{num(s['median'], digits)} ({num(s['min'], digits)}..{num(s['max'], digits)})"


def table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)
