"""Writing output files so that nothing is ever half-written, overwritten by accident, or an input.

:func:`atomic_write` hands out a file object whose bytes appear at the destination
only once they are complete and flushed to disk:

- On Linux the data goes to an anonymous file (``O_TMPFILE``) in the destination's
  folder, which is given its name with one ``link`` at the end. A process killed
  at any moment, even by SIGKILL, leaves either nothing or the complete file:
  there is no temporary name to leave behind.
- Elsewhere (or on file systems without ``O_TMPFILE``) the data goes to a hidden
  temporary file in the same folder, named ``.kmz-tmp-*``, renamed over the
  destination at the end (``os.replace``) and removed on any error, including
  KeyboardInterrupt. Only SIGKILL can leave one behind.

Without ``force`` an existing destination is never replaced, and the check is the
``link`` itself, so it also holds against a file that appears while we write.
Even with ``force`` a destination that is one of the inputs is refused.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

#: Prefix of the named temporary files of the fallback path (hidden on POSIX).
TEMP_PREFIX = ".kmz-tmp-"
TEMP_SUFFIX = ".tmp"

StrPath = str | os.PathLike[str]


class OutputExistsError(FileExistsError):
    """The destination exists and ``force`` was not given."""


class SameFileError(ValueError):
    """The destination is one of the inputs."""


def is_temp_name(name: str) -> bool:
    """Whether a file name is one of our temporary files (for folder walks to skip)."""
    return name.startswith(TEMP_PREFIX) and name.endswith(TEMP_SUFFIX)


def _same(first: Path, second: Path) -> bool:
    try:
        return os.path.samefile(first, second)
    except OSError:  # one of them does not exist: not the same file
        return False


def check_output(path: StrPath, *, inputs: Iterable[StrPath] = (), force: bool = False) -> None:
    """Refuse a destination that is an input, or that exists when ``force`` is false.

    Also refuses a destination whose folder does not exist (FileNotFoundError) or
    that is a folder (IsADirectoryError). Called again by :func:`atomic_write`;
    calling it first lets a program refuse before doing any work.
    """
    target = Path(path)
    for source in inputs:
        if _same(target, Path(source)):
            msg = f"{target}: output is the same file as input {source}"
            raise SameFileError(msg)
    folder = target.parent
    if not folder.is_dir():
        msg = f"{target}: folder {folder} does not exist"
        raise FileNotFoundError(msg)
    if target.is_dir():
        msg = f"{target}: is a folder"
        raise IsADirectoryError(msg)
    if not force and (target.exists() or target.is_symlink()):
        msg = f"{target}: exists (use --force to overwrite)"
        raise OutputExistsError(msg)


def _exists_error(target: Path) -> OutputExistsError:
    msg = f"{target}: exists (use --force to overwrite)"
    return OutputExistsError(msg)


#: Attempts at a fresh temporary name before giving up (as many as the tempfile module makes).
_NAME_ATTEMPTS = 100


def _temporary_name() -> str:
    return f"{TEMP_PREFIX}{secrets.token_hex(6)}{TEMP_SUFFIX}"


def _create_named(folder: Path) -> tuple[int, str]:
    """A new, empty, hidden temporary file in ``folder``: its descriptor and path.

    Created with mode 0o666 like any file ``open()`` makes, so the kernel applies the
    umask (and a folder's default ACL) itself: the output gets the permissions a
    normally created file gets, and the process umask is never read or changed (doing
    that is not thread-safe). ``tempfile.mkstemp`` would give 0o600.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    flags |= getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    for _ in range(_NAME_ATTEMPTS):
        path = os.path.join(folder, _temporary_name())
        try:
            return os.open(path, flags, 0o666), path
        except FileExistsError:
            continue
    msg = f"{folder}: no free temporary file name after {_NAME_ATTEMPTS} attempts"
    raise FileExistsError(errno.EEXIST, msg)


def _anonymous(folder: Path) -> int | None:
    """An unnamed file in ``folder`` (Linux O_TMPFILE), or None where unsupported."""
    flag = getattr(os, "O_TMPFILE", None)
    if flag is None or not os.path.isdir("/proc/self/fd"):
        return None
    try:
        # Read-write, so the data can still be copied out if linking it turns out impossible.
        return os.open(folder, flag | os.O_RDWR | getattr(os, "O_CLOEXEC", 0), 0o666)
    except OSError:  # file system without O_TMPFILE support (EOPNOTSUPP, EISDIR, ...)
        return None


class _CannotLink(Exception):
    """The anonymous file could not be given a name; the caller falls back to a named one."""


def _link_at(fd: int, folder: Path, name: str) -> None:
    """Give the anonymous file ``fd`` the name ``folder/name`` (fails if it exists)."""
    # A destination directory fd makes os.link call linkat(..., AT_SYMLINK_FOLLOW), which
    # resolves the /proc link to the open file; plain link() would try to link the symlink.
    directory = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.link(f"/proc/self/fd/{fd}", name, dst_dir_fd=directory, follow_symlinks=True)
    except FileExistsError:
        raise
    except OSError as exc:
        raise _CannotLink(str(exc)) from exc
    finally:
        os.close(directory)


def _publish_anonymous(fd: int, target: Path, force: bool) -> None:
    folder = target.parent
    if not force:
        try:
            _link_at(fd, folder, target.name)
        except FileExistsError:
            raise _exists_error(target) from None
        return
    # Replacing needs a name to rename from; it exists only between these two calls.
    while True:
        temporary = _temporary_name()
        try:
            _link_at(fd, folder, temporary)
        except FileExistsError:
            continue
        break
    try:
        os.replace(folder / temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(folder / temporary)
        raise


def _copy_out(fd: int, destination: BinaryIO) -> None:
    offset = 0
    while chunk := os.pread(fd, 1 << 20, offset):
        destination.write(chunk)
        offset += len(chunk)


def _publish_named(temporary: str, target: Path, force: bool) -> None:
    if force:
        os.replace(temporary, target)
        return
    try:
        os.link(temporary, target)  # fails if the target exists: no overwrite, no race
    except FileExistsError:
        raise _exists_error(target) from None
    except OSError:  # no hard links here (some network and FAT file systems)
        if target.exists():
            raise _exists_error(target) from None
        os.replace(temporary, target)
        return
    os.unlink(temporary)


def _sync_folder(folder: Path) -> None:
    """Make the new name durable too (POSIX); harmless to skip where unsupported."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_write(path: StrPath, *, inputs: Iterable[StrPath] = (), force: bool = False) -> Iterator[BinaryIO]:
    """Write ``path`` all at once: yields a binary file; the file appears on a clean exit.

    On any exception (KeyboardInterrupt included) nothing appears at ``path``, an
    existing file there is untouched and no temporary file is left.
    """
    target = Path(path)
    inputs = list(inputs)
    check_output(target, inputs=inputs, force=force)
    folder = target.parent
    fd = _anonymous(folder)
    if fd is not None:
        with os.fdopen(fd, "r+b") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
            check_output(target, inputs=inputs, force=True)  # an input may have appeared there
            try:
                _publish_anonymous(handle.fileno(), target, force)
            except _CannotLink:
                with _named(target, inputs, force) as copy:
                    _copy_out(handle.fileno(), copy)
        _sync_folder(folder)
        return
    with _named(target, inputs, force) as handle:
        yield handle


@contextlib.contextmanager
def _named(target: Path, inputs: list[StrPath], force: bool) -> Iterator[BinaryIO]:
    """The portable path: a hidden temporary file beside the target, renamed at the end."""
    folder = target.parent
    temporary: str | None = None
    try:
        fd, temporary = _create_named(folder)
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        check_output(target, inputs=inputs, force=True)
        _publish_named(temporary, target, force)
        temporary = None
    finally:
        if temporary is not None:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
    _sync_folder(folder)


def write_bytes(path: StrPath, data: bytes, *, inputs: Iterable[StrPath] = (), force: bool = False) -> None:
    """:func:`atomic_write` for data already in memory."""
    with atomic_write(path, inputs=inputs, force=force) as handle:
        handle.write(data)
