"""kmzcodec.threads.run_all: work shared between this thread and helper threads that stay."""

from __future__ import annotations

import dataclasses
import lzma
import multiprocessing
import os
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest

import kmzcodec
from kmzcodec import bands, container, rowfilter, threads, xzblocks, xzscan
from kmzcodec.format import HEADER_SIZE, TRAILER_SIZE, Compression, Filter


@pytest.fixture
def one_helper(monkeypatch: pytest.MonkeyPatch) -> ThreadPoolExecutor:
    """run_all's helpers: a pool of one thread of this test's own."""
    pool = ThreadPoolExecutor(1, thread_name_prefix="kmz-helper")
    monkeypatch.setattr(threads, "_helpers", (os.getpid(), pool))
    yield pool  # type: ignore[misc]
    pool.shutdown(wait=True)


def _where(name: str, log: list[tuple[str, str]]) -> Any:
    def job() -> str:
        log.append((name, threading.current_thread().name))
        return name

    return job


def test_results_in_order_from_this_thread_and_the_helper(
    one_helper: ThreadPoolExecutor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(threads, "available_cpus", lambda: 2)
    log: list[tuple[str, str]] = []
    names = [f"j{i}" for i in range(40)]
    assert threads.run_all([_where(name, log) for name in names]) == names
    assert sorted(name for name, _ in log) == sorted(names)  # each job ran once
    here = threading.current_thread().name
    assert {place for _, place in log} <= {here, *(t.name for t in one_helper._threads)}
    assert threads.run_all([]) == []
    assert threads.run_all([_where("c", log)]) == ["c"]


def test_both_threads_take_jobs(one_helper: ThreadPoolExecutor, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two jobs that each wait for the other to start can only finish on two threads."""
    monkeypatch.setattr(threads, "available_cpus", lambda: 4)
    meet = threading.Barrier(2, timeout=30)

    def job() -> tuple[str, int]:
        meet.wait()
        return threading.current_thread().name, threads.cpu_budget()

    with threads.cpu_share(2):  # budget 2 (of 4), in this context only
        (first, budget_a), (second, budget_b) = threads.run_all([job, job])
    assert first != second
    assert budget_a == budget_b == 2  # the helper ran in a copy of the caller's context


def test_workers_and_the_budget_bound_the_threads(
    one_helper: ThreadPoolExecutor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(threads, "available_cpus", lambda: 2)
    here = threading.current_thread().name
    for limit in ({"workers": 1}, {}):
        log: list[tuple[str, str]] = []
        jobs = [_where(name, log) for name in "abcd"]
        if limit:
            assert threads.run_all(jobs, **limit) == list("abcd")
        else:
            with threads.cpu_share(2):  # one thread each for two encodes
                assert threads.run_all(jobs) == list("abcd")
        assert [place for _, place in log] == [here] * 4
        assert [name for name, _ in log] == list("abcd")


def test_jobs_the_busy_helpers_have_not_started_run_here(
    one_helper: ThreadPoolExecutor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(threads, "available_cpus", lambda: 2)
    release = threading.Event()
    blocker = one_helper.submit(release.wait, 30)  # the only helper is busy elsewhere
    log: list[tuple[str, str]] = []
    try:
        assert threads.run_all([_where("a", log), _where("b", log), _where("c", log)]) == ["a", "b", "c"]
    finally:
        release.set()
    assert blocker.result() is True
    here = threading.current_thread().name
    assert log == [("a", here), ("b", here), ("c", here)]  # in order, all here, no waiting


def test_a_call_inside_a_job_does_not_wait_on_busy_helpers(
    one_helper: ThreadPoolExecutor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(threads, "available_cpus", lambda: 2)

    def outer(base: int) -> list[int]:
        return threads.run_all([lambda i=i: base + i for i in range(5)])

    expected = [[10 * b + i for i in range(5)] for b in range(6)]
    assert threads.run_all([lambda b=b: outer(10 * b) for b in range(6)]) == expected


def test_a_failing_job_raises_after_the_others_are_done(one_helper: ThreadPoolExecutor) -> None:
    started, finished = threading.Event(), threading.Event()

    def slow() -> int:
        started.set()
        finished.wait(0.2)
        finished.set()
        return 1

    def fail() -> int:
        started.wait(30)  # the helper is running slow()
        raise ValueError("here")

    with pytest.raises(ValueError, match="here"):
        threads.run_all([slow, fail])
    assert finished.is_set()  # not left running after run_all returned

    def fail_on_helper() -> int:
        raise KeyError("there")

    with pytest.raises(KeyError, match="there"):
        threads.run_all([fail_on_helper, lambda: 2])


def test_the_first_failing_job_in_order_is_raised_and_no_job_starts_after_it(
    one_helper: ThreadPoolExecutor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(threads, "available_cpus", lambda: 2)

    def fail(name: str) -> int:
        raise ValueError(name)

    for _ in range(20):  # however the two threads share them out
        started: list[int] = []

        def note(i: int, started: list[int] = started) -> int:
            started.append(i)
            return i

        jobs = [
            lambda: note(0),
            lambda: fail("first"),
            lambda: fail("second"),
            *(lambda i=i: note(i) for i in range(3, 30)),
        ]
        with pytest.raises(ValueError, match="first"):
            threads.run_all(jobs)
        # Two threads: each failing job stops its thread, and the other takes no new job once
        # a failure is recorded, so job 3 and later never start.
        assert started == [0]


def test_helpers_are_kept_and_made_again_in_another_process(monkeypatch: pytest.MonkeyPatch) -> None:
    first = threads.helpers()
    assert threads.helpers() is first
    monkeypatch.setattr(os, "getpid", lambda: -1)  # as in a child of os.fork
    second = threads.helpers()
    assert second is not first
    assert threads.run_all([lambda: 1, lambda: 2]) == [1, 2]


def _child(queue: Any) -> None:
    queue.put(threads.run_all([lambda: "a", lambda: "b", lambda: "c"]))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_does_not_wait_on_its_parents_helpers() -> None:
    threads.run_all([lambda: 0, lambda: 0])  # the parent's helpers exist
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads (Python 3.12+)
        child = context.Process(target=_child, args=(queue,))
        child.start()
    try:
        assert queue.get(timeout=60) == ["a", "b", "c"]
    finally:
        child.join(60)
        if child.is_alive():
            child.kill()
    assert child.exitcode == 0


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_child_forked_while_another_thread_holds_the_helpers_lock_does_not_hang() -> None:
    held, release = threading.Event(), threading.Event()

    def holder() -> None:
        with threads._helpers_lock:
            held.set()
            release.wait(60)

    thread = threading.Thread(target=holder)
    thread.start()
    held.wait(60)
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads (Python 3.12+)
            child = context.Process(target=_child, args=(queue,))
            child.start()
        assert queue.get(timeout=60) == ["a", "b", "c"]  # the parent's lock stays held meanwhile
    finally:
        release.set()
        thread.join(60)
        child.join(60)
        if child.is_alive():
            child.kill()
    assert child.exitcode == 0


@pytest.mark.parametrize("kind", [Filter.SUB, Filter.GRADIENT])
def test_row_sums_in_bands_on_the_helpers(monkeypatch: pytest.MonkeyPatch, kind: Filter) -> None:
    monkeypatch.setattr(threads, "available_cpus", lambda: 2)
    monkeypatch.setattr(rowfilter, "PARALLEL_PIXELS", 64)  # several bands even for a small image
    calls: list[int] = []
    original = threads.run_all

    def counted(jobs: Any) -> Any:
        calls.append(len(jobs))
        return original(jobs)

    monkeypatch.setattr(bands, "run_all", counted)
    indices = np.random.default_rng(3).integers(0, 256, (37, 300)).astype(np.uint8)
    stored = rowfilter.residuals(indices, 8, kind)
    assert np.array_equal(rowfilter.restore(stored, 8, kind), indices)
    assert calls == [2]


def test_everything_runs_here_when_the_helpers_take_no_more_work(monkeypatch: pytest.MonkeyPatch) -> None:
    pool = ThreadPoolExecutor(1)
    pool.shutdown()  # as at interpreter exit: submit raises RuntimeError
    monkeypatch.setattr(threads, "_helpers", (os.getpid(), pool))
    log: list[tuple[str, str]] = []
    assert threads.run_all([_where("a", log), _where("b", log), _where("c", log)]) == ["a", "b", "c"]
    assert {place for _, place in log} == {threading.current_thread().name}


def test_decodes_from_several_threads_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Callers share the helpers (and take back what they have not started): all correct."""
    monkeypatch.setattr(threads, "available_cpus", lambda: 2)
    rng = np.random.default_rng(5)
    indices = np.repeat(rng.integers(0, 200, 120 * 400 // 4), 4).reshape(120, 400).astype(np.uint8)
    palette = rng.integers(0, 256, (200, 3), dtype=np.uint8)
    plain = container.write(palette, indices, compression="none")
    header = container.parse_header(plain)
    rows = plain[header.data_offset : header.file_length - TRAILER_SIZE]
    stream = xzblocks.compress(rows, [0, 50 * 400, len(rows)], [{"id": lzma.FILTER_LZMA2, "preset": 1}])
    assert len(xzscan.check(stream)) == 2
    table = plain[HEADER_SIZE : header.data_offset]
    header = dataclasses.replace(header, compression=Compression.LZMA, data_length=len(stream))
    data = header.pack() + table + stream + container.data_crc(table, stream).to_bytes(4, "little")
    failures: list[int] = []

    def decode_many() -> None:
        for _ in range(5):
            if not np.array_equal(np.asarray(kmzcodec.decode(data)), indices):
                failures.append(1)

    workers = [threading.Thread(target=decode_many) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert not any(worker.is_alive() for worker in workers)
    assert not failures
