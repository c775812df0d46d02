"""kmzcodec.batch: the same files, bytes, failures and summary locally and on a real Dask LocalCluster.

One LocalCluster (2 worker processes, 1 thread each) serves the whole module: starting
one takes seconds. No part of Dask is mocked.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

import kmzcodec
from kmzcodec import batch, cli, cluster, fileio, threads

distributed = pytest.importorskip("distributed")

COLORS = 16
COUNT = 12  # files in the generated folder (one more is broken)


def _photo(height: int, width: int, seed: int) -> np.ndarray:
    """A gradient with noise: many colours, quick to quantize."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 255 // width, y * 255 // height, (x + y) * 255 // (width + height)], axis=2)
    return np.clip(base + rng.integers(-20, 21, base.shape), 0, 255).astype(np.uint8)


def _folder(root: Path, count: int = COUNT, size: int = 48) -> Path:
    for i in range(count):
        path = root / ("sub" if i % 3 == 0 else "") / f"img{i:02d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(_photo(size + i, size, seed=i)).save(path)
    return root


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _temporaries(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if fileio.is_temp_name(p.name)]


def _counts(summary: batch.Summary) -> tuple[int, ...]:
    s = summary
    return (s.files, s.converted, s.skipped, s.failed, s.bytes_in, s.bytes_out)


