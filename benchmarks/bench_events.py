"""How fast is ``flowlogs ingest`` of CloudTrail and Resolver query logs next to decompressing them?

    python benchmarks/bench_events.py                          # 1 M CloudTrail events, 5 M query-log lines
    python benchmarks/bench_events.py --events 200000 --queries 1000000
    python benchmarks/bench_events.py --profile                # cProfile of a few files in-process

Generates the files once into a cache directory (``tests/event_builders.py``: a Fargate
task's calls through endpoints or the NAT, some denied, ~1.6 KB per event; its service
lookups, ~0.4 KB per line), in the S3 layouts: trail files of 5,000 events
(``{"Records": […]}`` on one line, gzip, as CloudTrail writes them) and query-log files of
50,000 lines. Then, per source, on the same files and the same number of processes, as
``bench_ingest.py`` does (its measuring functions are reused): ``gzip -dc`` (the floor) and
``flowlogs ingest --workers N`` into an empty lake: wall time, CPU time of the process
tree, peak RSS of the process tree, and the ratio. Goals: ingest ≤ 3× gzip -dc, ≤ 1 GB.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

from bench_ingest import flowlogs_cmd, machine, measure

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from event_builders import query_log_file, query_log_key, query_record, trail_event, trail_file, trail_key  # noqa: E402

AT = datetime(2024, 6, 20, tzinfo=timezone.utc)
PER_TRAIL_FILE = 5_000
PER_QUERY_FILE = 50_000


def _write(args) -> int:
    kind, index, n, root = args
    at = AT + timedelta(minutes=5 * index)
    first = index * n
    if kind == "trail":
        data, key = trail_file([trail_event(first + k, at + timedelta(seconds=k % 300)) for k in range(n)]), trail_key(at)
    else:
        data = query_log_file([query_record(first + k, at + timedelta(seconds=k % 300)) for k in range(n)])
        key = query_log_key(at)
    path = Path(root) / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return len(data)


def generate(cache: Path, kind: str, records: int, per_file: int) -> dict:
    root = cache / f"{kind}-{records}"
    meta_path = cache / f"{kind}-{records}.json"  # beside the files, not among them
    if meta_path.exists():
        return json.loads(meta_path.read_text())
    files = -(-records // per_file)
    jobs = [(kind, i, min(per_file, records - i * per_file), str(root)) for i in range(files)]
    with ProcessPoolExecutor() as pool:
        compressed = sum(pool.map(_write, jobs))
    meta = {"root": str(root), "records": records, "files": files, "compressed": compressed}
    meta_path.write_text(json.dumps(meta))
    return meta


def bench(meta: dict, workers: int) -> dict:
    root = meta["root"]
    gunzip = f"find {root} -name '*.gz' -print0 | xargs -0 -P{workers} -n 8 gzip -dc > /dev/null"
    with tempfile.TemporaryDirectory() as lake:
        ingest = measure([*flowlogs_cmd(), "--lake", lake, "ingest", "--workers", str(workers), "--quiet", root])
    return {"gzip -dc": measure(gunzip, shell=True), "flowlogs ingest": ingest}


def report(title: str, meta: dict, results: dict) -> None:
    print(f"{title}: {meta['records']:,} records in {meta['files']} files, {meta['compressed'] / 1e6:,.0f} MB gzip")
    print(f"  {'':18}{'wall s':>8}{'CPU s':>8}{'records/s':>12}{'peak RSS':>11}")
    for name, (seconds, cpu, rss) in results.items():
        print(f"  {name:18}{seconds:8.2f}{cpu:8.2f}{meta['records'] / seconds:12,.0f}{rss / 2**20:8.0f} MB")
    (wall, cpu, rss), (gz_wall, gz_cpu, _) = results["flowlogs ingest"], results["gzip -dc"]
    print(f"  ratio ingest/gzip: {wall / gz_wall:.2f} wall, {cpu / gz_cpu:.2f} CPU (goal <= 3: "
          f"{'met' if wall / gz_wall <= 3 else 'NOT met'}); peak RSS {'under' if rss < 2**30 else 'OVER'} 1 GB")


def profile(meta: dict) -> None:
    from pipeline.ingest.load import ingest
    from pipeline.ingest.sources.local import local_sources
    from pipeline.lake.store import open_lake

    files = sorted(Path(meta["root"]).rglob("*.gz"))[:3]
    with tempfile.TemporaryDirectory() as lake:
        profiler = cProfile.Profile()
        profiler.runcall(ingest, open_lake(lake), local_sources(files), workers=1)
    pstats.Stats(profiler).sort_stats("tottime").print_stats(15)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="CloudTrail events (0: skip)")
    parser.add_argument("--queries", type=int, default=5_000_000, help="query-log lines (0: skip)")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "flowlogs-bench-events")
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    print(f"machine: {machine()}, workers {args.workers}")
    for title, kind, records, per_file in (("CloudTrail", "trail", args.events, PER_TRAIL_FILE),
                                           ("Resolver query logs", "queries", args.queries, PER_QUERY_FILE)):
        if not records:
            continue
        meta = generate(args.cache, kind, records, per_file)
        if args.profile:
            profile(meta)
        else:
            report(title, meta, bench(meta, args.workers))


if __name__ == "__main__":
    main()
