"""kmzcodec.fileio's outputs get the permissions of any new file, and fileio never touches the umask.

The process umask is process-wide state: reading it the only portable way (set it and
set it back) races with every other thread creating files. fileio lets the kernel apply
it instead, so these tests run each umask in a fresh subprocess in which ``os.umask``
raises once the mask is set: any call from fileio fails the write.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX permission bits")

#: Sets the umask, forbids os.umask, then writes a new file and replaces an existing
#: 0o600 one on both of fileio's paths; prints {name: mode}.
CHILD = """
import json, os, sys
os.umask(int(sys.argv[2], 8))

def forbidden(*args):
    raise AssertionError("fileio called os.umask")

os.umask = forbidden
from pathlib import Path
from kmzcodec import fileio

folder = Path(sys.argv[1])
anonymous = fileio._anonymous
modes = {}
for path in ("anonymous", "named"):
    fileio._anonymous = anonymous if path == "anonymous" else (lambda folder: None)
    fileio.write_bytes(folder / f"{path}-new.bin", b"new")
    existing = folder / f"{path}-replaced.bin"
    existing.write_bytes(b"old")
    existing.chmod(0o600)
    fileio.write_bytes(existing, b"new", force=True)
    for name in (f"{path}-new.bin", f"{path}-replaced.bin"):
        modes[name] = (folder / name).stat().st_mode & 0o777
print(json.dumps(modes))
"""


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002], ids=oct)
def test_outputs_get_0666_less_the_umask_and_the_umask_is_never_touched(tmp_path: Path, umask: int) -> None:
    """New and replaced files alike get 0o666 & ~umask, as ``open(path, "wb")`` would give a new
    file (a replaced file's old mode is not kept: it is a new file under the same name)."""
    repo = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path), oct(umask)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(repo), "PYTHONDONTWRITEBYTECODE": "1"},
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    modes = json.loads(done.stdout)
    expected = 0o666 & ~umask
    assert modes == {
        name: expected
        for path in ("anonymous", "named")
        for name in (f"{path}-new.bin", f"{path}-replaced.bin")
    }, {name: oct(mode) for name, mode in modes.items()}
    assert sorted(os.listdir(tmp_path)) == sorted(modes)  # no temporary left behind
