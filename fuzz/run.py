"""Run the fuzz targets for a fixed total time and report executions and findings.

    python fuzz/run.py --seconds 60                   # all three targets, about 60 s in all
    python fuzz/run.py --seconds 600 --targets decode --work fuzz-work

Each target runs in its own process (``fuzz/fuzz_TARGET.py``, atheris + libFuzzer)
for its share of the time, on a working corpus seeded from spec/conformance
(fuzz/seeds.py) plus fuzz/corpus/TARGET and fuzz/regressions/TARGET when present.
Crash, timeout and out-of-memory inputs are copied to fuzz/crashes/TARGET/; the
exit status is 1 when there is any, 2 when a target could not run.

Without ``--work`` the working corpus lives in a temporary folder that is removed
at the end; with it, the corpus grows from run to run.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

FUZZ = Path(__file__).resolve().parent
REPO = FUZZ.parent
#: Share of the time each target gets (the decoding targets are fast, round trips slow).
SHARES = {"decode": 0.35, "pillow": 0.35, "roundtrip": 0.30}
#: libFuzzer flags per target: the longest input, and the time one input may take.
MAX_LEN = {"decode": 8192, "pillow": 8192, "roundtrip": 4096}
UNIT_TIMEOUT = {"decode": 10, "pillow": 10, "roundtrip": 60}
RSS_LIMIT_MB = 2048
#: Wall-clock allowance beyond a target's share: interpreter start, imports, the seed pass.
SLACK_SECONDS = 45
ARTIFACT_PREFIXES = ("crash-", "timeout-", "oom-", "leak-")


@dataclass
class Result:
    target: str
    seconds: float
    executions: int | None = None
    per_second: int | None = None
    new_units: int | None = None
    corpus: int | None = None
    coverage: str = ""
    peak_rss_mb: int | None = None
    findings: tuple[Path, ...] = ()
    problem: str = ""  # the run itself failed (not started, killed, no statistics)
    trace: str = ""  # what the harness raised, from the log


def _stat(log: str, name: str) -> int | None:
    found = re.findall(rf"stat::{name}:\s+(\d+)", log)
    return int(found[-1]) if found else None


def _status_line(log: str) -> str:
    """The last libFuzzer status line's coverage figures, e.g. "cov: 812 ft: 2345"."""
    found = re.findall(r"^#\d+\s+\w+\s+(cov: \d+ ft: \d+)", log, flags=re.MULTILINE)
    return found[-1] if found else ""


def run_target(target: str, seconds: int, work: Path, seeds: Path) -> Result:
    corpus = work / "corpus" / target
    artifacts = work / "artifacts" / target
    corpus.mkdir(parents=True, exist_ok=True)
    artifacts.mkdir(parents=True, exist_ok=True)
    inputs = [corpus, seeds / target]
    inputs += [d for d in (FUZZ / "corpus" / target, FUZZ / "regressions" / target) if d.is_dir()]
    command = [
        sys.executable,
        str(FUZZ / f"fuzz_{target}.py"),
        *(str(path) for path in inputs),
        f"-max_total_time={seconds}",
        f"-dict={FUZZ / 'kmz.dict'}",
        f"-artifact_prefix={artifacts}{os.sep}",
        f"-max_len={MAX_LEN[target]}",
        f"-timeout={UNIT_TIMEOUT[target]}",
        f"-rss_limit_mb={RSS_LIMIT_MB}",
        "-print_final_stats=1",
    ]
    log_path = work / f"{target}.log"
    result = Result(target, seconds)
    earlier = set(artifacts.iterdir())  # a kept --work folder holds earlier runs' findings
    with log_path.open("wb") as log:
        # Its own session, so a hung run can be stopped with everything it started.
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, cwd=REPO, start_new_session=True
        )
        try:
            process.wait(timeout=seconds + SLACK_SECONDS)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            result.problem = f"killed after {seconds + SLACK_SECONDS} s"
    text = log_path.read_text(errors="replace")
    result.executions = _stat(text, "number_of_executed_units")
    result.per_second = _stat(text, "average_exec_per_sec")
    result.new_units = _stat(text, "new_units_added")
    result.peak_rss_mb = _stat(text, "peak_rss_mb")
    result.coverage = _status_line(text)
    result.corpus = sum(1 for _ in corpus.iterdir())
    fresh = set(artifacts.iterdir()) - earlier
    result.findings = tuple(sorted(p for p in fresh if p.name.startswith(ARTIFACT_PREFIXES)))
    if result.findings:
        start = max(text.find("=== Uncaught Python exception"), text.find("==ERROR"), 0)
        result.trace = "\n".join(text[start:].strip().splitlines()[:40])
    if not result.problem and result.executions is None and not result.findings:
        tail = "\n".join(text.strip().splitlines()[-5:])
        result.problem = f"exit status {process.returncode}, no statistics:\n{tail}"
    return result


