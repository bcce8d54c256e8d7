#!/usr/bin/env python3
"""bench/compare_report.py on a synthetic run (no VM): raw fio, `rdmablk
bench` and perftest files in, results.json, report.md and plots out; the
goals must come out met or missed by the right margins."""
import json
import math
import pathlib
import subprocess
import sys
import tempfile
import unittest

BENCH = pathlib.Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))
import benchlib as bl  # noqa: E402
import compare_report as cr  # noqa: E402

WORKLOADS = [("randread", "4k", 1), ("randwrite", "4k", 1), ("randread", "4k", 32), ("randwrite", "4k", 32),
             ("randrw70", "4k", 32), ("read", "128k", 8), ("write", "128k", 8)]


def fio_json(iops, p50, bs=4096, mixed=True):
    side = {"iops": iops, "bw_bytes": iops * bs, "total_ios": int(iops * 5), "runtime": 5000,
            "clat_ns": {"percentile": {"50.000000": p50 * 1e3, "99.000000": p50 * 2e3, "99.900000": p50 * 3e3}}}
    job = {"mixed": side} if mixed else {"read": side, "write": dict(side, total_ios=0)}
    # fio may print a note before the JSON.
    return "note: both iodepth >= 1 and synchronous I/O engine are selected\n" + json.dumps({"jobs": [job]})


def bench_json(iops, p50, bs=4096):
    return json.dumps({"elapsed_s": 5.0, "total": {"ops": int(iops * 5), "iops": iops, "mb_s": iops * bs / 1e6,
                                                  "lat_us": {"p50": p50, "p99": 2 * p50, "p99.9": 3 * p50}}})


# perftest output (trimmed): latency tools have 9 columns, bandwidth tools 5.
LAT = " #bytes #iterations    t_min[usec]    t_max[usec]  t_typical[usec]    t_avg[usec]    t_stdev[usec]   99% percentile[usec]   99.9% percentile[usec] \n 4096    1000          80.00          900.00       {t:.2f}          110.00       20.00          300.00          800.00\n"
BW = " #bytes     #iterations    BW peak[MB/sec]    BW average[MB/sec]   MsgRate[Mpps]\n {s}     5000           70.00              {bw:.2f}               0.000500\n"


