"""Benchmark: 24 scheduled runs over a growing lake, each looking at the last two hours.

    python benchmarks/bench_scheduled.py [--records 4000000] [--window 2h]

A scheduled job (`flowlogs run` with `[report] since = "2h"`) runs every hour while the lake
grows by an hour of records. Its cost should follow the window, not the lake: the 24th run
no dearer than 1.5 times the first (issue 14).

1. The benchmark lake of ``bench_findings.py`` (``--records`` over 24 hours, generated once)
   is cut into hourly deliveries written in the lake's layout (flows/aws_account=…/
   aws_region=…/dt=…/): hour h's records, except its last 5 minutes, which arrive late, in
   the next hour's delivery (a second file), as a flow log's stragglers do.
2. A new lake gets the metadata snapshot and then, hour after hour, that hour's files (hard
   links of the cut files, so "ingesting" costs nothing here: bench_ingest.py measures that).
3. After each hour, in a fresh process: ``reports.findings_document`` with the window
   ``[end - window, end)`` (what ``flowlogs run`` calls, after it reduces the new data files into the
   lake's derived tables, ``pipeline.lake.derived``: included in the run's time; ``--no-derive``
   reads the records every time, as before), and at the first and the last hour
   the same over the whole lake (no window) for comparison. Prints wall time, CPU time and
   peak RSS per run, and the ratio of the last run to the first.
4. With ``--medians N``: the first and the last run's windows again, N fresh processes each (the
   first on a lake holding only the first hour's on-time delivery, the last on the grown lake, their
   derived tables built), and the ratio of their medians: one run of each varies by a quarter.
"""

from __future__ import annotations

import argparse
import calendar
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_findings import ACCOUNT, REGION, SPAN, T0, ensure_lake, machine, make_account, usage, write_metadata  # noqa: E402

from pipeline.lake import store as lake  # noqa: E402

LATE = 300  # the last minutes of each hour are delivered with the next hour's files


