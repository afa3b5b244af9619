"""How fast is ``flowlogs ingest`` next to just decompressing the same files?

    python benchmarks/bench_ingest.py                 # 2 million records
    python benchmarks/bench_ingest.py --records 10000000 --repeat 2

Generates the records once into a cache directory (gzip files in the S3 default layout,
a custom v5 format with a header, value distributions like a busy VPC's), then measures
on the same files, with as many processes as CPUs:

- ``gzip -dc`` (``xargs -P$(nproc) -n 8 gzip -dc > /dev/null``): the floor;
- ``flowlogs ingest --workers $(nproc)`` into an empty lake.

For each: wall time, CPU time of the process tree (user + system, from wait4), records/s,
MB/s (compressed and uncompressed) and the peak RSS of the whole process tree (the sum
over the processes alive at once, sampled from /proc every 20 ms), then the ratio
ingest/gzip (wall, and CPU: steadier on a shared machine). Targets: ratio <= 2, peak
RSS < 1 GB.
``--profile`` runs cProfile over 8 files ingested in-process and prints the top entries.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import platform
import pstats
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

FORMAT = (
    "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action "
    "log-status vpc-id subnet-id instance-id tcp-flags type pkt-srcaddr pkt-dstaddr region az-id "
    "sublocation-type sublocation-id pkt-src-aws-service pkt-dst-aws-service flow-direction traffic-path"
).split()
ACCOUNTS = ["123456789012", "012345678901", "210987654321"]
REGION = "eu-west-1"
DAY0 = 1_717_200_000  # 2024-06-01T00:00:00Z
FILES = 160
# 2: flow-log ids in hex, as AWS names them (fl-0bench… was not a delivery name, so every file was
# identified by digesting its content before reading it, as a renamed file is)
DATA_VERSION = 2


def _ips(rng, n, prefix, a, b):
    return pc.binary_join_element_wise(
        pa.array(np.full(n, prefix)), pc.cast(pa.array(rng.integers(0, a, n)), pa.string()),
        pc.cast(pa.array(rng.integers(1, b, n)), pa.string()), ".",
    )


def _pick(rng, n, values, weights):
    p = np.asarray(weights, float)
    return pa.array(np.asarray(values, dtype=object)[rng.choice(len(values), n, p=p / p.sum())], pa.string())


def _records(seed: int, n: int, account: str, slot: int) -> pa.Table:
    """``n`` records of one 5-minute file: a few hundred ENIs, mostly TCP 443 egress."""
    rng = np.random.default_rng(seed)
    enis = np.array([f"eni-0{h:016x}" for h in np.random.default_rng(7).integers(0, 2**63, 400)])
    eni_idx = rng.zipf(1.3, n) % len(enis)
    egress = rng.random(n) < 0.55
    local = _ips(rng, n, "10.20", 256, 255)
    remote = pc.if_else(pa.array(rng.random(n) < 0.6), _ips(rng, n, "52.95", 256, 255), _ips(rng, n, "10.30", 256, 255))
    service_port = pa.array(np.array([443, 80, 53, 5432, 6379, 8080, 22, 3306])[rng.zipf(1.6, n) % 8])
    ephemeral = pa.array(rng.integers(32768, 61000, n))
    protocol = _pick(rng, n, ["6", "17", "1"], [85, 14, 1])
    packets = np.maximum(1, rng.lognormal(2.0, 1.5, n).astype(np.int64))
    start = DAY0 + slot * 300 + rng.integers(0, 300, n)
    status = _pick(rng, n, ["OK", "NODATA", "SKIPDATA"], [992, 7, 1])
    ok = pc.equal(status, "OK")
    dash = pa.array(["-"] * n)

    def flow(values):  # NODATA/SKIPDATA records carry `-` in the flow fields
        return pc.if_else(ok, pc.cast(values if isinstance(values, pa.Array) else pa.array(values), pa.string()), dash)

    mask = pa.array(egress)
    cols = {
        "version": pa.array(["5"] * n),
        "account-id": pa.array([account] * n),
        "interface-id": pa.array(enis[eni_idx]),
        "srcaddr": flow(pc.if_else(mask, local, remote)),
        "dstaddr": flow(pc.if_else(mask, remote, local)),
        "srcport": flow(pc.if_else(mask, ephemeral, service_port)),
        "dstport": flow(pc.if_else(mask, service_port, ephemeral)),
        "protocol": flow(protocol),
        "packets": flow(packets),
        "bytes": flow(packets * rng.integers(40, 1500, n)),
        "start": pa.array(start.astype(str)),
        "end": pa.array((start + rng.integers(0, 60, n)).astype(str)),
        "action": flow(_pick(rng, n, ["ACCEPT", "REJECT"], [95, 5])),
        "log-status": status,
        "vpc-id": pa.array(["vpc-0a1b2c3d4e5f60718"] * n),
        "subnet-id": pa.array(np.array(["subnet-0aa11bb22cc33dd44", "subnet-0ee55ff6677889900"])[eni_idx % 2]),
        "instance-id": pa.array(np.where(eni_idx % 3 == 0, "-", np.char.replace(enis[eni_idx], "eni-", "i-"))),
        "tcp-flags": flow(_pick(rng, n, ["2", "18", "3", "19", "1", "0", "4"], [20, 20, 25, 20, 5, 8, 2])),
        "type": flow(pa.array(["IPv4"] * n)),
        "pkt-srcaddr": flow(pc.if_else(mask, local, remote)),
        "pkt-dstaddr": flow(pc.if_else(mask, remote, local)),
        "region": pa.array([REGION] * n),
        "az-id": pa.array(np.array(["euw1-az1", "euw1-az2", "euw1-az3"])[eni_idx % 3]),
        "sublocation-type": dash,
        "sublocation-id": dash,
        "pkt-src-aws-service": flow(_pick(rng, n, ["-", "S3", "AMAZON", "EC2"], [90, 5, 3, 2])),
        "pkt-dst-aws-service": flow(_pick(rng, n, ["-", "S3", "AMAZON", "DYNAMODB"], [85, 8, 5, 2])),
        "flow-direction": flow(pc.if_else(mask, pa.array(["egress"] * n), pa.array(["ingress"] * n))),
        "traffic-path": flow(pc.if_else(mask, _pick(rng, n, ["1", "2", "8"], [40, 20, 40]), dash)),
    }
    return pa.table({k: pc.fill_null(v, "-") for k, v in cols.items()})


def _write_file(args) -> tuple[int, int]:
    """Write one gzip file; returns (compressed bytes, uncompressed bytes)."""
    path, seed, n, account, slot = args
    buf = pa.BufferOutputStream()
    pacsv.write_csv(_records(seed, n, account, slot), buf,
                    pacsv.WriteOptions(include_header=False, delimiter=" ", quoting_style="none"))
    raw = (" ".join(FORMAT) + "\n").encode() + buf.getvalue().to_pybytes()
    data = zlib.compress(raw, 6, wbits=31)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_bytes(data)
    return len(data), len(raw)


def generate(cache: Path, records: int) -> dict:
    """The cached data set for ``records`` records (made once)."""
    root = cache / f"records-{records}-v{DATA_VERSION}"
    meta_path = cache / f"records-{records}-v{DATA_VERSION}.json"
    if meta_path.exists():
        return json.loads(meta_path.read_text())
    shutil.rmtree(root, ignore_errors=True)
    jobs = []
    for i in range(FILES):
        account, slot = ACCOUNTS[i % len(ACCOUNTS)], i // len(ACCOUNTS)
        t = time.gmtime(DAY0 + slot * 300)
        name = (f"{account}_vpcflowlogs_{REGION}_fl-0be4c0000000000{i % 2}_{time.strftime('%Y%m%dT%H%MZ', t)}"
                f"_{i:08x}.log.gz")
        path = root / "AWSLogs" / account / "vpcflowlogs" / REGION / time.strftime("%Y/%m/%d", t) / name
        n = records // FILES + (i < records % FILES)
        jobs.append((str(path), i, n, account, slot))
    print(f"generating {records:,} records in {FILES} files under {root} …", file=sys.stderr)
    with ProcessPoolExecutor(os.cpu_count()) as pool:
        sizes = list(pool.map(_write_file, jobs))
    meta = {"records": records, "files": FILES, "compressed": sum(c for c, _ in sizes),
            "uncompressed": sum(u for _, u in sizes), "root": str(root)}
    meta_path.write_text(json.dumps(meta))
    return meta


class TreeRss:
    """Peak of the summed RSS of a process and its descendants, sampled from /proc."""

    def __init__(self, pid: int, every: float = 0.02):
        self.pid, self.every, self.peak = pid, every, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def _tree(self) -> list[int]:
        pids, todo = [], [self.pid]
        while todo:
            pid = todo.pop()
            pids.append(pid)
            try:
                for task in os.listdir(f"/proc/{pid}/task"):
                    todo += [int(c) for c in Path(f"/proc/{pid}/task/{task}/children").read_text().split()]
            except OSError:
                pass
        return pids

    def _rss(self, pid: int) -> int:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        except OSError:
            pass
        return 0

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, sum(self._rss(p) for p in self._tree()))
            self._stop.wait(self.every)


def measure(cmd: list[str] | str, *, shell: bool = False) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds, peak RSS bytes) of a command and its descendants; it must succeed."""
    with tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, shell=shell, stdout=subprocess.DEVNULL, stderr=err)
        with TreeRss(proc.pid) as rss:
            _, status, usage = os.wait4(proc.pid, 0)  # usage includes the descendants it waited for
        seconds = time.perf_counter() - started
        if os.waitstatus_to_exitcode(status) != 0:
            err.seek(0)
            raise SystemExit(f"failed ({os.waitstatus_to_exitcode(status)}): {cmd}\n{err.read().decode()[-2000:]}")
    return seconds, usage.ru_utime + usage.ru_stime, rss.peak


