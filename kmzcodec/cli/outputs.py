"""Writing outputs: always through kmzcodec.fileio (temporary file, then rename), never over an input."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

from PIL import Image

from .. import fileio
from .status import CliError, UsageError, note

_REFUSALS = (fileio.OutputExistsError, fileio.SameFileError, FileNotFoundError, IsADirectoryError)


def check_output(path: Path, inputs: Sequence[Path] = (), force: bool = False) -> None:
    """Refuse early (before slow work) an output that exists, is an input, or has no folder."""
    try:
        fileio.check_output(path, inputs=inputs, force=force)
    except _REFUSALS as exc:
        raise UsageError(str(exc)) from None


def write(path: Path, data: bytes, inputs: Sequence[Path] = (), force: bool = False) -> None:
    # The refusals (usage errors) are told apart here, before writing: afterwards a
    # FileNotFoundError or IsADirectoryError is a failed write (exit 1) whose message names
    # the output, not the temporary file that could not be made (say in /proc).
    check_output(path, inputs, force)
    try:
        fileio.write_bytes(path, data, inputs=inputs, force=force)
    except (fileio.OutputExistsError, fileio.SameFileError) as exc:  # one appeared meanwhile
        raise UsageError(str(exc)) from None
    except OSError as exc:
        raise CliError(f"{path}: cannot write: {exc.strerror or exc}") from None


def save_format(path: Path) -> str:
    """Pillow's format name for an output file's extension."""
    Image.init()
    suffix = path.suffix.lower()
    if suffix == ".kmz":
        raise UsageError(f"{path}: to write .kmz files use 'kmz encode'")
    name = Image.registered_extensions().get(suffix)
    if name is None or name not in Image.SAVE:
        shown = suffix or "no extension"
        raise UsageError(
            f"{path}: cannot tell an image format Pillow writes from {shown} (try .png, .tif, .webp)"
        )
    return name


def render(image: Image.Image, fmt: str, path: Path) -> bytes:
    """Encode ``image`` with Pillow, converting the mode only if the format needs it."""
    alpha = image.mode in ("RGBA", "LA", "PA") or image.has_transparency_data
    candidates = [image]
    if image.mode not in ("RGB", "L"):
        candidates += [image.convert("RGBA")] if alpha else []
        candidates += [image.convert("RGB")]
    last: Exception | None = None
    for candidate in candidates:
        buffer = io.BytesIO()
        try:
            candidate.save(buffer, format=fmt)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            last = exc
            continue
        if alpha and candidate.mode == "RGB":
            note(f"{fmt} cannot store transparency; {path} is opaque")
        return buffer.getvalue()
    raise CliError(f"{path}: Pillow cannot write this image as {fmt}: {last}")
