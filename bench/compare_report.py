#!/usr/bin/env python3
"""Results of a bench/compare run: JSON, markdown report, PNG plots.

  compare_report.py collect OUT   raw files in OUT/raw -> OUT/results.json
  compare_report.py report OUT    OUT/results.json -> OUT/report.md, OUT/*.png
  compare_report.py all OUT       both (what bench/compare runs)
  compare_report.py report FILE.json --out DIR   a results.json from elsewhere

Raw files (written by bench/compare inside the VM):
  SYSTEM-RW-BS-qdQD-repN.json  fio JSON (block devices) or `rdmablk bench
                               --json` (userspace clients); RW randrw70 is a
                               70/30 random read/write mix
  SYSTEM-...-repN.sys          "busy total ctxt" deltas of /proc/stat around
                               the job: busy and total jiffies summed over
                               all vCPUs, context switches
  SYSTEM-...-repN.tgt          context switches of the rdmablk-target process
                               (all threads) during the job; none for nvmet
  perftest-TOOL-SIZE.txt       perftest output on rxe0 (the floor)
  meta.txt                     KEY<TAB>VALUE lines (note, system and device
                               lines may repeat)

Goals are ratios of medians within the run; each is printed met/MISSED and
by how much (the distance from the bound as a share of the bound).
"""
import argparse
import json
import math
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import benchlib as bl  # noqa: E402

# Known systems in display order: (kind, transport, description).
SYSTEMS = {
    "rdmablk-command": ("kernel", "rdma", "/dev/rdmablkN (rdmablk.ko), command mode, export on the brd disk"),
    "rdmablk-direct": ("kernel", "rdma", "/dev/rdmablkN (rdmablk.ko), direct mode, RAM export of the same target"),
    "nvme-rdma": ("kernel", "rdma", "nvme-rdma host -> nvmet-rdma (configfs) on the brd disk"),
    "nbd": ("kernel", "tcp", "kernel nbd (nbd-client) -> rdmablk-target's NBD listener, the brd disk export"),
    "nvme-tcp": ("kernel", "tcp", "nvme-tcp host -> nvmet-tcp (configfs) on the brd disk"),
    "user-command": ("user", "rdma", "`rdmablk bench` rdma:// command mode, the brd disk export"),
    "user-direct": ("user", "rdma", "`rdmablk bench` rdma:// direct mode, the RAM export"),
    "user-command-poll": ("user", "rdma", "`rdmablk bench` rdma:// command mode, poll=1, target --rdma-poll"),
    "user-direct-poll": ("user", "rdma", "`rdmablk bench` rdma:// direct mode, poll=1, target --rdma-poll"),
    "user-nbd": ("user", "tcp", "`rdmablk bench` nbd:// (TCP), the brd disk export"),
    "rbd-rdmablk": ("kernel", "rdma", "/dev/rdmablkN, command mode, through an rdmablk-target gateway on the RBD image"),
    "krbd": ("kernel", "ceph", "the kernel's RBD client (`rbd map`) on the same image"),
    "librbd": ("user", "ceph", "fio's rbd engine: librbd in process (as `rbd bench`), rbd_cache=false, same image"),
}

WORKLOADS = [  # (key, label)
    ("randread-4k-qd1", "4K randread QD1"),
    ("randwrite-4k-qd1", "4K randwrite QD1"),
    ("randread-4k-qd32", "4K randread QD32"),
    ("randwrite-4k-qd32", "4K randwrite QD32"),
    ("randrw70-4k-qd32", "4K randrw 70/30 QD32"),
    ("read-128k-qd8", "128K read QD8"),
    ("write-128k-qd8", "128K write QD8"),
    ("pollread-4k-qd1", "4K randread QD1 polled (io_uring hipri)"),
]
LABEL = dict(WORKLOADS)
METRICS = ("iops", "mb_s", "p50_us", "p99_us", "p999_us", "cpu_us_per_io", "ctxt_per_io", "vm_cpu_pct",
           "target_ctxt_per_io")

# Which perftest moves data the way a system's 128K transfers do. Reads move
# data target -> initiator: command mode and nvme-rdma do that with the
# target's RDMA WRITEs, direct mode with the initiator's RDMA READs (writes the
# other way round).
FLOOR_TOOL = {
    ("command", "read"): "ib_write_bw", ("command", "write"): "ib_read_bw",
    ("direct", "read"): "ib_read_bw", ("direct", "write"): "ib_write_bw",
}


