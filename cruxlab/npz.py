"""Reading .npz archives from outside (skeleton and VIEW files, stored model payloads) without trusting them.

`np.load` would decompress whatever an archive holds: a 2 MB zip of NaNs declaring 8 M frames took 9.3 GB. Here
every array's size is read from the zip directory and its .npy header first (a few hundred bytes each), the
total is held against a limit (`cruxlab.limits.max_npz_bytes`, env CRUXLAB_MAX_NPZ_MB) and a caller's own
check (e.g. the frame count), and only then are the wanted arrays loaded - never Python objects (no pickle).
"""

from __future__ import annotations

import io
import math
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cruxlab.errors import InputError
from cruxlab.limits import max_npz_bytes

NPY_MAGIC = b"\x93NUMPY"


@dataclass(frozen=True)
class Member:
    """An array of an archive as its headers declare it. nbytes: uncompressed data size in bytes."""

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    nbytes: int


def _header(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> Member:
    with zf.open(info) as fh:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
        else:
            shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
    name = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
    return Member(name, tuple(int(n) for n in shape), dtype, math.prod(shape) * dtype.itemsize)


def read_npz(source: str | Path | bytes, required: Iterable[str], what: str, *, optional: Iterable[str] = (),
             check: Callable[[dict[str, Member], Callable[[str], InputError]], None] | None = None,
             max_bytes: int | None = None, label: str | None = None) -> dict[str, np.ndarray]:
    """The `required` and (when present) `optional` arrays of an .npz file or payload; other members are
    never decompressed. Raises InputError naming the file (`label`, default the path) and the problem: not
    an archive, a bare .npy, a missing key, an object array, sizes above `max_bytes` (default the configured
    limit) or whatever `check(members, fail)` refuses before any data is read."""
    required, optional = tuple(required), tuple(optional)
    label = label or str(source if not isinstance(source, bytes) else "payload")

    def fail(problem: str) -> InputError:
        return InputError(f"{label}: {problem}")

    if isinstance(source, bytes):
        head, opener = source[:8], lambda: io.BytesIO(source)
    else:
        path = Path(source)
        if path.is_dir():
            raise fail(f"is a folder, not {what}")
        if not path.is_file():
            raise fail("no such file")
        with open(path, "rb") as fh:
            head = fh.read(8)
        opener = lambda: open(path, "rb")  # noqa: E731
    if head.startswith(NPY_MAGIC):
        raise fail("is a single .npy array, not an .npz archive; save the arrays together with np.savez(path, "
                   f"{', '.join(k + '=...' for k in required)})")
    limit = max_npz_bytes() if max_bytes is None else max_bytes
    try:
        with opener() as raw, zipfile.ZipFile(raw) as zf:
            members = {}
            for info in zf.infolist():
                if info.filename.endswith(".npy") and info.filename[:-4] in required + optional:
                    m = _header(zf, info)
                    members[m.name] = m
            missing = [k for k in required if k not in members]
            if missing:
                have = sorted(n[:-4] if n.endswith(".npy") else n for n in zf.namelist())
                raise fail(f"missing key(s) {missing}; {what} needs {list(required)} (it has {have})")
            objects = [m.name for m in members.values() if m.dtype.hasobject]
            if objects:
                raise fail(f"array(s) {objects} hold Python objects, which cruxlab never loads (they could run "
                           "code); store numbers and strings only")
            if check is not None:
                check(members, fail)
            total = sum(m.nbytes for m in members.values())
            if total > limit:
                sizes = ", ".join(f"{m.name} {m.shape}" for m in members.values() if m.nbytes > limit // 100)
                raise fail(f"its arrays declare {total / 2**20:,.4g} MB uncompressed ({sizes}), above the limit of "
                           f"{limit / 2**20:,.4g} MB; split the recording into shorter files or raise "
                           "CRUXLAB_MAX_NPZ_MB")
            out = {}
            for name in members:
                with zf.open(name + ".npy") as fh:
                    out[name] = np.lib.format.read_array(fh, allow_pickle=False)
            return out
    except InputError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError, KeyError,
            NotImplementedError) as exc:
        raise fail(f"is not a readable .npz archive ({exc.__class__.__name__}: {exc}); write it with numpy.savez"
                   ) from None
