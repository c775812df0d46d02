"""Write faults: a full disk, permission errors and interrupts never cost the user a file.

kmzcodec.fileio, and through it ``kmz encode``, ``kmz decode`` and ``kmz convert``,
write to a temporary file in the destination's folder and rename it into place, so
an existing output stays intact until the new one is complete, and nothing is left
behind on failure. Faults are simulated by wrapping the file object fileio writes
through (disk full after N bytes, EIO from fsync, KeyboardInterrupt), by making the
rename fail; and for real, by the kernel: a read-only (or, for root, immutable) folder,
a file size limit (ulimit -f: RLIMIT_FSIZE) and a full 64 KiB tmpfs, the last two in a
subprocess.

Pillow's ``img.save(path)`` is different: Pillow opens (and truncates) the file
before the plugin runs. The plugin encodes completely in memory first, so a failing
encode writes nothing, but an existing file is already empty by then. The tests
at the end pin that behaviour; for atomic saves there is ``kmzcodec.save`` (tested
last), fileio, or the CLI.
"""

from __future__ import annotations

import errno
import gc
import io
import json
import os
import signal
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

import kmzcodec
from kmzcodec import cli, fileio, plugin

pytestmark = pytest.mark.filterwarnings("error::ResourceWarning")

OLD = b"the previous output, which must survive"


class Faulty:
    """A file object that lets ``on_write`` fail a write (after writing part of it, as a
    disk that fills up does); everything else goes to the real file."""

    def __init__(self, handle: Any, on_write: Callable[[Faulty, bytes], None]) -> None:
        self._handle, self._on_write, self.written = handle, on_write, 0

    def write(self, data: bytes) -> int:
        self._on_write(self, bytes(data))
        self.written += self._handle.write(data)
        return len(data)

    def __enter__(self) -> Faulty:
        return self

    def __exit__(self, *exc: object) -> None:
        self._handle.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._handle, name)


def disk_full_after(room: int) -> Callable[[Faulty, bytes], None]:
    def on_write(file: Faulty, data: bytes) -> None:
        if file.written + len(data) > room:
            file._handle.write(data[: max(0, room - file.written)])
            file._handle.flush()
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    return on_write