def _settles(condition: Callable[[], bool], seconds: float = 30.0) -> bool:
    """Whether ``condition`` holds within ``seconds`` (Dask's bookkeeping is asynchronous)."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    with (
        distributed.LocalCluster(
            n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as dask_client,
    ):
        yield dask_client


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = _folder(tmp_path_factory.mktemp("in"))
    (root / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n-cut-")
    return root


@pytest.fixture(scope="module")
def reference(source: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[batch.Summary, dict]:
    """The local run in this process (-j 1): what every other engine must reproduce."""
    out = tmp_path_factory.mktemp("reference")
    summary = batch.convert([source], out, jobs=1, colors=COLORS)
    return summary, _snapshot(out)


def test_local_run_converts_the_folder_and_reports_the_broken_file(
    source: Path, reference: tuple[batch.Summary, dict]
) -> None:
    summary, outputs = reference
    assert (summary.files, summary.converted, summary.failed) == (COUNT + 1, COUNT, 1)
    assert len(outputs) == COUNT and "sub/img00.kmz" in outputs
    (path, reason), *_ = summary.failures
    assert path == str(source / "broken.png") and "not an image" in reason
    assert kmzcodec.decode(outputs["img01.kmz"]).size == (48, 49)


def test_dask_gives_the_same_bytes_failures_and_summary(
    client: Any, source: Path, reference: tuple[batch.Summary, dict], tmp_path: Path
) -> None:
    summary = batch.convert([source], tmp_path, client=client, colors=COLORS)
    assert _snapshot(tmp_path) == reference[1]
    assert _counts(summary) == _counts(reference[0])
    assert summary.failures == reference[0].failures
    assert summary.workers == 2  # the cluster's threads
    again = batch.convert([source], tmp_path, client=client, colors=COLORS)  # skip rules alike
    assert (again.skipped, again.converted, again.failed) == (COUNT, 0, 1)


def test_two_local_processes_give_the_same_bytes(
    source: Path, reference: tuple[batch.Summary, dict], tmp_path: Path
) -> None:
    summary = batch.convert([source], tmp_path, jobs=2, colors=COLORS)
    assert _snapshot(tmp_path) == reference[1]
    assert _counts(summary) == _counts(reference[0])
    assert summary.peak_in_flight == 2  # one task per worker process


def test_at_most_a_window_of_futures_is_held(client: Any, source: Path, tmp_path: Path) -> None:
    held: list[int] = []
    window = 3

    def observe(outcome: batch.Outcome) -> None:
        held.append(len(client.futures))  # futures the client still references

    summary = batch.convert([source], tmp_path, client=client, window=window, progress=observe, colors=4)
    assert summary.converted == COUNT
    assert summary.peak_in_flight == window
    # Unbounded, this would climb to the number of files; the client drops a released future
    # on its event loop, so the one just reported may still be counted here.
    assert len(held) == COUNT + 1 and max(held) <= window + 1
    assert _settles(lambda: len(client.futures) == 0)


def test_outputs_claimed_twice_are_refused(tmp_path: Path) -> None:
    for name in ["x.bmp", "x.png", "sub/x.png"]:
        (tmp_path / "in" / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(_photo(8, 8, seed=0)).save(tmp_path / "in" / name)
    work = batch.plan([tmp_path / "in"], tmp_path / "out")
    assert not isinstance(work, list)  # lazy: a folder's worth of outputs is remembered, no more
    outcomes = list(batch.run(work))
    assert [(Path(o.source).name, o.status) for o in outcomes] == [
        ("x.bmp", batch.CONVERTED),
        ("x.png", batch.FAILED),
        ("x.png", batch.CONVERTED),
    ]
    assert "already made from" in (outcomes[1].reason or "")
    # Two given folders may claim one output anywhere: then every output is remembered.
    again = list(batch.iter_convert([tmp_path / "in" / "sub", tmp_path / "in"], tmp_path / "o2", colors=4))
    assert sorted(o.status for o in again) == [batch.CONVERTED] * 2 + [batch.FAILED] * 2


def test_a_rerun_that_skips_everything_starts_no_worker(source: Path, tmp_path: Path) -> None:
    batch.convert([source / "img01.png", source / "img02.png"], tmp_path, colors=4)
    summary = batch.convert([source / "img01.png", source / "img02.png"], tmp_path, jobs=2, colors=4)
    assert (summary.skipped, summary.converted, summary.peak_in_flight, summary.workers) == (2, 0, 0, 1)


def test_options_are_checked_before_any_file(source: Path, tmp_path: Path) -> None:
    with pytest.raises(kmzcodec.KmzError, match="unknown encode option"):
        batch.convert([source], tmp_path, colours=4)
    with pytest.raises(kmzcodec.KmzError) as caught:
        batch.convert([source], tmp_path, colors=0)
    assert caught.value.reason == "bad-option"
    assert not list(tmp_path.rglob("*.kmz"))


def test_one_path_given_alone_is_one_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """convert("photos", ...) took the string as a list of paths, one per character: with a
    trailing slash that included "/", and the whole file system was converted into out_dir.
    Relative names here, so that the old behaviour fails this test without walking "/"."""
    _folder(tmp_path / "photos", count=3, size=16)
    monkeypatch.chdir(tmp_path)
    summary = batch.convert("photos", "out", colors=4)
    assert (summary.files, summary.converted, summary.failed) == (3, 3, 0)
    assert batch.count("photos", "out") == 3
    outcomes = list(batch.iter_convert(Path("photos"), "again", colors=4))
    assert sorted(o.status for o in outcomes) == [batch.CONVERTED] * 3
    shared = batch.convert(Path("photos"), "shared", colors=4, shared=True)
    assert shared.converted == 3
    assert _snapshot(tmp_path / "out") == _snapshot(tmp_path / "again")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["again", "out", "photos", "shared"]
    image = tmp_path / "photos" / "img01.png"
    alone = kmzcodec.fit_palette(str(image), 4)
    assert alone == kmzcodec.fit_palette([image], 4) == kmzcodec.fit_palette(Image.open(image), 4)


def test_iter_convert_yields_one_outcome_per_file(source: Path, tmp_path: Path) -> None:
    outcomes = list(batch.iter_convert([source, tmp_path / "missing.png"], tmp_path, colors=4))
    statuses = sorted(o.status for o in outcomes)
    assert statuses == sorted([batch.CONVERTED] * COUNT + [batch.FAILED] * 2)
    missing = [o.message for o in outcomes if o.source == str(tmp_path / "missing.png")]
    assert missing == [f"{tmp_path / 'missing.png'}: no such file or folder"]


@pytest.mark.parametrize(
    "module", ["kmzcodec.tasks", "kmzcodec.cluster", "kmzcodec.batch", "kmzcodec.sharing", "kmzcodec.cli"]
)
def test_each_module_imports_first_in_a_fresh_process(module: str) -> None:
    """A Dask worker's first import is kmzcodec.tasks (to unpickle a task): no import cycle."""
    subprocess.run([sys.executable, "-c", f"import {module}"], check=True, timeout=60)


