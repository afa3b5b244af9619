"""S3 ingest throughput against a local moto server, next to the local-file ingest of the same objects.

    python benchmarks/bench_s3_ingest.py [--objects 64] [--records 30000] [--workers 1 4 8]

Starts a moto server on 127.0.0.1, puts ``--objects`` flow-log files (3 in 4 gzip text
with a header line, 1 in 4 Parquet, in the hourly layout) into a bucket, writes the
same files under a local directory, then times ``flowlogs ingest`` of each (listing
included) into a fresh local lake per worker count. Prints a Markdown table and the
machine it ran on. moto is one Python process, so the S3 figures are a floor for
what real S3 gives; the local figures show the parse-and-write ceiling.
"""

from __future__ import annotations

import argparse
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO))

from test_ingest_s3 import flow_key, log_gz, parquet_bytes, records  # noqa: E402

BUCKET = "flowlogs-bench"
START = datetime(2024, 6, 20, tzinfo=timezone.utc)


def start_moto() -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(150):
        try:
            urllib.request.urlopen(f"{url}/moto-api/", timeout=1)
            return proc, url
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("moto server did not start")


def make_objects(n: int, per_object: int, local_root: Path) -> tuple[int, int]:
    import boto3

    s3 = boto3.client("s3", region_name="eu-west-1")
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    total_bytes = 0
    for i in range(n):
        at = START + timedelta(minutes=5 * i)
        rows = records(per_object, at, seed=i, eni=f"eni-0bench{i % 16:012x}")
        parquet = i % 4 == 3
        key = flow_key(at, hourly=True, ext="parquet" if parquet else "log.gz", tag=str(i))
        body = parquet_bytes(rows) if parquet else log_gz(rows)
        s3.put_object(Bucket=BUCKET, Key=key, Body=body)
        path = local_root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
        total_bytes += len(body)
    return n * per_object, total_bytes


def timed_ingest(sources_of, workers: int) -> tuple[float, int]:
    from pipeline.ingest.load import ingest
    from pipeline.lake.store import open_lake

    with tempfile.TemporaryDirectory(prefix="bench-lake-") as lake_dir:
        started = time.perf_counter()
        summary, _ = ingest(open_lake(lake_dir), sources_of(), workers=workers)
        return time.perf_counter() - started, sum(summary.records.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--objects", type=int, default=64)
    parser.add_argument("--records", type=int, default=30000, help="records per object")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 4, 8])
    args = parser.parse_args()

    proc, url = start_moto()
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="eu-west-1",
                      AWS_ENDPOINT_URL=url, AWS_EC2_METADATA_DISABLED="true")
    try:
        from pipeline.ingest.sources import s3 as s3source
        from pipeline.settings import Settings
        from pipeline.ingest.sources.local import local_sources

        with tempfile.TemporaryDirectory(prefix="bench-objects-") as local_dir:
            total_records, total_bytes = make_objects(args.objects, args.records, Path(local_dir))
            settings = Settings(endpoint_url=url)
            kinds = {
                "s3 (moto)": lambda: s3source.list_objects(settings, f"s3://{BUCKET}", s3source.Window()).objects,
                "local files": lambda: local_sources([local_dir]),
            }
            print(f"{args.objects} objects, {total_records:,} records, {total_bytes / 1e6:.1f} MB compressed\n")
            print("| source | workers | seconds | records/s | MB/s (compressed) |")
            print("|---|---:|---:|---:|---:|")
            for workers in args.workers:
                for kind, sources_of in kinds.items():
                    seconds, rows = timed_ingest(sources_of, workers)
                    assert rows == total_records, (kind, rows, total_records)
                    print(f"| {kind} | {workers} | {seconds:.2f} | {rows / seconds:,.0f} | "
                          f"{total_bytes / 1e6 / seconds:.1f} |", flush=True)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else "?"
    import moto
    import pyarrow

    print(f"\nmachine: nproc={os.cpu_count()}, {cpu}, Python {platform.python_version()}, "
          f"pyarrow {pyarrow.__version__}, moto {moto.__version__}")


if __name__ == "__main__":
    main()