def mode_of(system):
    return "direct" if "direct" in system else "command"


def workload_key(rw, bs, qd):
    return f"{rw}-{bs.lower()}-qd{qd}"


# ---- collect -------------------------------------------------------------

def read_meta(raw):
    meta = {"notes": [], "devices": {}}
    path = raw / "meta.txt"
    if not path.exists():
        return meta
    for line in path.read_text().splitlines():
        key, _, value = line.partition("\t")
        if key == "note":
            meta["notes"].append(value)
        elif key == "device":
            name, _, dev = value.partition(" ")
            meta["devices"][name] = dev
        elif key:
            meta[key] = value
    return meta


def collect(out):
    out = pathlib.Path(out)
    raw = out / "raw"
    meta = read_meta(raw)
    ncpu = int(meta.get("vcpus", 2) or 2)
    runs, errors = [], []
    for path in sorted(raw.glob("*.json")):
        m = bl.NAME.match(path.name)
        if not m:
            continue
        text = path.read_text()
        try:
            rec = bl.parse_fio(text) if '"jobs"' in text else bl.parse_rdmablk_bench(text)
        except (ValueError, KeyError, json.JSONDecodeError) as e:
            errors.append(f"{path.name}: {e}")
            continue
        rec = {"system": m["system"], "workload": workload_key(m["rw"], m["bs"], m["qd"]),
               "rep": int(m["rep"]), **rec}
        sys_file = path.with_suffix(".sys")
        if sys_file.exists():
            try:
                busy, total, ctxt = (float(x) for x in sys_file.read_text().split()[:3])
                hz = float(meta.get("clk_tck", 100) or 100)
                rec["vm_cpu_pct"] = 100 * busy / total if total else bl.NAN
                if rec["ios"]:
                    # Busy CPU time of the whole VM (every vCPU, rxe's softirqs,
                    # the target, the client) per I/O of the job.
                    rec["cpu_us_per_io"] = busy / hz * 1e6 / rec["ios"]
                    rec["ctxt_per_io"] = ctxt / rec["ios"]
            except ValueError:
                pass
        tgt_file = path.with_suffix(".tgt")
        if tgt_file.exists() and rec["ios"]:
            try:
                rec["target_ctxt_per_io"] = float(tgt_file.read_text().split()[0]) / rec["ios"]
            except (ValueError, IndexError):
                pass
        runs.append(rec)

    perftest = {}
    for path in sorted(raw.glob("perftest-*.txt")):
        tool, size = path.stem[len("perftest-"):].rsplit("-", 1)
        try:
            r = bl.parse_perftest(path.read_text(), int(size))
        except ValueError as e:
            errors.append(f"{path.name}: {e}")
            continue
        perftest[f"{tool}-{size}"] = {"tool": tool, **r}

    summary = {}
    for rec in runs:
        summary.setdefault(rec["workload"], {}).setdefault(rec["system"], []).append(rec)
    summary = {w: {s: {k: bl.spread([r.get(k, bl.NAN) for r in recs]) for k in METRICS} for s, recs in ss.items()}
               for w, ss in summary.items()}
    systems = {}
    present = {r["system"] for r in runs}
    for name in list(SYSTEMS) + sorted(present - set(SYSTEMS)):
        if name in present:
            kind, transport, desc = SYSTEMS.get(name, ("?", "?", name))
            systems[name] = {"kind": kind, "transport": transport, "description": desc,
                             "device": meta["devices"].get(name, "")}
    results = {"meta": meta, "systems": systems, "perftest": perftest, "runs": runs, "summary": summary,
               "errors": errors}
    results["goals"], results["ratios"] = goals(results)
    (out / "results.json").write_text(json.dumps(to_json(results), indent=1, allow_nan=False) + "\n")
    return results


def to_json(o):
    """NaN (no data) and infinities as null: results.json stays strict JSON."""
    if isinstance(o, dict):
        return {k: to_json(v) for k, v in o.items()}
    if isinstance(o, list):
        return [to_json(v) for v in o]
    return None if isinstance(o, float) and not math.isfinite(o) else o


