"""``kmz info``: a .kmz file's header, palette and sizes, as text or JSON."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from ... import container, metrics
from ...errors import KmzError
from ...format import MAGIC, TRAILER_SIZE
from .. import arguments
from ..inputs import read_bytes
from ..reports import fmt_float, relative
from ..status import EXIT_OK, CliError

SUMMARY = "show a .kmz file's header, palette and sizes"
DESCRIPTION = "Validate a .kmz file and show its header, palette summary, sizes and compression ratio."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", metavar="FILE.kmz", help=".kmz file to inspect")
    arguments.json_argument(parser, "everything, the whole palette included,")


def _hex(entry: np.ndarray) -> str:
    if len(entry) == 1:
        return "#" + f"{int(entry[0]):02x}" * 3
    return "#" + "".join(f"{int(v):02x}" for v in entry)


def _swatch(entries: np.ndarray, limit: int = 64) -> str:
    """A line of coloured blocks (24-bit ANSI colour), for terminals."""
    blocks = []
    for entry in entries[:limit]:
        red, green, blue = (int(entry[0]),) * 3 if len(entry) == 1 else (int(v) for v in entry[:3])
        blocks.append(f"\x1b[38;2;{red};{green};{blue}m\u2588\u2588")
    return "".join(blocks) + "\x1b[0m"


def run(args: argparse.Namespace) -> int:
    path = Path(args.input)
    data = read_bytes(path)
    try:
        payload = container.read(data)
        indices = container.indices(payload.header, payload.rows)
        used = int(np.count_nonzero(np.bincount(indices.ravel(), minlength=payload.header.colors)))
    except KmzError as exc:
        raise CliError(f"{path}: {exc}") from None
    header = payload.header
    channels = int(header.palette_kind)
    entries = np.frombuffer(payload.palette, dtype=np.uint8).reshape(header.colors, channels)
    raw = metrics.raw_bytes(header.width, header.height, channels)
    document: dict[str, object] = {
        "file": str(path),
        "file_bytes": len(data),
        "version": data[len(MAGIC)],
        "width": header.width,
        "height": header.height,
        **header.info(),
        "palette_entries_used": used,
        "header_bytes": header.data_offset - header.palette_length,
        "palette_bytes": header.palette_length,
        "data_bytes": header.data_length,
        "index_bytes": header.raw_length,
        "trailer_bytes": TRAILER_SIZE,
        "raw_bytes": raw,
        "compression_ratio": round(metrics.compression_ratio(raw, len(data)), 4),
        "bits_per_pixel": round(metrics.bits_per_pixel(len(data), header.width, header.height), 4),
        "palette": [_hex(entry) for entry in entries],
    }
    if args.json:
        print(json.dumps(document, indent=2))
        return EXIT_OK
    shown = min(len(entries), 8)
    more = f" ... ({header.colors - shown} more)" if header.colors > shown else ""
    rows = [
        ("file", f"{path} ({len(data):,} bytes)"),
        ("format", f"KMZ version {document['version']}"),
        ("size", f"{header.width} x {header.height} pixels"),
        ("palette", f"K = {header.colors} {header.palette_kind.label} entries, {used} used"),
        ("bits/index", f"{header.bits_per_index}"),
        ("compression", header.compression.label),
        ("row filter", header.filter.label),
        ("method", f"{header.method.label} (colour space {header.colorspace.label})"),
        ("dithered", "yes" if header.dithered else "no"),
        (
            "layout",
            f"header {document['header_bytes']} + palette {header.palette_length:,} + "
            f"data {header.data_length:,} + trailer {TRAILER_SIZE} bytes",
        ),
        ("index rows", f"{header.raw_length:,} bytes before compression"),
        ("raw size", f"{raw:,} bytes ({header.width} x {header.height} x {channels})"),
        ("ratio", f"{relative(raw / len(data), 2)} than raw"),
        ("bits/pixel", fmt_float(8 * len(data) / (header.width * header.height), 3)),
        ("entries", " ".join(_hex(entry) for entry in entries[:shown]) + more),
    ]
    if sys.stdout.isatty():
        rows.append(("swatch", _swatch(entries)))
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name.ljust(width)}  {value}")
    return EXIT_OK
