"""Batch conversion: throughput of ``kmz convert`` engines, and the parent's memory in the number of files.

Throughput: --images generated images (random crops, --min-size to --max-size pixels
a side, of the corpus images and of photographs and graphics not in it), converted with
kmzcodec.batch.convert (the work of ``kmz convert``) by:
  -j 1    in this process
  -j 2    two worker processes
  dask    a LocalCluster of 2 worker processes, 1 thread each (started beforehand:
          its start-up is not counted)
images/s = images / wall time of the convert call, in a fresh process for each run (the
imports before the clock; numba's first-call set-up and -j 2's worker start inside it,
as in a ``kmz convert`` run). --rounds rounds (default 3) of the three engines in turn;
medians reported. Every run's outputs are checked to be the bytes of the first.

Memory: the parent's peak RSS (VmHWM of the process that plans and collects, Linux;
worker processes are not counted) converting 100 and 1,000 small files, each run in
a fresh process, locally with -j 2 and on a LocalCluster; the ratio 1,000 / 100.

Goals (issue 14, on a 2-core machine): -j 2 >= 1.7x -j 1; Dask >= 0.9x -j 2;
RSS ratio <= 1.2. Exit status 1 when one is missed.

Run from the repository root:
    python benchmarks/bench_batch.py                  # about four minutes on 2 cores
    python benchmarks/bench_batch.py --images 40      # a quick look
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import _corpus  # noqa: E402

COLORS = 64
GOAL_J2 = 1.7
GOAL_DASK = 0.9
GOAL_RSS = 1.2


def make_crops(folder: Path, count: int, low: int, high: int, corpus: str | None, seed: int = 0) -> int:
    """``count`` PNG crops, taken in turn from the corpus images and from photographs and
    graphics that are not in it (scikit-image's samples, drawn graphics); returns their
    total pixels."""
    rng = np.random.default_rng(seed)
    sources = []
    for path in _corpus.images(corpus):
        with Image.open(path) as opened:
            sources.append(opened.convert("RGB"))
    unseen = _corpus.unseen_photographs() + _corpus.synthetic_graphics()
    sources += [image.convert("RGB") for _, image in unseen]
    pixels = 0
    for i in range(count):
        image = sources[i % len(sources)]
        width, height = (int(rng.integers(low, high + 1)) for _ in range(2))
        width, height = min(width, image.width), min(height, image.height)
        left = int(rng.integers(0, image.width - width + 1))
        top = int(rng.integers(0, image.height - height + 1))
        image.crop((left, top, left + width, top + height)).save(folder / f"crop{i:04d}.png")
        pixels += width * height
    return pixels


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*.kmz"))}


# One timed convert in a fresh process, as ``kmz convert`` runs: the imports are done before
# the clock starts (at module level, so -j 2's forkserver inherits them, as it inherits the
# kmz command's), numba's first-call set-up and the workers' start are inside it.
TIMED_CHILD = """
import json, sys, time
sys.path.insert(0, {root!r})
from kmzcodec import batch

if __name__ == "__main__":
    client = None
    if {address!r}:
        import distributed
        client = distributed.Client({address!r})
    start = time.perf_counter()
    summary = batch.convert([{source!r}], {out!r}, colors={colors}, jobs={jobs}, client=client)
    seconds = time.perf_counter() - start
    assert summary.converted == {count} and not summary.failed, summary
    print(json.dumps(seconds))
"""


def throughput(source: Path, work: Path, count: int, rounds: int) -> dict[str, float]:
    """Median images/s of each engine over ``rounds`` rounds; a round runs -j 1, -j 2 and a
    fresh LocalCluster in turn, so a change in the machine's load touches every engine. Each
    run is a fresh process calling batch.convert once."""
    import distributed

    rates: dict[str, list[float]] = {"-j 1": [], "-j 2": [], "dask": []}
    first: dict[str, bytes] | None = None
    script = work / "timed_convert.py"

    def timed(name: str, jobs: int = 1, address: str = "") -> None:
        nonlocal first
        out = work / f"{name.replace(' ', '')}-{len(rates[name])}"
        root = str(Path(__file__).resolve().parents[1])
        script.write_text(
            TIMED_CHILD.format(
                root=root,
                address=address,
                source=str(source),
                out=str(out),
                colors=COLORS,
                jobs=jobs,
                count=count,
            )
        )
        done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=True)
        seconds = json.loads(done.stdout.strip().splitlines()[-1])
        rates[name].append(count / seconds)
        print(f"  {name:6} {seconds:7.2f} s  {rates[name][-1]:6.2f} images/s", flush=True)
        outputs = snapshot(out)
        first = first or outputs
        assert outputs == first, f"{name} wrote different bytes"
        shutil.rmtree(out)

    for round_ in range(1, rounds + 1):
        print(f" round {round_} of {rounds}")
        timed("-j 1", jobs=1)
        timed("-j 2", jobs=2)
        with distributed.LocalCluster(  # started before the clock, as a running cluster; workers cold
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster:
            timed("dask", address=cluster.scheduler_address)
    print("  outputs identical across engines and rounds: True")
    medians = {name: statistics.median(values) for name, values in rates.items()}
    print("  medians: " + ", ".join(f"{name} {rate:.2f} images/s" for name, rate in medians.items()))
    return medians


# A fresh process per measurement: peak RSS is a high-water mark, it never goes down.
RSS_CHILD = """
import json, sys
sys.path.insert(0, {root!r})
from kmzcodec import batch
engine = {engine!r}
if engine == "dask":
    import distributed
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster, \\
            distributed.Client(cluster) as client:
        summary = batch.convert([{source!r}], {out!r}, client=client, colors=8)
else:
    summary = batch.convert([{source!r}], {out!r}, jobs=2, colors=8)
assert summary.converted == {count}, summary
# VmHWM, not ru_maxrss: after fork + exec, Linux's ru_maxrss still counts the parent's pages.
status = open("/proc/self/status").read().split("VmHWM:")[1]
print(json.dumps(int(status.split()[0])))
"""


def small_files(folder: Path, count: int) -> None:
    folder.mkdir()
    rng = np.random.default_rng(1)
    for i in range(count):
        Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(folder / f"s{i:05d}.png")


def peak_rss(work: Path, engine: str, count: int) -> float:
    """MB of peak RSS of a fresh parent converting ``count`` small files."""
    source = work / f"small{count}-{engine}"
    small_files(source, count)
    code = RSS_CHILD.format(
        root=str(Path(__file__).resolve().parents[1]),
        engine=engine,
        source=str(source),
        out=str(work / f"small{count}-{engine}-out"),
        count=count,
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1]) / 1024  # VmHWM is in KiB


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=int, default=200, help="generated images (default: 200)")
    parser.add_argument("--min-size", type=int, default=256, help="smallest crop side (default: 256)")
    parser.add_argument("--max-size", type=int, default=512, help="largest crop side (default: 512)")
    parser.add_argument("--small", type=int, nargs=2, default=[100, 1000], help="file counts for RSS")
    parser.add_argument("--corpus", default=None, help="corpus folder (default: ../shared/corpus)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the three engines (median)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="kmz-bench-batch-") as temporary:
        work = Path(temporary)
        source = work / "crops"
        source.mkdir()
        pixels = make_crops(source, args.images, args.min_size, args.max_size, args.corpus)
        average = pixels / args.images / 1e3
        print(f"throughput: {args.images} crops, {average:.0f} kpx each on average, K={COLORS}")
        rates = throughput(source, work, args.images, args.rounds)
        print(f"parent peak RSS (MB), {args.small[0]} vs {args.small[1]} files of 16x16 px:")
        rss: dict[str, tuple[float, float]] = {}
        for engine in ("-j 2", "dask"):
            few, many = (peak_rss(work, engine.replace("-j 2", "local"), n) for n in args.small)
            rss[engine] = (few, many)
            print(f"  {engine:6} {few:7.1f} {many:7.1f}  ratio {many / few:.3f}", flush=True)
    checks = [
        ("-j 2 / -j 1", rates["-j 2"] / rates["-j 1"], GOAL_J2),
        ("dask / -j 2", rates["dask"] / rates["-j 2"], GOAL_DASK),
    ]
    ratio = f"{args.small[1]}/{args.small[0]}"
    checks += [(f"RSS {engine} {ratio}", many / few, GOAL_RSS) for engine, (few, many) in rss.items()]
    missed = False
    print("goals:")
    for name, value, goal in checks:
        ok = value <= goal if name.startswith("RSS") else value >= goal
        missed |= not ok
        sign = "<=" if name.startswith("RSS") else ">="
        print(f"  {name:18} {value:6.3f}  goal {sign} {goal}  {'met' if ok else 'MISSED'}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