def from_json(o, key=None):
    """The inverse of to_json: null numbers back to NaN (not 'met' and 'margin')."""
    if isinstance(o, dict):
        return {k: from_json(v, k) for k, v in o.items()}
    if isinstance(o, list):
        return [from_json(v) for v in o]
    return bl.NAN if o is None and key not in ("met", "margin") else o


# ---- goals ---------------------------------------------------------------

def med(results, workload, system, metric):
    s = results["summary"].get(workload, {}).get(system, {}).get(metric)
    return s["median"] if s and s.get("n") else bl.NAN


def pt(results, key, field):
    v = results["perftest"].get(key, {}).get(field)
    return v if v is not None else bl.NAN


def goals(results):
    """The project's goals (the issue's list) and a few ratios without one."""
    present = set(results["systems"])
    g, r = [], []

    def add(group, name, value, op=None, target=None):
        if op is None:
            r.append({"group": group, "name": name, "value": value})
            return
        met, margin = bl.evaluate(value, op, target)
        g.append({"group": group, "name": name, "value": value, "op": op, "target": target, "met": met,
                  "margin": margin})

    def ratio(w, a, b, metric):
        return med(results, w, a, metric) / med(results, w, b, metric)

    kernel = [s for s in ("rdmablk-command", "rdmablk-direct") if s in present]
    user = [s for s in ("user-command", "user-direct", "user-command-poll", "user-direct-poll") if s in present]
    if "nvme-rdma" in present:
        for s in kernel:
            grp = "kernel driver vs nvme-rdma"
            for w in ("randread-4k-qd1", "randwrite-4k-qd1"):
                add(grp, f"{s} / nvme-rdma: {LABEL[w]} p50 latency", ratio(w, s, "nvme-rdma", "p50_us"), "<=", 0.8)
            for w in ("randread-4k-qd32", "randwrite-4k-qd32", "randrw70-4k-qd32"):
                add(grp, f"{s} / nvme-rdma: {LABEL[w]} IOPS", ratio(w, s, "nvme-rdma", "iops"), ">=", 1.25)
            for w in ("read-128k-qd8", "write-128k-qd8"):
                add(grp, f"{s} / nvme-rdma: {LABEL[w]} MB/s", ratio(w, s, "nvme-rdma", "mb_s"), ">=", 1.0)
            for w in ("randread-4k-qd32", "randwrite-4k-qd32"):
                add(grp, f"{s} / nvme-rdma: {LABEL[w]} CPU us per I/O (whole VM)",
                    ratio(w, s, "nvme-rdma", "cpu_us_per_io"), "<=", 1.0)
    for s in ("rdmablk-command", "user-command"):
        if s in present:
            for w in ("randread-4k-qd32", "randwrite-4k-qd32"):
                v = med(results, w, s, "target_ctxt_per_io")
                if bl.isnum(v):
                    add("target context switches", f"{s}: {LABEL[w]} target context switches per I/O", v, "<=", 0.5)
    if "nvme-rdma" in present:
        for s in kernel:
            add("polled (fio io_uring --hipri on a poll queue)",
                f"{s} / nvme-rdma: {LABEL['pollread-4k-qd1']} p50 latency",
                ratio("pollread-4k-qd1", s, "nvme-rdma", "p50_us"))
    lat = pt(results, "ib_read_lat-4096", "typical_us")
    for s in ("rdmablk-direct", "user-direct", "user-direct-poll"):
        if s in present:
            add("direct mode vs the perftest floor", f"{s}: 4K randread QD1 p50 / ib_read_lat 4K typical",
                med(results, "randread-4k-qd1", s, "p50_us") / lat, "<=", 1.5)
    for tcp, rdma in (("nbd", kernel), ("user-nbd", user)):
        if tcp not in present:
            continue
        grp = "RDMA vs TCP (same target, same export)" if tcp == "nbd" else "RDMA vs TCP, userspace client"
        for s in rdma:
            for w in ("randread-4k-qd1", "randwrite-4k-qd1"):
                add(grp, f"{s} / {tcp}: {LABEL[w]} p50 latency", ratio(w, s, tcp, "p50_us"), "<=", 0.7)
            for w in ("randread-4k-qd32", "randwrite-4k-qd32"):
                add(grp, f"{s} / {tcp}: {LABEL[w]} IOPS", ratio(w, s, tcp, "iops"), ">=", 1.3)
    for s in kernel + user:
        for rw in ("read", "write"):
            tool = FLOOR_TOOL[(mode_of(s), rw)]
            add("128K against the perftest floor (same direction)", f"{s}: 128K {rw} QD8 MB/s / {tool} 128K",
                med(results, f"{rw}-128k-qd8", s, "mb_s") / pt(results, f"{tool}-131072", "mb_s"), ">=", 0.9)

    if "rbd-rdmablk" in present and "krbd" in present:
        grp = "RBD: rdmablk gateway vs the kernel's krbd (same image)"
        for w in ("randread-4k-qd32", "randwrite-4k-qd32"):
            add(grp, f"rbd-rdmablk / krbd: {LABEL[w]} IOPS", ratio(w, "rbd-rdmablk", "krbd", "iops"), ">=", 0.8)
        for w in ("randread-4k-qd1", "randwrite-4k-qd1"):
            add("RBD: the gateway hop", f"rbd-rdmablk / krbd: {LABEL[w]} p50 latency",
                ratio(w, "rbd-rdmablk", "krbd", "p50_us"))
        for w in ("read-128k-qd8", "write-128k-qd8"):
            add("RBD: the gateway hop", f"rbd-rdmablk / krbd: {LABEL[w]} MB/s", ratio(w, "rbd-rdmablk", "krbd", "mb_s"))
    if "rbd-rdmablk" in present and "librbd" in present:
        for w in ("randread-4k-qd1", "randread-4k-qd32", "randwrite-4k-qd32"):
            metric = "p50_us" if w.endswith("qd1") else "iops"
            what = "p50 latency" if metric == "p50_us" else "IOPS"
            add("RBD: the gateway hop", f"rbd-rdmablk / librbd: {LABEL[w]} {what}",
                ratio(w, "rbd-rdmablk", "librbd", metric))

    # Without a goal: the references against each other and the floor.
    for a, b in (("nvme-rdma", "nvme-tcp"), ("nbd", "nvme-tcp"), ("user-nbd", "nbd")):
        if a in present and b in present:
            for w in ("randread-4k-qd1", "randread-4k-qd32", "read-128k-qd8", "write-128k-qd8"):
                metric = "p50_us" if w.endswith("qd1") else ("iops" if "4k" in w else "mb_s")
                what = {"p50_us": "p50 latency", "iops": "IOPS", "mb_s": "MB/s"}[metric]
                add("references", f"{a} / {b}: {LABEL[w]} {what}", ratio(w, a, b, metric))
    if "nvme-rdma" in present:
        for rw in ("read", "write"):
            tool = FLOOR_TOOL[("command", rw)]
            add("references", f"nvme-rdma: 128K {rw} QD8 MB/s / {tool} 128K",
                med(results, f"{rw}-128k-qd8", "nvme-rdma", "mb_s") / pt(results, f"{tool}-131072", "mb_s"))
    for s in results["systems"]:
        if results["systems"][s]["transport"] == "rdma" and bl.isnum(lat):
            add("references", f"{s}: 4K randread QD1 p50 / ib_read_lat 4K typical",
                med(results, "randread-4k-qd1", s, "p50_us") / lat)
    return g, r