def flowlogs_cmd() -> list[str]:
    """``flowlogs``, run as a module so that PYTHONPATH can point at another checkout to compare."""
    return [sys.executable, "-c", "from pipeline.cli import main; main()"]


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (f"{os.cpu_count()} CPUs ({cpu}), {mem:.0f} GiB RAM, "
            f"Python {platform.python_version()}, pyarrow {pa.__version__}")


def profile(meta: dict) -> None:
    """cProfile of 8 files ingested in-process, after one file to warm up (imports, caches)."""
    from pipeline.ingest.load import ingest
    from pipeline.ingest.sources.local import local_sources
    from pipeline.lake.store import open_lake

    files = sorted(Path(meta["root"]).rglob("*.log.gz"))[:9]
    with tempfile.TemporaryDirectory() as lake:
        store = open_lake(lake)
        ingest(store, local_sources(files[:1]), workers=1)
        profiler = cProfile.Profile()
        profiler.runcall(ingest, store, local_sources(files[1:]), workers=1)
    pstats.Stats(profiler).sort_stats("tottime").print_stats(20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=2_000_000)
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "flowlogs-bench")
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    parser.add_argument("--repeat", type=int, default=1, help="runs of each measurement; the best is kept")
    parser.add_argument("--profile", action="store_true", help="cProfile 8 files ingested in-process")
    args = parser.parse_args()

    meta = generate(args.cache, args.records)
    if args.profile:
        profile(meta)
        return
    root = meta["root"]
    gunzip = f"find {root} -name '*.gz' -print0 | xargs -0 -P{args.workers} -n 8 gzip -dc > /dev/null"
    results = {}
    for _ in range(args.repeat):
        for name, run in (("gzip -dc", lambda: measure(gunzip, shell=True)),
                          ("flowlogs ingest", lambda: _ingest(root, args.workers))):
            result = run()
            if name not in results or result[0] < results[name][0]:
                results[name] = result

    print(f"machine: {machine()}")
    print(f"data:    {meta['records']:,} records in {meta['files']} files, {meta['compressed'] / 1e6:,.0f} MB gzip, "
          f"{meta['uncompressed'] / 1e6:,.0f} MB text, workers {args.workers}")
    print(f"{'':18}{'wall s':>8}{'CPU s':>8}{'records/s':>12}{'MB/s gz':>9}{'MB/s text':>11}{'peak RSS':>11}")
    for name, (seconds, cpu, rss) in results.items():
        print(f"{name:18}{seconds:8.2f}{cpu:8.2f}{meta['records'] / seconds:12,.0f}"
              f"{meta['compressed'] / 1e6 / seconds:9.1f}{meta['uncompressed'] / 1e6 / seconds:11.1f}"
              f"{rss / 2**20:8.0f} MB")
    (wall, cpu, rss), (gz_wall, gz_cpu, _) = results["flowlogs ingest"], results["gzip -dc"]
    print(f"ratio ingest/gzip: {wall / gz_wall:.2f} wall, {cpu / gz_cpu:.2f} CPU (target <= 2: "
          f"{'met' if wall / gz_wall <= 2 else 'NOT met'}); peak RSS {'under' if rss < 2**30 else 'OVER'} 1 GB")


def _ingest(root: str, workers: int) -> tuple[float, float, int]:
    with tempfile.TemporaryDirectory() as lake:
        return measure([*flowlogs_cmd(), "--lake", lake, "ingest", "--workers", str(workers), "--quiet", root])


if __name__ == "__main__":
    main()
