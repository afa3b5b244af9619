"""A lake fed many small deliveries: what a query costs before and after compaction, and what
``--memory-limit`` costs.

    python benchmarks/bench_small_files.py                          # 10,000 deliveries of 40 records
    python benchmarks/bench_small_files.py --files 2000 --per-file 200
    python benchmarks/bench_small_files.py --files 0 --limit-records 4000000   # only the memory limits

Small files: ``--files`` gzip deliveries in the S3 default layout (20 flow logs, one file each
every 5 minutes, the records of ``bench_ingest.py``), and the same records as one delivery.
Both are ingested (the small ones with the end-of-ingest compaction off, to measure before it),
then ``flowlogs sql "select count(*) from flows"`` is run as a process, best of ``--repeat``:
over the small files, after ``flowlogs lake compact``, and over the one delivery; then ``report
findings`` (best of ``--repeat``) over the compacted lake and the one delivery. Reported: wall and
CPU time, peak RSS of the process, data files per partition, findings.

Memory limits (``--limit-records N``): the ``bench_ingest.py`` data set of N records is
ingested, then the one-pass 5-tuple GROUP BY of ``findings.md`` (best of ``--repeat``) and
``report findings`` (once) are run with ``--memory-limit`` at the default and at smaller sizes.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_ingest import ACCOUNTS, DATA_VERSION, DAY0, FORMAT, REGION, _write_file, flowlogs_cmd, generate, machine, measure  # noqa: E402

GROUPS = 20  # flow logs (ENI groups), each delivering a file every 5 minutes
COUNT = "select count(*) from flows"
FLOOR = ("select count(*) from (select srcaddr, dstaddr, srcport, dstport, protocol, count(*), sum(bytes) "
         "from flows group by all)")


def _name(root: Path, i: int) -> Path:
    slot, group = divmod(i, GROUPS)
    t = time.gmtime(DAY0 + slot * 300)
    name = (f"{ACCOUNTS[0]}_vpcflowlogs_{REGION}_fl-05a11{group:011x}_{time.strftime('%Y%m%dT%H%MZ', t)}"
            f"_{i:08x}.log.gz")
    return root / "AWSLogs" / ACCOUNTS[0] / "vpcflowlogs" / REGION / time.strftime("%Y/%m/%d", t) / name


def small_files(cache: Path, files: int, per_file: int) -> tuple[Path, Path]:
    """(folder of ``files`` deliveries, folder of one delivery with the same records), made once."""
    root = cache / f"small-{files}x{per_file}-v{DATA_VERSION}"
    small, one = root / "small", root / "one"
    if (root / "done").exists():
        return small, one
    shutil.rmtree(root, ignore_errors=True)
    print(f"generating {files:,} deliveries of {per_file} records under {root} …", file=sys.stderr)
    for i in range(files):
        _write_file((str(_name(small, i)), i, per_file, ACCOUNTS[0], i // GROUPS))
    whole = _name(one, 0)
    whole.parent.mkdir(parents=True)
    with gzip.open(whole, "wb", compresslevel=6) as out:
        out.write((" ".join(FORMAT) + "\n").encode())
        for i in range(files):
            out.write(gzip.decompress(_name(small, i).read_bytes()).split(b"\n", 1)[1])
    (root / "done").touch()
    return small, one


def ingest_without_compaction(lake: Path, folder: Path) -> float:
    from pipeline.ingest import load
    from pipeline.ingest.sources.local import local_sources
    from pipeline.lake import compaction
    from pipeline.lake import store

    compaction.AUTO_FILES = 10**9
    started = time.perf_counter()
    load.ingest(store.open_lake(lake), local_sources([str(folder)]), workers=os.cpu_count())
    return time.perf_counter() - started


def files_per_partition(lake: Path) -> str:
    from pipeline.lake import compaction, store

    counts: dict[str, int] = {}
    for path in compaction.live_files(store.open_lake(lake, create=False), "flows"):
        counts[path.rsplit("/", 1)[0]] = counts.get(path.rsplit("/", 1)[0], 0) + 1
    return ", ".join(str(n) for n in counts.values())


def best(cmd: list[str], repeat: int) -> tuple[float, float, int] | str:
    """The best of ``repeat`` runs, or why the command failed (out of memory under a small limit)."""
    try:
        runs = [measure(cmd) for _ in range(repeat)]
    except SystemExit as failed:
        return next((line for line in str(failed).splitlines() if line.startswith("Error:")), str(failed)[:200])
    return min(r[0] for r in runs), min(r[1] for r in runs), min(r[2] for r in runs)


def row(label: str, figures: tuple[float, float, int] | str, extra: str = "") -> None:
    if isinstance(figures, str):
        print(f"| {label} | failed | | | {extra}: {figures} |", flush=True)
        return
    wall, cpu, rss = figures
    print(f"| {label} | {wall:.2f} | {cpu:.2f} | {rss / 2**20:,.0f} MB | {extra} |", flush=True)


def bench_small(work: Path, cache: Path, files: int, per_file: int, repeat: int) -> None:
    small, one = small_files(cache, files, per_file)
    lake_small, lake_one = work / "small", work / "one"
    took = ingest_without_compaction(lake_small, small)
    print(f"ingested {files:,} deliveries ({files * per_file:,} records) in {took:.1f}s, compaction off", flush=True)
    measure([*flowlogs_cmd(), "--lake", str(lake_one), "ingest", "--quiet", str(one)])
    print("\n| lake | wall s | CPU s | peak RSS | data files per partition |\n|---|---:|---:|---:|---|")
    count = lambda lake: [*flowlogs_cmd(), "--lake", str(lake), "sql", COUNT]  # noqa: E731
    row(f"{files:,} small deliveries", best(count(lake_small), repeat), files_per_partition(lake_small))
    compacted = measure([*flowlogs_cmd(), "--lake", str(lake_small), "lake", "compact"])
    row("after `flowlogs lake compact`", best(count(lake_small), repeat), files_per_partition(lake_small))
    row("the same records as one delivery", best(count(lake_one), repeat), files_per_partition(lake_one))
    print(f"\n`flowlogs lake compact` itself: {compacted[0]:.1f}s wall, {compacted[1]:.1f}s CPU, "
          f"peak RSS {compacted[2] / 2**20:,.0f} MB")
    print("\n| lake | wall s | CPU s | peak RSS | `report findings`: findings |\n|---|---:|---:|---:|---|")
    for label, lake in (("after `flowlogs lake compact`", lake_small), ("the same records as one delivery", lake_one)):
        out = work / f"findings-{lake.name}.json"
        figures = best([*flowlogs_cmd(), "--lake", str(lake), "report", "findings", "--format", "json",
                        "--output", str(out)], repeat)
        row(label, figures, str(len(json.loads(out.read_text())["findings"])))


def bench_limits(work: Path, cache: Path, records: int, limits: list[str], repeat: int) -> None:
    meta = generate(cache, records)
    lake = work / "limits"
    measure([*flowlogs_cmd(), "--lake", str(lake), "ingest", "--quiet", meta["root"]])
    print(f"\n{records:,} records\n\n| --memory-limit | wall s | CPU s | peak RSS | query |\n|---|---:|---:|---:|---|")
    for limit in limits:
        run = [*flowlogs_cmd(), "--lake", str(lake), "--memory-limit", limit]
        row(limit, best([*run, "sql", FLOOR], repeat), "5-tuple GROUP BY")
        row(limit, best([*run, "report", "findings", "--format", "json", "--output", str(work / "f.json")], 1),
            "report findings")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--per-file", type=int, default=40)
    parser.add_argument("--limit-records", type=int, default=0, help="also measure --memory-limit on this many records")
    parser.add_argument("--limits", default="50%,1GB,256MB,128MB")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "flowlogs-bench")
    args = parser.parse_args()
    print(machine())
    with tempfile.TemporaryDirectory(prefix="bench-small-") as work:
        if args.files:
            bench_small(Path(work), args.cache, args.files, args.per_file, args.repeat)
        if args.limit_records:
            bench_limits(Path(work), args.cache, args.limit_records, args.limits.split(","), args.repeat)


if __name__ == "__main__":
    main()
