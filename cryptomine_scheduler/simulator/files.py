"""Reading the simulator's input files, with errors of one line.

The trace and fleet readers get their bytes and text here, so that a
missing path, a directory, an unreadable file, a truncated or corrupt
gzip and bytes that are not UTF-8 all raise :class:`InputError` (or the
reader's subclass of it) naming the file, and the line where one
applies, instead of an ``OSError`` or ``EOFError`` with a traceback.
"""

import gzip
import os
import zlib

GZIP_MAGIC = b'\x1f\x8b'


class InputError(ValueError):
    """An input file cannot be used; the message names it."""


def _open_error(path: str, exc: OSError) -> str:
    """What is wrong with ``path``, which ``open`` refused with ``exc``."""
    if isinstance(exc, FileNotFoundError):
        return f'{path}: no such file'
    if isinstance(exc, IsADirectoryError):
        return f'{path}: is a directory, expected a file'
    if isinstance(exc, PermissionError):
        return f'{path}: permission denied'
    return f'{path}: cannot read: {exc.strerror or exc}'


def _gunzip(path: str, data: bytes, error: type[InputError]) -> bytes:
    try:
        return gzip.decompress(data)
    except EOFError:
        raise error(f'{path}: truncated gzip file (it ends before its '
                    'end-of-stream marker)') from None
    except (OSError, zlib.error) as exc:
        raise error(f'{path}: corrupt gzip file ({exc})') from None


def read_bytes(path: str, error: type[InputError] = InputError) -> bytes:
    """The content of ``path``, gunzipped if it is gzip (by its magic
    number, whatever its name)."""
    try:
        with open(path, 'rb') as f:
            data = f.read()
    except OSError as exc:
        raise error(_open_error(path, exc)) from None
    if data.startswith(GZIP_MAGIC):
        return _gunzip(path, data, error)
    return data


def decode(path: str, data: bytes,
           error: type[InputError] = InputError) -> str:
    """``data`` of ``path`` as UTF-8 text (a byte order mark dropped)."""
    try:
        return data.decode('utf-8-sig')
    except UnicodeDecodeError as exc:
        # exc.object is data without its byte order mark.
        line = exc.object.count(b'\n', 0, exc.start) + 1
        raise error(f'{path}:{line}: not UTF-8 text (byte '
                    f'0x{exc.object[exc.start]:02x})') from None


def read_text(path: str, error: type[InputError] = InputError) -> str:
    """The text of ``path``: :func:`read_bytes`, then :func:`decode`."""
    return decode(path, read_bytes(path, error), error)


def listing(path: str, error: type[InputError] = InputError) -> list[str]:
    """The files of directory ``path`` (not hidden), sorted by name;
    ``[path]`` if it is a file."""
    if os.path.isfile(path):
        return [path]
    if not os.path.isdir(path):
        what = ('not a file or directory' if os.path.exists(path)
                else 'no such file or directory')
        raise error(f'{path}: {what}')
    try:
        names = sorted(n for n in os.listdir(path) if not n.startswith('.'))
    except OSError as exc:
        raise error(_open_error(path, exc)) from None
    return [os.path.join(path, n) for n in names
            if os.path.isfile(os.path.join(path, n))]