def test_each_encode_gets_its_share_of_the_cpus() -> None:
    cpus = threads.available_cpus()
    assert threads.cpu_budget() == cpus
    with threads.cpu_share(2 * cpus) as budget:
        assert budget == threads.cpu_budget() == 1
    with threads.cpu_share(1):
        assert threads.cpu_budget() == cpus
    assert threads.cpu_budget() == cpus


def test_a_killed_worker_loses_no_file(
    client: Any, source: Path, reference: tuple[batch.Summary, dict], tmp_path: Path
) -> None:
    killed: list[int] = []

    def kill_one(outcome: batch.Outcome) -> None:
        if not killed:  # mid-run: tasks are queued and running on both workers
            pid = next(iter(client.run(os.getpid).values()))
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    try:
        summary = batch.convert([source], tmp_path, client=client, window=4, progress=kill_one, colors=COLORS)
    finally:
        client.wait_for_workers(2, timeout=60)  # the nanny restarts it, for the next tests
    assert killed
    assert _counts(summary) == _counts(reference[0])
    assert _snapshot(tmp_path) == reference[1]  # every output there, whole, the same bytes
    assert not _temporaries(tmp_path)


def test_an_interrupt_cancels_what_is_queued(client: Any, tmp_path: Path) -> None:
    source = _folder(tmp_path / "in", count=30, size=40)
    out = tmp_path / "out"
    seen: list[str] = []

    def interrupt(outcome: batch.Outcome) -> None:
        seen.append(outcome.output)
        if len(seen) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        batch.convert([source], out, client=client, window=4, progress=interrupt, colors=4)

    def scheduler_tasks(dask_scheduler: Any) -> int:
        return len(dask_scheduler.tasks)

    assert _settles(lambda: not client.futures and client.run_on_scheduler(scheduler_tasks) == 0)

    def worker_tasks(dask_worker: Any) -> int:
        return len(dask_worker.state.tasks)

    # A task already running when cancelled still finishes its file, whole; then it is forgotten.
    assert _settles(lambda: not any(client.run(worker_tasks).values()))
    made = list(out.rglob("*.kmz"))
    assert 2 <= len(made) < 30 and not _temporaries(out)
    for path in made:
        assert kmzcodec.decode(path.read_bytes()).mode == "P"


@pytest.mark.parametrize("address", ["node0", "tcp://node0", "http://127.0.0.1:8786"])
def test_kmz_convert_a_malformed_scheduler_address_is_one_line(
    capsys: pytest.CaptureFixture[str], source: Path, tmp_path: Path, address: str
) -> None:
    """Dask's ValueError for an address it cannot parse came out as a traceback."""
    out = tmp_path / "out"
    code = cli.main(["convert", str(source), "--out-dir", str(out), "--scheduler", address])
    err = capsys.readouterr().err
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert err.startswith("kmz: error: ") and "not a Dask scheduler address" in err
    assert not out.exists()  # the run never started: the folder it made is gone again


def test_kmz_convert_that_never_starts_keeps_a_folder_that_was_there(
    capsys: pytest.CaptureFixture[str], source: Path, tmp_path: Path
) -> None:
    kept = tmp_path / "kept"
    kept.mkdir()
    assert cli.main(["convert", str(source), "--out-dir", str(kept), "--scheduler", "node0"]) == 2
    assert kept.is_dir() and "not a Dask scheduler address" in capsys.readouterr().err