def keep_findings(results: list[Result]) -> list[Path]:
    """Copy finding inputs to fuzz/crashes/TARGET/, where they outlive a temporary work folder."""
    kept = []
    for result in results:
        for path in result.findings:
            folder = FUZZ / "crashes" / result.target
            folder.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, folder / path.name)
            kept.append(folder / path.name)
    return kept


def _count(value: int | None) -> str:
    return "?" if value is None else f"{value:,}"


def report(results: list[Result], wall: float) -> None:
    print(f"{'target':<10} {'seconds':>7} {'executions':>11} {'exec/s':>7} {'corpus':>7} {'new':>6} "
          f"{'RSS MB':>7}  coverage        findings")  # fmt: skip
    for r in results:
        print(f"{r.target:<10} {r.seconds:>7} {_count(r.executions):>11} {_count(r.per_second):>7} "
              f"{_count(r.corpus):>7} {_count(r.new_units):>6} {_count(r.peak_rss_mb):>7}  "
              f"{r.coverage:<15} {len(r.findings)}")  # fmt: skip
        if r.problem:
            print(f"  {r.target}: run failed: {r.problem}")
        if r.trace:
            print("  " + r.trace.replace("\n", "\n  "))
    total = sum(r.executions or 0 for r in results)
    print(f"total: {total:,} executions in {wall:.0f} s")
    print("\nfor fuzz/README.md:")
    for r in results:
        print(f"| {r.target} | {r.seconds} | {_count(r.executions)} | {r.coverage} | {len(r.findings)} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--seconds", type=int, default=60, help="total fuzzing time, shared by the targets (default 60)"
    )
    parser.add_argument("--targets", default=",".join(SHARES), help="comma-separated (default: all three)")
    parser.add_argument(
        "--work", type=Path, help="keep the working corpus and logs here (default: a temporary folder)"
    )
    args = parser.parse_args(argv)
    targets = [name.strip() for name in args.targets.split(",") if name.strip()]
    unknown = [name for name in targets if name not in SHARES]
    if unknown or not targets or args.seconds < 1:
        parser.error(f"--targets must name some of {', '.join(SHARES)} and --seconds be positive")
    try:
        import atheris  # noqa: F401
    except ImportError:
        print(
            "fuzz/run.py: atheris is not installed (pip install -e '.[fuzz]'; Python 3.11-3.14)",
            file=sys.stderr,
        )
        return 2
    weight = sum(SHARES[name] for name in targets)
    work = args.work.resolve() if args.work else Path(tempfile.mkdtemp(prefix="kmz-fuzz-"))
    started = time.monotonic()
    try:
        sys.path.insert(0, str(REPO))
        from fuzz import seeds

        counts = seeds.write(work / "seeds")
        print("seeds: " + ", ".join(f"{name} {counts[name]}" for name in targets), flush=True)
        results = []
        for name in targets:
            share = max(1, round(args.seconds * SHARES[name] / weight))
            print(f"fuzzing {name} for {share} s ...", flush=True)
            results.append(run_target(name, share, work, work / "seeds"))
        kept = keep_findings(results)
        report(results, time.monotonic() - started)
        for path in kept:
            print(f"finding: {path.relative_to(REPO)}  (replay: python -m pytest tests/test_fuzz_replay.py)")
        if args.work:
            print(f"working corpus and logs kept in {work}")
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    if any(r.problem for r in results):
        return 2
    return 1 if kept else 0


if __name__ == "__main__":
    sys.exit(main())