def cut_hours(source: Path, out: Path) -> None:
    """The source lake's flow records as 2 files per hour (on time, late) under ``out/HH/``."""
    if (out / "done").exists():
        return
    shutil.rmtree(out, ignore_errors=True)
    con = duckdb.connect()
    files = f"{source}/flows/*/*/*/*.parquet"
    for hour in range(SPAN // 3600):
        lo = T0 + hour * 3600
        for part, (a, b) in (("ontime", (lo, lo + 3600 - LATE)), ("late", (lo + 3600 - LATE, lo + 3600))):
            for dt in sorted({time.strftime("%Y-%m-%d", time.gmtime(t)) for t in (a, b - 1)}):
                day = calendar.timegm(time.strptime(dt, "%Y-%m-%d"))
                lo_t, hi_t = max(a, day), min(b, day + 86400)
                if lo_t >= hi_t:
                    continue
                directory = out / f"{hour:02d}" / part / f"dt={dt}"
                directory.mkdir(parents=True, exist_ok=True)
                con.execute(f"""COPY (SELECT * EXCLUDE (aws_account, aws_region, dt)
                                      FROM read_parquet('{files}', hive_partitioning = true)
                                      WHERE "start" >= {lo_t} AND "start" < {hi_t} ORDER BY "start")
                                TO '{directory}/h{hour:02d}-{part}.parquet' (FORMAT parquet, COMPRESSION zstd)""")
    (out / "done").write_text("")


def deliver(hours: Path, lake_path: Path, hour: int, part: str) -> None:
    """Hard-link one delivery into the lake's flows partitions."""
    for day in sorted((hours / f"{hour:02d}" / part).glob("dt=*")):
        target = lake_path / "flows" / f"aws_account={ACCOUNT}" / f"aws_region={REGION}" / day.name
        target.mkdir(parents=True, exist_ok=True)
        for f in day.glob("*.parquet"):
            os.link(f, target / f.name)


def child(lake_path: str, since: int | None, until: int | None, derive: bool) -> None:
    from pipeline.analysis import reports
    from pipeline.lake import derived

    cpu0, _ = usage()
    started = time.perf_counter()
    store = lake.open_lake(lake_path)
    built = derived.refresh(store) if derive else derived.Built()  # what `flowlogs run` does before its findings
    derive_s = time.perf_counter() - started
    doc = reports.findings_document(store, reports.Filters(since=since, until=until))
    wall = time.perf_counter() - started
    cpu, rss = usage()
    print(json.dumps({"wall_s": round(wall, 2), "cpu_s": round(cpu - cpu0, 2), "peak_rss_mb": round(rss),
                      "derive_s": round(derive_s, 2), "derived_files": built.built,
                      "findings": len(doc["findings"]), "incidents": len(doc["incidents"])}))


def run(lake_path: Path, since: int | None, until: int | None, derive: bool = False) -> dict:
    args = [sys.executable, __file__, "--child", str(lake_path), json.dumps([since, until, derive])]
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=4_000_000)
    parser.add_argument("--window", type=int, default=7200, help="seconds (default 2 h)")
    parser.add_argument("--lake", help="the scheduled lake to (re)create (default: <source lake>-scheduled)")
    parser.add_argument("--no-derive", action="store_true",
                        help="do not keep the derived reduction (pipeline.lake.derived): every run reads the records")
    parser.add_argument("--medians", type=int, default=0, metavar="N",
                        help="then the first and last runs' windows N times each, and the ratio of the medians")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("bounds", nargs="?", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child, *json.loads(args.bounds))

    print(machine())
    source = Path(f"/tmp/flowlogs-bench-lake-{args.records}")
    ensure_lake(source, args.records)
    hours = Path(f"{source}-hours")
    cut_hours(source, hours)
    lake_path = Path(args.lake or f"{source}-scheduled")
    shutil.rmtree(lake_path, ignore_errors=True)
    write_metadata(lake.open_lake(lake_path), make_account(np.random.default_rng(1)))
    print(f"\n{'run':>4} {'window':>27} {'files':>6} {'wall s':>7} {'cpu s':>7} {'peak RSS MB':>12} {'derive s':>8}  found")
    results = []
    for hour in range(SPAN // 3600):
        if hour:
            deliver(hours, lake_path, hour - 1, "late")
        deliver(hours, lake_path, hour, "ontime")
        end = T0 + (hour + 1) * 3600 - LATE  # what the lake holds: up to the late part of this hour
        r = run(lake_path, end - args.window, end, not args.no_derive)
        files = sum(1 for _ in lake_path.glob("flows/*/*/*/*.parquet"))
        results.append(r)
        window = f"{time.strftime('%H:%M', time.gmtime(end - args.window))}-{time.strftime('%H:%M', time.gmtime(end))}"
        print(f"{hour + 1:>4} {window:>27} {files:>6} {r['wall_s']:>7.2f} {r['cpu_s']:>7.2f} {r['peak_rss_mb']:>12,} "
              f"{r['derive_s']:>8.2f}  "
              f"{r['incidents']} incidents, {r['findings']} findings")
        if hour in (0, SPAN // 3600 - 1):
            whole = run(lake_path, None, None)
            print(f"{'':>4} {'whole lake':>27} {files:>6} {whole['wall_s']:>7.2f} {whole['cpu_s']:>7.2f} "
                  f"{whole['peak_rss_mb']:>12,} {'':>8}  {whole['incidents']} incidents, {whole['findings']} findings")
    last = results[-1]
    for name, first in (("first", results[0]), ("first with a full window", results[args.window // 3600 - 1])):
        print(f"last run / {name} run: wall {last['wall_s'] / first['wall_s']:.2f}×, "
              f"CPU {last['cpu_s'] / first['cpu_s']:.2f}×, peak RSS {last['peak_rss_mb'] / first['peak_rss_mb']:.2f}×")
    if args.medians:
        medians(hours, lake_path, args.window, args.medians, not args.no_derive)


def medians(hours: Path, grown: Path, window: int, n: int, derive: bool) -> None:
    """The first and the last run's windows, ``n`` fresh processes each, and the ratio of the medians."""
    first = grown.with_name(grown.name + "-first")
    shutil.rmtree(first, ignore_errors=True)
    write_metadata(lake.open_lake(first), make_account(np.random.default_rng(1)))
    deliver(hours, first, 0, "ontime")
    got = {}
    for name, path, hour in (("first", first, 0), ("last", grown, SPAN // 3600 - 1)):
        end = T0 + (hour + 1) * 3600 - LATE
        run(path, end - window, end, derive)  # the derived tables built, as the scheduled run left them
        runs = [run(path, end - window, end, derive) for _ in range(n)]
        got[name] = {k: statistics.median(r[k] for r in runs) for k in ("cpu_s", "wall_s")}
        print(f"{name} run's window, median of {n}: {got[name]['cpu_s']:.2f} s CPU, {got[name]['wall_s']:.2f} s wall")
    print(f"medians, last / first: CPU {got['last']['cpu_s'] / got['first']['cpu_s']:.2f}×, "
          f"wall {got['last']['wall_s'] / got['first']['wall_s']:.2f}×")


if __name__ == "__main__":
    main()