class CompareReport(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.out = pathlib.Path(self.tmp.name)
        raw = self.out / "raw"
        raw.mkdir()
        # Per system: (IOPS at 4K, p50 us at QD1, MB/s at 128K); 2 reps.
        systems = {
            "rdmablk-command": (1000, 380, 60.0),   # vs nvme: latency 0.76 (met by 5%), IOPS 1.0 (missed by 20%)
            "rdmablk-direct": (2000, 100, 66.0),    # vs nvme: latency 0.2, IOPS 2.0, 128K 1.1
            "nvme-rdma": (1000, 500, 60.0),
            "nbd": (4000, 1000, 150.0),             # TCP: 4x the IOPS of command mode, 2x its latency
            "nvme-tcp": (5000, 900, 160.0),
            "user-direct": (2500, 150, 64.0),
            "user-nbd": (3000, 400, 140.0),
        }
        for s, (iops, p50, mbs) in systems.items():
            for rep in (1, 2):
                k = 1 + (rep - 1) * 0.1  # the second rep 10% faster
                for rw, bs, qd in WORKLOADS:
                    name = f"{s}-{rw}-{bs}-qd{qd}-rep{rep}"
                    if bs == "128k":
                        it, lat, size = mbs * k * 1e6 / 131072, p50 * 10, 131072
                    else:
                        it, lat, size = iops * k, p50 / k, 4096
                    text = bench_json(it, lat, size) if s.startswith("user-") else fio_json(it, lat, size, rep == 1)
                    (raw / f"{name}.json").write_text(text)
                    (raw / f"{name}.sys").write_text(f"{int(it * 5)} 1000 {int(it * 50)}\n")
                    if not s.startswith("nvme-"):  # nvmet has no target process
                        (raw / f"{name}.tgt").write_text(f"{int(it * 5) // 4}\n")  # 0.25 per I/O
        (raw / "perftest-ib_read_lat-4096.txt").write_text(LAT.format(t=100.0))
        (raw / "perftest-ib_write_lat-4096.txt").write_text(LAT.format(t=70.0))
        (raw / "perftest-ib_read_bw-131072.txt").write_text(BW.format(s=131072, bw=62.5))   # 65.536 MB/s
        (raw / "perftest-ib_write_bw-131072.txt").write_text(BW.format(s=131072, bw=66.0))
        (raw / "perftest-ib_read_bw-4096.txt").write_text("garbage, no result line\n")
        (raw / "meta.txt").write_text("date\t2026-11-26\ncommit\tabc1234\nvcpus\t2\nclk_tck\t100\n"
                                      "device\tnbd /dev/nbd0: 512 MiB\nnote\tteardown: clean\n")

    def tearDown(self):
        self.tmp.cleanup()

    def goal(self, results, name):
        found = [g for g in results["goals"] if g["name"] == name]
        self.assertEqual(len(found), 1, f"goal {name!r}: {[g['name'] for g in results['goals']]}")
        return found[0]

    def test_parsers(self):
        rec = bl.parse_fio(fio_json(1000, 50))
        self.assertEqual((rec["iops"], rec["p50_us"], rec["p999_us"], rec["ios"]), (1000, 50, 150, 5000))
        # Total latency (lat_percentiles=1) wins over completion latency.
        job = json.loads(fio_json(1000, 50).split("\n", 1)[1])
        job["jobs"][0]["mixed"]["lat_ns"] = {"percentile": {"50.000000": 80e3, "99.000000": 90e3}}
        rec = bl.parse_fio(json.dumps(job))
        self.assertEqual(rec["p50_us"], 80)
        self.assertTrue(math.isnan(rec["p999_us"]))
        job = json.loads(fio_json(700, 50).split("\n", 1)[1])["jobs"][0]["mixed"]
        split = {"jobs": [{"read": job, "write": dict(job, iops=300, bw_bytes=300 * 4096, total_ios=1500)}]}
        rec = bl.parse_fio(json.dumps(split))
        self.assertEqual((rec["iops"], rec["mb_s"], rec["ios"]), (1000, 4.096, 5000))  # both sides summed
        self.assertEqual(bl.parse_perftest(LAT.format(t=99.5), 4096)["typical_us"], 99.5)
        self.assertAlmostEqual(bl.parse_perftest(BW.format(s=131072, bw=62.5), 131072)["mb_s"], 65.536)
        with self.assertRaises(ValueError):
            bl.parse_perftest("nothing", 4096)
        inf = " 4096    1000          inf            inf          inf      \t       inf         \t-nan   \t\tinf     \t\tinf\n"
        with self.assertRaisesRegex(ValueError, "not finite"):
            bl.parse_perftest(inf, 4096)
        self.assertIsNone(bl.NAME.match("x-randrw70-4k-qd32-rep1.sys"))
        m = bl.NAME.match("user-command-poll-randrw70-4k-qd32-rep3.json")
        self.assertEqual((m["system"], m["rw"], m["bs"], m["qd"], m["rep"]),
                         ("user-command-poll", "randrw70", "4k", "32", "3"))

    def test_goals(self):
        self.assertEqual(bl.evaluate(0.8, "<=", 0.8), (True, 0.0))
        met, margin = bl.evaluate(1.0, ">=", 1.25)
        self.assertFalse(met)
        self.assertAlmostEqual(margin, -0.2)
        self.assertEqual(bl.evaluate(float("nan"), "<=", 1), (None, None))
        self.assertEqual(bl.verdict({"met": False, "margin": -0.2}), "MISSED (by 20%)")
        self.assertEqual(bl.ratio_text(0.7996, 0.8), "0.800x")
        self.assertEqual(bl.ratio_text(0.75, 0.8), "0.75x")

    def test_collect_and_report(self):
        results = cr.collect(self.out)
        self.assertEqual(results["errors"], ["perftest-ib_read_bw-4096.txt: no perftest result line for 4096 bytes"])
        self.assertEqual(len(results["runs"]), 7 * 7 * 2)
        s = results["summary"]["randread-4k-qd1"]["nvme-rdma"]
        self.assertAlmostEqual(s["iops"]["median"], 1050)
        self.assertEqual((s["iops"]["min"], s["iops"]["max"], s["iops"]["n"]), (1000, 1100, 2))
        self.assertAlmostEqual(s["cpu_us_per_io"]["median"], 1e4)  # as many jiffies (10 ms) as I/Os
        self.assertAlmostEqual(s["ctxt_per_io"]["median"], 10)
        self.assertEqual(s["target_ctxt_per_io"]["n"], 0)  # nvmet: no target process
        t = results["summary"]["randread-4k-qd32"]["rdmablk-command"]["target_ctxt_per_io"]
        self.assertAlmostEqual(t["median"], 0.25, places=3)
        g = self.goal(results, "rdmablk-command: 4K randread QD32 target context switches per I/O")
        self.assertTrue(g["met"])
        g = self.goal(results, "rdmablk-command / nvme-rdma: 4K randwrite QD32 CPU us per I/O (whole VM)")
        self.assertAlmostEqual(g["value"], 1.0, places=3)

        g = self.goal(results, "rdmablk-command / nvme-rdma: 4K randread QD1 p50 latency")
        self.assertAlmostEqual(g["value"], 0.76)
        self.assertEqual((g["met"], round(g["margin"], 3)), (True, 0.05))
        g = self.goal(results, "rdmablk-command / nvme-rdma: 4K randread QD32 IOPS")
        self.assertEqual((g["met"], round(g["margin"], 3)), (False, -0.2))
        g = self.goal(results, "rdmablk-direct / nvme-rdma: 128K write QD8 MB/s")
        self.assertAlmostEqual(g["value"], 1.1)
        g = self.goal(results, "rdmablk-direct: 4K randread QD1 p50 / ib_read_lat 4K typical")
        self.assertAlmostEqual(g["value"], (100 + 100 / 1.1) / 2 / 100)  # median of two reps
        self.assertTrue(g["met"])
        g = self.goal(results, "rdmablk-command / nbd: 4K randread QD32 IOPS")
        self.assertEqual((g["met"], round(g["value"], 3)), (False, 0.25))
        g = self.goal(results, "user-direct / user-nbd: 4K randwrite QD1 p50 latency")
        self.assertAlmostEqual(g["value"], 0.375)
        # Command-mode reads move data with the target's RDMA WRITEs: against ib_write_bw.
        g = self.goal(results, "rdmablk-command: 128K read QD8 MB/s / ib_write_bw 128K")
        self.assertAlmostEqual(g["value"], 63.0 / (66.0 * bl.MIB_TO_MB))
        g = self.goal(results, "rdmablk-direct: 128K read QD8 MB/s / ib_read_bw 128K")
        self.assertAlmostEqual(g["value"], 69.3 / 65.536)
        names = [x["name"] for x in results["goals"]]
        self.assertFalse(any("user-command" in n for n in names))  # not measured, no goal

        # results.json is strict JSON (no NaN) and reads back.
        text = (self.out / "results.json").read_text()
        self.assertNotIn("NaN", text)
        back = cr.from_json(json.loads(text))
        self.assertFalse(math.isnan(back["summary"]["randread-4k-qd1"]["nvme-rdma"]["p999_us"]["median"]))

        md = cr.report(back, self.out, plots=False)
        self.assertIn("| 4K randread QD1 | nvme-rdma | 1,050 (1,000..1,100) |", md)
        self.assertRegex(md, r"\| 4K randread QD32 \| rdmablk-command \| .* \| 0\.25 \|")
        self.assertRegex(md, r"\| 4K randread QD32 \| nvme-rdma \| .* \| - \|")
        self.assertIn("| rdmablk-command / nvme-rdma: 4K randread QD32 IOPS | 1.00x | >= 1.25 | MISSED (by 20%) |", md)
        self.assertIn("| rdmablk-command / nvme-rdma: 4K randread QD1 p50 latency | 0.76x | <= 0.8 | met (by 5%) |", md)
        self.assertIn("- teardown: clean", md)
        self.assertRegex(md, r"Goals: \d+ met, \d+ missed\.")
        self.assertIn("unreadable result: perftest-ib_read_bw-4096.txt", md)

    def test_cli_and_plots(self):
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            self.skipTest("no matplotlib for this python (python3-matplotlib)")
        r = subprocess.run([sys.executable, str(BENCH / "compare_report.py"), "all", str(self.out)],
                           capture_output=True, text=True, check=True)
        self.assertIn("Goals: ", r.stdout)
        for png in ("latency.png", "iops.png", "throughput.png"):
            data = (self.out / png).read_bytes()
            self.assertEqual(data[:8], b"\x89PNG\r\n\x1a\n", png)
            self.assertGreater(len(data), 10000, png)


if __name__ == "__main__":
    unittest.main()