# ---- report --------------------------------------------------------------

def report(results, out, plots=True):
    out = pathlib.Path(out)
    meta = results["meta"]
    lines = []
    p = lines.append
    head = []
    for key, label in (("date", "date"), ("commit", "commit"), ("command", "command"), ("rig", "rig"),
                       ("kernel", "guest kernel"), ("elapsed_s", "time in the guest (s)"), ("config", "fio/bench")):
        if meta.get(key):
            head.append(f"- {label}: {meta[key]}")
    p("\n".join(head))
    p("")
    p("Systems:")
    p("")
    p(bl.table(["system", "what", "device"],
               [[s, v["description"], v.get("device") or "-"] for s, v in results["systems"].items()]))
    p("")
    rows = []
    for w, label in WORKLOADS:
        for s in results["systems"]:
            m = results["summary"].get(w, {}).get(s)
            if not m:
                continue
            rows.append([label, s, bl.cell(m["iops"]), bl.cell(m["mb_s"], 1), bl.cell(m["p50_us"]),
                         bl.cell(m["p99_us"]), bl.cell(m["p999_us"]), bl.num(m["cpu_us_per_io"]["median"]),
                         bl.num(m["vm_cpu_pct"]["median"]), bl.num(m.get("target_ctxt_per_io", {}).get("median", bl.NAN), 2)])
    p("Medians over the repetitions, (min..max) where they differ. CPU us/IO: busy time of the whole VM "
      "(both vCPUs: client, target, rxe, softirqs) per I/O, from /proc/stat around each job. "
      "Target cs/IO: context switches of the rdmablk-target process (all threads) per I/O "
      "(- for nvmet, which runs in the kernel).")
    p("")
    p(bl.table(["workload", "system", "IOPS", "MB/s", "p50 us", "p99 us", "p99.9 us", "CPU us/IO", "VM CPU %",
                "target cs/IO"],
               rows))
    p("")
    ptx = results["perftest"]
    if ptx:
        floor = []
        for key in ("ib_read_lat-4096", "ib_write_lat-4096"):
            if key in ptx:
                v = ptx[key]
                floor.append(f"{v['tool']} 4K: typical {v['typical_us']:.1f} us, p99 {v['p99_us']:.1f}, "
                             f"p99.9 {v['p999_us']:.1f}")
        for key in ("ib_read_bw-131072", "ib_write_bw-131072", "ib_read_bw-4096", "ib_write_bw-4096"):
            if key in ptx:
                v = ptx[key]
                size = "128K" if v["bytes"] == 131072 else "4K -t 32 (message rate)"
                floor.append(f"{v['tool']} {size}: {v['mb_s']:,.1f} MB/s, {v['msg_rate']:,.0f} msg/s")
        p("perftest on rxe0 (the floor; MB/s of 10^6 bytes): " + "; ".join(floor) + ".")
        p("")
    if results["goals"]:
        met = sum(1 for x in results["goals"] if x["met"] is True)
        missed = sum(1 for x in results["goals"] if x["met"] is False)
        nodata = len(results["goals"]) - met - missed
        p(f"Goals: {met} met, {missed} missed" + (f", {nodata} without data" if nodata else "") + ".")
        p("")
        rows, group = [], None
        for x in results["goals"]:
            rows.append([x["name"], bl.ratio_text(x["value"], x["target"]), f"{x['op']} {x['target']}",
                         bl.verdict(x)])
        p(bl.table(["goal (ratio of medians)", "value", "goal", "verdict"], rows))
        p("")
    if results["ratios"]:
        p(bl.table(["other ratios (no goal)", "value"], [[x["name"], bl.ratio_text(x["value"])]
                                                        for x in results["ratios"]]))
        p("")
    for note in meta.get("notes", []):
        p(f"- {note}")
    for err in results.get("errors", []):
        p(f"- unreadable result: {err}")
    if plots:
        made, why = make_plots(results, out)
        p("")
        p("Plots: " + (", ".join(made) if made else f"none ({why})"))
    text = "\n".join(lines).rstrip() + "\n"
    (out / "report.md").write_text(text)
    return text


