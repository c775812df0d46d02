"""Reading what the commands accept: any image Pillow reads, a .kmz, or a MATLAB .mat array.

A MATLAB array is handed to the encoder as it is (``kmzcodec.encode`` takes numpy
arrays and scales their samples by their type, or by ``--value-range``), so the
command reads the same values a notebook would.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from ..errors import KmzError
from ..image import decode
from ..request import EncodeOptions, Source, load, resized
from .status import CliError, UsageError


def require_file(path: Path) -> None:
    if not path.exists():
        raise UsageError(f"{path}: no such file")
    if path.is_dir():
        raise UsageError(f"{path}: is a folder, not a file")


def read_bytes(path: Path) -> bytes:
    require_file(path)
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CliError(f"{path}: cannot read: {exc.strerror or exc}") from None


def read_kmz(path: Path) -> Image.Image:
    data = read_bytes(path)
    try:
        return decode(data)
    except KmzError as exc:
        raise CliError(f"{path}: {exc}") from None


def load_image(path: Path, mat_key: str | None = None) -> Source:
    """Any input the command accepts (:func:`kmzcodec.request.load`), its failures as the
    command reports them."""
    require_file(path)
    try:
        return load(path, mat_key)
    except KmzError as exc:
        raise (UsageError if exc.reason == "bad-option" else CliError)(f"{path}: {exc}") from None
    except OSError as exc:  # unreadable, or gone since the check above
        raise CliError(f"{path}: cannot read: {exc.strerror or exc}") from None


def prepare(path: Path, options: EncodeOptions) -> Source:
    return resized(load_image(path, options.mat_key), options.resize)