def interrupt(file: Faulty, data: bytes) -> None:
    file._handle.write(data[: len(data) // 2])
    raise KeyboardInterrupt


def wrap_writes(monkeypatch: pytest.MonkeyPatch, on_write: Callable[[Faulty, bytes], None]) -> None:
    """Every binary file opened with os.fdopen for writing (fileio's only way) gets faulty."""
    real = os.fdopen

    def fdopen(fd: int, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        handle = real(fd, mode, *args, **kwargs)
        return Faulty(handle, on_write) if "b" in mode and ("w" in mode or "+" in mode) else handle

    monkeypatch.setattr(os, "fdopen", fdopen)


def listing(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (hidden temporaries included) with its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(params=["anonymous", "named"])
def write_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """fileio's Linux path (an O_TMPFILE file, linked at the end) and its portable one
    (a hidden named temporary, renamed at the end)."""
    if request.param == "named":
        monkeypatch.setattr(fileio, "_anonymous", lambda folder: None)
    return str(request.param)


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("kmz: error: "), err
    assert "Traceback" not in err
    return lines[0]


# --------------------------------------------------------------------------- kmzcodec.fileio


def test_the_temporary_lives_in_the_destination_folder(
    tmp_path: Path, write_path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While the data is written, the destination still holds the old file; the temporary
    is created in the same folder, so publishing it is a rename (or link), never a copy."""
    target = tmp_path / "out.kmz"
    target.write_bytes(OLD)
    seen: list[bytes] = []
    wrap_writes(monkeypatch, lambda file, data: seen.append(target.read_bytes()))
    folders: list[Path] = []
    real_open = os.open

    def spy_open(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if flags & getattr(os, "O_TMPFILE", 0) == getattr(os, "O_TMPFILE", -1):
            folders.append(Path(path))  # an anonymous file in this folder
        elif flags & os.O_CREAT:
            folders.append(Path(path).parent)  # a named temporary
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", spy_open)
    fileio.write_bytes(target, b"new" * 1000, force=True)
    assert seen and all(content == OLD for content in seen)
    assert target.read_bytes() == b"new" * 1000
    assert folders and all(folder == tmp_path for folder in folders)
    assert os.listdir(tmp_path) == ["out.kmz"]


@pytest.mark.parametrize("room", [0, 100])
@pytest.mark.parametrize("existing", [True, False])
def test_disk_full_keeps_the_previous_file(
    tmp_path: Path, write_path: str, monkeypatch: pytest.MonkeyPatch, room: int, existing: bool
) -> None:
    target = tmp_path / "out.kmz"
    if existing:
        target.write_bytes(OLD)
    before = listing(tmp_path)
    wrap_writes(monkeypatch, disk_full_after(room))
    with pytest.raises(OSError) as caught:
        fileio.write_bytes(target, bytes(1000), force=True)
    assert caught.value.errno == errno.ENOSPC
    assert listing(tmp_path) == before  # old file intact (or still absent), no temporary left


@pytest.mark.parametrize("failing", ["fsync", "rename"])
def test_a_failing_flush_or_rename_keeps_the_previous_file(
    tmp_path: Path, write_path: str, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    """EIO from fsync (a disk that fails late), EACCES from the final rename or link."""
    target = tmp_path / "out.kmz"
    target.write_bytes(OLD)

    def fail(*args: object, **kwargs: object) -> None:
        code = errno.EIO if failing == "fsync" else errno.EACCES
        raise OSError(code, os.strerror(code))

    if failing == "fsync":
        monkeypatch.setattr(os, "fsync", fail)  # the folder's fsync failing too is ignored by fileio
    else:
        monkeypatch.setattr(os, "replace", fail)
        monkeypatch.setattr(os, "link", fail)
    with pytest.raises(OSError):
        fileio.write_bytes(target, b"new", force=True)
    assert listing(tmp_path) == {"out.kmz": OLD}


def test_a_temporary_that_cannot_be_created_changes_nothing(
    tmp_path: Path, write_path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "out.kmz"
    target.write_bytes(OLD)

    real_open = os.open

    def denied(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if flags & os.O_CREAT:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(fileio, "_anonymous", lambda folder: None)  # O_TMPFILE refused too: falls back
    monkeypatch.setattr(os, "open", denied)
    with pytest.raises(PermissionError):
        fileio.write_bytes(target, b"new", force=True)
    assert listing(tmp_path) == {"out.kmz": OLD}


def _lock(folder: Path) -> Callable[[], None]:
    """Make ``folder`` refuse new names for real; returns the undo.

    Not root: permission bits (0o555). Root ignores those, but not the immutable flag
    (chattr +i), which refuses every create, link and rename in the folder until removed.
    """
    if os.geteuid() != 0:
        folder.chmod(0o555)
        return lambda: folder.chmod(0o755)
    done = subprocess.run(["chattr", "+i", str(folder)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"root, and no immutable folders here (chattr +i: {done.stderr.strip()})")

    def unlock() -> None:
        subprocess.run(["chattr", "-i", str(folder)], check=True)

    return unlock


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions and the immutable flag")
def test_a_read_only_folder_really_refuses_and_changes_nothing(tmp_path: Path, write_path: str) -> None:
    folder = tmp_path / "locked"
    folder.mkdir()
    (folder / "out.kmz").write_bytes(OLD)
    unlock = _lock(folder)
    try:
        with pytest.raises(PermissionError):
            fileio.write_bytes(folder / "out.kmz", b"new", force=True)
        with pytest.raises(PermissionError):
            fileio.write_bytes(folder / "new.kmz", b"new")
        assert listing(folder) == {"out.kmz": OLD}
    finally:
        unlock()


#: Run by the tests below in a child process: writes 256 KiB with fileio over
#: ``argv[1]/out.kmz`` (created first if absent), on fileio's path ``argv[2]``, under
#: the file size limit ``argv[3]`` (bytes; 0: none); prints the error's errno name and
#: the folder's listing before and after, as JSON.
WRITER = f"""
import errno, json, resource, signal, sys
from pathlib import Path
from kmzcodec import fileio

folder, path, limit = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
if path == "named":
    fileio._anonymous = lambda folder: None
target = folder / "out.kmz"
if not target.exists():
    target.write_bytes({OLD!r})

def listing():
    return {{p.name: p.read_bytes().hex() for p in sorted(folder.iterdir())}}

before = listing()
if limit:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # write() then fails with EFBIG, not the process
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
error = None
try:
    fileio.write_bytes(target, bytes(256 * 1024), force=True)
except OSError as exc:
    error = errno.errorcode.get(exc.errno, str(exc.errno))
print(json.dumps({{"error": error, "before": before, "after": listing()}}))
"""


def _run_writer(prefix: list[str], folder: Path, path: str, limit: int) -> dict[str, Any]:
    done = subprocess.run(
        [*prefix, sys.executable, "-c", WRITER, str(folder), path, str(limit)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_FSIZE and SIGXFSZ are POSIX")
def test_a_real_file_size_limit_refuses_and_changes_nothing(tmp_path: Path, write_path: str) -> None:
    """RLIMIT_FSIZE (ulimit -f) binds root too: the kernel fails the write past 4 KiB with EFBIG."""
    (tmp_path / "out.kmz").write_bytes(OLD)
    result = _run_writer([], tmp_path, write_path, 4096)
    assert result["error"] == "EFBIG"
    assert result["after"] == result["before"] == {"out.kmz": OLD.hex()}
    assert listing(tmp_path) == {"out.kmz": OLD}


def _tmpfs_prefix(mountpoint: Path) -> list[str]:
    """A command prefix that runs the rest in a private mount namespace with a 64 KiB tmpfs
    on ``mountpoint`` (gone when the command ends), or skips where mounting is not allowed."""
    user = [] if os.geteuid() == 0 else ["--user", "--map-root-user"]
    prefix = [
        "unshare", *user, "--mount", "--propagation", "private",
        "sh", "-c", 'mount -t tmpfs -o size=64k kmz-test "$0" && exec "$@"', str(mountpoint),
    ]  # fmt: skip
    try:
        probe = subprocess.run([*prefix, "true"], capture_output=True, text=True, check=False, timeout=60)
    except FileNotFoundError:
        pytest.skip("no unshare command")
    if probe.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {probe.stderr.strip()}")
    return prefix


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="tmpfs in a mount namespace is Linux")
def test_a_really_full_disk_refuses_and_changes_nothing(tmp_path: Path, write_path: str) -> None:
    """A 64 KiB tmpfs: the 256 KiB write fails with ENOSPC from the kernel, as on a full disk."""
    mountpoint = tmp_path / "small"
    mountpoint.mkdir()
    result = _run_writer(_tmpfs_prefix(mountpoint), mountpoint, write_path, 0)
    assert result["error"] == "ENOSPC"
    assert result["after"] == result["before"] == {"out.kmz": OLD.hex()}
    assert listing(mountpoint) == {}  # the tmpfs never showed outside its namespace


# --------------------------------------------------------------------------- the kmz command


def _noise(path: Path, side: int = 24, seed: int = 0) -> Path:
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (side, side, 3), dtype=np.uint8)).save(path)
    return path


def _commands(folder: Path) -> dict[str, tuple[list[str], Path]]:
    """Each writing command, run with --force over an existing output: (argv, that output)."""
    png = _noise(folder / "in.png")
    kmz = folder / "in.kmz"
    kmz.write_bytes(kmzcodec.encode(Image.open(png), 8))
    out_dir = folder / "converted"
    out_dir.mkdir()
    return {
        "encode": (
            ["encode", str(png), "-o", str(folder / "out.kmz"), "-k", "8", "--force"],
            folder / "out.kmz",
        ),
        "decode": (["decode", str(kmz), "-o", str(folder / "out.png"), "--force"], folder / "out.png"),
        "convert": (
            ["convert", str(png), "--out-dir", str(out_dir), "-k", "8", "-j", "1", "--force"],
            out_dir / "in.kmz",
        ),
    }


FAULTS = {
    "disk-full": ("No space left on device", lambda mp: wrap_writes(mp, disk_full_after(50))),
    "permission": (
        "Permission denied",
        lambda mp: [mp.setattr(os, name, _denied) for name in ("replace", "link")],
    ),
    # A folder where no file can be made though it exists, as /proc: the error named the
    # temporary file and was taken for a missing folder (exit 2).
    "no-entry": (
        "No such file or directory",
        lambda mp: [mp.setattr(fileio, "_anonymous", lambda folder: None), mp.setattr(os, "open", _no_entry)],
    ),
}


def _denied(*args: object, **kwargs: object) -> None:
    raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))


_os_open = os.open


def _no_entry(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
    if flags & os.O_CREAT:
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), str(path))
    return _os_open(path, flags, *args, **kwargs)


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("command", ["encode", "decode", "convert"])
def test_cli_write_faults_keep_the_previous_output(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    command: str,
    fault: str,
) -> None:
    argv, output = _commands(tmp_path)[command]
    output.write_bytes(OLD)
    before = listing(tmp_path)
    message, install = FAULTS[fault]
    install(monkeypatch)
    code = cli.main(argv)
    captured = capsys.readouterr()
    assert code == 1
    line = one_error_line(captured.err)
    assert str(output) in line and f"cannot write: {message}" in line
    assert fileio.TEMP_PREFIX not in line
    assert listing(tmp_path) == before  # the old output intact, nothing else written


@pytest.mark.skipif(sys.platform == "win32", reason="ulimit -f and SIGXFSZ are POSIX")
def test_cli_on_a_real_write_limit(tmp_path: Path) -> None:
    """No simulation: the kernel refuses writes past the shell's file size limit
    (ulimit -f: 4 or 8 KiB); SIGXFSZ is ignored, so write() fails with EFBIG."""
    source = _noise(tmp_path / "noise.png", side=120)  # about 15 KB as .kmz
    output = tmp_path / "out.kmz"
    output.write_bytes(OLD)
    command = [
        sys.executable,
        "-m",
        "kmzcodec",
        "encode",
        str(source),
        "-o",
        str(output),
        "-k",
        "256",
        "--force",
    ]
    done = subprocess.run(
        ["sh", "-c", 'trap "" XFSZ; ulimit -f 8 && exec "$@"', "sh", *command],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        timeout=120,
    )
    assert done.returncode == 1, done.stderr
    assert "cannot write: File too large" in one_error_line(done.stderr)
    assert listing(tmp_path) == {"noise.png": source.read_bytes(), "out.kmz": OLD}


def test_ctrl_c_while_convert_writes_leaves_only_complete_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """KeyboardInterrupt inside the write of the second output (the kill tests in
    test_cli.py interrupt between files): the first output is new and complete, the
    second and third keep their previous contents, no temporary file is left."""
    source, out = tmp_path / "in", tmp_path / "out"
    source.mkdir()
    out.mkdir()
    for i in range(3):
        _noise(source / f"n{i}.png", seed=i)
        (out / f"n{i}.kmz").write_bytes(OLD)
    writes: list[int] = []

    def second_is_interrupted(file: Faulty, data: bytes) -> None:
        writes.append(1)
        if len(writes) == 2:
            interrupt(file, data)

    wrap_writes(monkeypatch, second_is_interrupted)
    code = cli.main(["convert", str(source), "--out-dir", str(out), "-k", "4", "-j", "1", "--force"])
    assert code == 130
    assert one_error_line(capsys.readouterr().err) == "kmz: error: interrupted"
    assert sorted(os.listdir(out)) == ["n0.kmz", "n1.kmz", "n2.kmz"]
    assert kmzcodec.decode((out / "n0.kmz").read_bytes()).info["colors"] <= 4
    assert (out / "n1.kmz").read_bytes() == OLD == (out / "n2.kmz").read_bytes()


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # a process exists but is not ours to signal
        return True
    return True


@pytest.mark.skipif(sys.platform == "win32", reason="process groups and signals are POSIX")
@pytest.mark.parametrize(("sig", "to_group", "code", "message"), [
    (signal.SIGINT, True, 130, "interrupted"),  # Ctrl-C: the terminal signals the whole group
    (signal.SIGTERM, False, 143, "terminated"),  # kill PID: only the parent hears it
])  # fmt: skip
def test_stopping_convert_with_worker_processes_stops_them_all(
    tmp_path: Path, sig: signal.Signals, to_group: bool, code: int, message: str
) -> None:
    """With two worker processes (test_cli.py covers SIGINT with one, SIGKILL with two):
    one error line, only complete outputs, and no worker left running afterwards."""
    source, out = tmp_path / "in", tmp_path / "out"
    source.mkdir()
    count = 24
    for i in range(count):
        _noise(source / f"n{i:02d}.png", side=160, seed=i)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kmzcodec",
            "convert",
            str(source),
            "--out-dir",
            str(out),
            "-k",
            "64",
            "-j",
            "2",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 90
        while not (out.is_dir() and any(p.suffix == ".kmz" for p in out.iterdir())):
            assert process.poll() is None, process.communicate()[1]
            assert time.monotonic() < deadline, "no output appeared"
            time.sleep(0.01)
        if to_group:
            os.killpg(process.pid, sig)
        else:
            process.send_signal(sig)
        _, err = process.communicate(timeout=60)
        deadline = time.monotonic() + 20
        while _group_alive(process.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _group_alive(process.pid), "worker processes outlived kmz convert"
    finally:
        if _group_alive(process.pid):
            os.killpg(process.pid, signal.SIGKILL)
        if process.poll() is None:
            process.wait()
    assert process.returncode == code, err
    assert err.decode().strip().splitlines()[-1] == f"kmz: error: {message}"
    names = sorted(os.listdir(out))
    assert all(name.endswith(".kmz") for name in names), names  # no temporary files
    for name in names:
        assert kmzcodec.decode((out / name).read_bytes()).size == (160, 160)
    assert 0 < len(names) < count


# --------------------------------------------------------------------------- Pillow's img.save(path)


def _picture() -> Image.Image:
    return Image.fromarray(np.random.default_rng(5).integers(0, 256, (20, 30, 3), dtype=np.uint8))


@pytest.mark.parametrize("as_path", [str, Path])
def test_save_with_a_bad_option_leaves_no_file(tmp_path: Path, as_path: Callable[[Path], Any]) -> None:
    path = tmp_path / "never.kmz"
    with pytest.raises(ValueError, match="cannot save as KMZ"):
        _picture().save(as_path(path), colors=0)
    assert not path.exists()  # Pillow removes the file it created when our handler raises
    assert os.listdir(tmp_path) == []


def test_save_with_a_bad_option_empties_an_existing_file(tmp_path: Path) -> None:
    """The caveat: Pillow opened the existing file with "w+b" before the plugin ran, so it
    is empty now (not a half-written .kmz: the encoder had not written a byte)."""
    path = tmp_path / "existing.kmz"
    path.write_bytes(OLD)
    with pytest.raises(ValueError, match="cannot save as KMZ"):
        _picture().save(path, method="median-cut")
    assert path.read_bytes() == b""


def test_save_on_a_full_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The plugin's one write fails part-way: a new file is removed by Pillow; an existing
    one keeps the partial bytes, which the decoder rejects by its length."""
    import builtins

    real_open = builtins.open

    def open_full(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        handle = real_open(file, mode, *args, **kwargs)
        return Faulty(handle, disk_full_after(60)) if str(file).endswith(".kmz") and "w" in mode else handle

    fresh, existing = tmp_path / "fresh.kmz", tmp_path / "existing.kmz"
    existing.write_bytes(OLD)
    monkeypatch.setattr(builtins, "open", open_full)
    for path in (fresh, existing):
        with pytest.raises(OSError, match="No space left"):
            _picture().save(path)
    monkeypatch.undo()
    assert not fresh.exists()
    partial = existing.read_bytes()
    assert len(partial) == 60
    with pytest.raises(kmzcodec.KmzError, match="truncated"):
        kmzcodec.decode(partial)


def test_ctrl_c_during_save_leaves_an_empty_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Pillow removes a file it created only on Exception, not on KeyboardInterrupt: Ctrl-C
    while img.save(path) encodes leaves an empty file (never a partial .kmz)."""

    def interrupted(*args: object, **kwargs: object) -> bytes:
        raise KeyboardInterrupt

    monkeypatch.setattr(plugin, "encode", interrupted)
    path = tmp_path / "interrupted.kmz"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)  # Pillow does not close the file either
        with pytest.raises(KeyboardInterrupt):
            _picture().save(path)
        gc.collect()
    assert path.read_bytes() == b""
    with pytest.raises(kmzcodec.KmzError) as caught:
        kmzcodec.decode(path.read_bytes())
    assert caught.value.reason == "empty"


def test_atomic_saving_through_fileio_survives_what_img_save_does_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The recommended way: encode in memory, then fileio.write_bytes (what ``kmz`` does)."""
    path = tmp_path / "picture.kmz"
    path.write_bytes(OLD)
    with pytest.raises(kmzcodec.KmzError):
        fileio.write_bytes(path, kmzcodec.encode(_picture(), colors=0), force=True)
    wrap_writes(monkeypatch, disk_full_after(60))
    with pytest.raises(OSError):
        fileio.write_bytes(path, kmzcodec.encode(_picture(), 16), force=True)
    monkeypatch.undo()
    assert listing(tmp_path) == {"picture.kmz": OLD}
    fileio.write_bytes(path, kmzcodec.encode(_picture(), 16), force=True)
    assert kmzcodec.decode(path.read_bytes()).size == (30, 20)


def test_saving_to_a_file_object_writes_nothing_on_failure() -> None:
    buffer = io.BytesIO(OLD)
    buffer.seek(0, io.SEEK_END)
    with pytest.raises(kmzcodec.KmzError):
        _picture().save(buffer, format="KMZ", compression="zip")
    assert buffer.getvalue() == OLD


def test_kmzcodec_save_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """kmzcodec.save: img.save's convenience with fileio's guarantee."""
    path = tmp_path / "picture.kmz"
    path.write_bytes(OLD)
    with pytest.raises(kmzcodec.KmzError):
        kmzcodec.save(_picture(), path, colors=0)
    wrap_writes(monkeypatch, disk_full_after(60))
    with pytest.raises(OSError):
        kmzcodec.save(_picture(), path, 16)
    monkeypatch.undo()
    assert listing(tmp_path) == {"picture.kmz": OLD}
    saved = kmzcodec.save(_picture(), path, 16, method="kmeans")
    assert saved.data == path.read_bytes() and saved.colors <= 16
    with pytest.raises(FileExistsError):
        kmzcodec.save(_picture(), path, 16, overwrite=False)
    assert path.read_bytes() == saved.data


def test_kmzcodec_save_never_overwrites_the_image_it_was_opened_from(tmp_path: Path) -> None:
    path = tmp_path / "picture.kmz"
    kmzcodec.save(_picture(), path, 16)
    original = path.read_bytes()
    with Image.open(path) as opened, pytest.raises(fileio.SameFileError):
        kmzcodec.save(opened, path, 4)
    assert listing(tmp_path) == {"picture.kmz": original}