# ---- plots ---------------------------------------------------------------

def make_plots(results, out):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return [], "matplotlib not importable by this python; install python3-matplotlib"
    systems = list(results["systems"])
    colors = {s: plt.cm.tab10(i % 10) for i, s in enumerate(systems)}
    made = []

    def spread(w, s, k):
        m = results["summary"].get(w, {}).get(s, {}).get(k)
        return (m["median"], m["min"], m["max"]) if m and m.get("n") else (bl.NAN, bl.NAN, bl.NAN)

    # 1. Latency percentiles at QD1, per system, with perftest's as the floor.
    fig, axes = plt.subplots(1, 2, figsize=(13, 5), sharey=True)
    for ax, w, tool in ((axes[0], "randread-4k-qd1", "ib_read_lat-4096"),
                        (axes[1], "randwrite-4k-qd1", "ib_write_lat-4096")):
        names = [s for s in systems if results["summary"].get(w, {}).get(s)]
        pcts = (("p50_us", "p50"), ("p99_us", "p99"), ("p999_us", "p99.9"))
        width = 0.8 / len(pcts)
        ptv = results["perftest"].get(tool)
        labels = names + ([tool.split("-")[0]] if ptv else [])
        for j, (k, lab) in enumerate(pcts):
            vals = [spread(w, s, k)[0] for s in names]
            if ptv:
                vals.append({"p50_us": ptv["typical_us"], "p99_us": ptv["p99_us"], "p999_us": ptv["p999_us"]}[k])
            ax.bar([i + (j - 1) * width for i in range(len(labels))], vals, width, label=lab)
        ax.set_xticks(range(len(labels)))
        ax.set_xticklabels(labels, rotation=35, ha="right")
        ax.set_yscale("log")
        ax.set_title(f"{LABEL[w]}: latency, submission to completion (us, log)")
        ax.grid(axis="y", which="both", alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(out / "latency.png", dpi=90)
    plt.close(fig)
    made.append("latency.png")

    # 2. IOPS per system, 4K workloads.
    ws = [w for w, _ in WORKLOADS if "4k" in w and w in results["summary"]]
    if ws:
        fig, ax = plt.subplots(figsize=(13, 5))
        width = 0.8 / max(1, len(systems))
        for j, s in enumerate(systems):
            m = [spread(w, s, "iops") for w in ws]
            xs = [i + (j - (len(systems) - 1) / 2) * width for i in range(len(ws))]
            meds = [v[0] for v in m]
            err = [[v[0] - v[1] if bl.isnum(v[0]) else 0 for v in m], [v[2] - v[0] if bl.isnum(v[0]) else 0 for v in m]]
            ax.bar(xs, meds, width, yerr=err, capsize=2, label=s, color=colors[s])
        for key, style in (("ib_read_bw-4096", ":"), ("ib_write_bw-4096", "--")):
            v = results["perftest"].get(key)
            if v:
                ax.axhline(v["msg_rate"], color="grey", linestyle=style, label=f"{v['tool']} 4K msg rate (-t 32)")
        ax.set_xticks(range(len(ws)))
        ax.set_xticklabels([LABEL[w] for w in ws])
        ax.set_ylabel("IOPS (median, min..max)")
        ax.set_title("4K IOPS per system")
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=8, ncol=2)
        fig.tight_layout()
        fig.savefig(out / "iops.png", dpi=90)
        plt.close(fig)
        made.append("iops.png")

    # 3. 128K throughput against the perftest bandwidth floor.
    ws = [w for w in ("read-128k-qd8", "write-128k-qd8") if w in results["summary"]]
    if ws:
        fig, axes = plt.subplots(1, len(ws), figsize=(13, 5), sharey=True, squeeze=False)
        for ax, w in zip(axes[0], ws):
            names = [s for s in systems if results["summary"][w].get(s)]
            m = [spread(w, s, "mb_s") for s in names]
            ax.bar(range(len(names)), [v[0] for v in m],
                   yerr=[[v[0] - v[1] for v in m], [v[2] - v[0] for v in m]], capsize=3,
                   color=[colors[s] for s in names])
            for key, style in (("ib_read_bw-131072", ":"), ("ib_write_bw-131072", "--")):
                v = results["perftest"].get(key)
                if v:
                    ax.axhline(v["mb_s"], color="black", linestyle=style, label=f"{v['tool']} 128K")
            ax.set_xticks(range(len(names)))
            ax.set_xticklabels(names, rotation=35, ha="right")
            ax.set_title(f"{LABEL[w]}: MB/s vs the perftest floor")
            ax.grid(axis="y", alpha=0.3)
            ax.legend(fontsize=8)
        axes[0][0].set_ylabel("MB/s (10^6 bytes; median, min..max)")
        fig.tight_layout()
        fig.savefig(out / "throughput.png", dpi=90)
        plt.close(fig)
        made.append("throughput.png")
    return made, ""


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("action", choices=("collect", "report", "all"))
    ap.add_argument("path", help="the run's output folder (or, for report, a results.json)")
    ap.add_argument("--out", help="report: where report.md and the plots go (default: beside results.json)")
    ap.add_argument("--no-plots", action="store_true")
    a = ap.parse_args()
    path = pathlib.Path(a.path)
    if a.action in ("collect", "all"):
        results = collect(path)
        if not results["runs"]:
            sys.exit(f"compare_report: no results in {path / 'raw'}")
        if a.action == "collect":
            return
    else:
        src = path if path.suffix == ".json" else path / "results.json"
        results = from_json(json.loads(src.read_text()))
        path = src.parent
    out = pathlib.Path(a.out) if a.out else path
    out.mkdir(parents=True, exist_ok=True)
    sys.stdout.write(report(results, out, plots=not a.no_plots))


if __name__ == "__main__":
    main()