def test_kmz_convert_scheduler_local_end_to_end(
    capsys: pytest.CaptureFixture[str], source: Path, reference: tuple[batch.Summary, dict], tmp_path: Path
) -> None:
    argv = ["convert", str(source), "--out-dir", str(tmp_path), "-k", str(COLORS), "--scheduler", "local"]
    code = cli.main([*argv, "-j", "2"])
    out, err = capsys.readouterr()
    assert code == 1  # broken.png failed, the others went on
    assert err.strip() == f"kmz: error: {source / 'broken.png'}: not an image file that Pillow can read"
    headers, values = out.splitlines()[:2]
    row = dict(zip(headers.split(), values.split(), strict=False))
    assert (row["files"], row["converted"], row["failed"]) == (str(COUNT + 1), str(COUNT), "1")
    assert values.split()[-1] == "2"  # workers: the LocalCluster's two
    assert _snapshot(tmp_path) == reference[1]


# ---------------------------------------------------------------- one palette for all files (issue 14.2)


def _palette_of(data: bytes) -> list[list[int]]:
    payload = kmzcodec.container.read(data)
    return np.frombuffer(payload.palette, np.uint8).reshape(payload.header.colors, -1).tolist()


@pytest.fixture(scope="module")
def shared_reference(source: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    out = tmp_path_factory.mktemp("shared")
    summary = batch.convert([source], out, jobs=1, colors=8, shared=True)
    assert summary.converted == COUNT and summary.failed == 1  # the broken file is still reported
    return _snapshot(out)


def test_a_shared_palette_is_one_palette_for_every_file(source: Path, shared_reference: dict) -> None:
    readable = sorted(p for p in source.rglob("*.png") if p.name != "broken.png")
    expected = kmzcodec.fit_palette(readable, 8)
    assert {str(_palette_of(data)) for data in shared_reference.values()} == {str(expected.entries.tolist())}
    assert batch.convert is not None and len(shared_reference) == COUNT


def test_the_shared_palette_is_the_same_from_two_processes_and_from_dask(
    client: Any, source: Path, shared_reference: dict, tmp_path: Path
) -> None:
    batch.convert([source], tmp_path / "j2", jobs=2, colors=8, shared=True)
    batch.convert([source], tmp_path / "dask", client=client, colors=8, shared=True)
    assert _snapshot(tmp_path / "j2") == shared_reference
    assert _snapshot(tmp_path / "dask") == shared_reference


def test_kmz_convert_shared_palette_and_fixed_palette(
    source: Path, shared_reference: dict, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from kmzcodec.cli import main

    code = main(
        ["convert", str(source), "--out-dir", str(tmp_path / "cli"), "-k", "8", "--shared-palette", "-j", "1"]
    )
    assert code == 1  # the broken file
    assert _snapshot(tmp_path / "cli") == shared_reference
    given = tmp_path / "three.txt"
    given.write_text("#000000\n#ffffff\n#ff0000\n")
    code = main(
        ["convert", str(source), "--out-dir", str(tmp_path / "fixed"), "--palette", str(given), "-j", "1"]
    )
    assert code == 1
    outputs = _snapshot(tmp_path / "fixed")
    assert len(outputs) == COUNT
    assert all(_palette_of(data) == [[0, 0, 0], [255, 255, 255], [255, 0, 0]] for data in outputs.values())
    capsys.readouterr()
    assert (
        main(["convert", str(source), "--out-dir", str(tmp_path / "x"), "--shared-palette", "-k", "auto"])
        == 2
    )
    assert (
        main(
            [
                "convert",
                str(source),
                "--out-dir",
                str(tmp_path / "y"),
                "--shared-palette",
                "--palette",
                str(given),
            ]
        )
        == 2
    )


def test_dask_groups_shrink_as_the_run_ends() -> None:
    full = cluster.DASK_FILES_PER_TASK
    assert full > 1
    assert cluster.group_size(cluster.DASK_LOOKAHEAD, False, 4) == full  # more to come: full groups
    assert cluster.group_size(3, False, 4) == full  # (what is ahead does not matter then)
    sizes = []
    left = 2 * full * 4 + 3  # the last files: groups get smaller, down to one file per task
    while left:
        sizes.append(cluster.group_size(left, True, 4))
        left -= sizes[-1]
    assert sizes == sorted(sizes, reverse=True) and sizes[0] == full and sizes[-1] == 1
