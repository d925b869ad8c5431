"""Hostile inputs for the hardening tests and the fault run (benchmarks/fault_run.py): zip bombs, payloads that
would run code, and broken variants of a good skeleton file. Nothing here is used by cruxlab itself."""

from __future__ import annotations

import io
import pickle
import struct
import zlib
from pathlib import Path

import numpy as np

_CHUNK = 64 << 20


def _npy_header(shape: tuple[int, ...], dtype: str) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": dtype, "fortran_order": False, "shape": shape})
    return buf.getvalue()


def _deflate_zeros(n: int) -> bytes:
    """Raw deflate data of n zero bytes, built from one compressed 64 MB block repeated: a full flush
    byte-aligns the block and resets the dictionary, so copies of it concatenate into a valid stream."""
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = comp.compress(bytes(_CHUNK)) + comp.flush(zlib.Z_FULL_FLUSH)
    full, rest = divmod(n, _CHUNK)
    tail = zlib.compressobj(9, zlib.DEFLATED, -15)
    return block * full + tail.compress(bytes(rest)) + tail.flush()


def _crc_after(prefix: bytes, n_zeros: int) -> int:
    """crc32 of `prefix` followed by n zero bytes (one pass over them, no compression)."""
    crc, zero = zlib.crc32(prefix), bytes(_CHUNK)
    full, rest = divmod(n_zeros, _CHUNK)
    for _ in range(full):
        crc = zlib.crc32(zero, crc)
    return zlib.crc32(bytes(rest), crc)


def _zip(path: Path, members: list[tuple[str, bytes, int, int]]) -> Path:
    """Write a zip of (name, raw deflate data, uncompressed size, crc32) members by hand (sizes < 4 GiB)."""
    out, central = bytearray(), bytearray()
    for name, data, size, crc in members:
        nm = name.encode()
        offset = len(out)
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0x21, crc, len(data), size, len(nm), 0) + nm
        out += data
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0x21, crc, len(data), size,
                               len(nm), 0, 0, 0, 0, 0, offset) + nm
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(central), len(out), 0)
    path.write_bytes(bytes(out + central + end))
    return path


def _member(name: str, raw: bytes) -> tuple[str, bytes, int, int]:
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    return name, comp.compress(raw) + comp.flush(), len(raw), zlib.crc32(raw)


def zip_bomb(path: str | Path, frames: int, joints: int = 17) -> Path:
    """A valid skeleton .npz of `frames` all-zero frames that is tiny on disk (8 M frames: 1.6 GB of keypoints
    in about 2 MB)."""
    from cruxlab.joints import JOINT_NAMES

    header = _npy_header((frames, joints, 3), "<f4")
    n = frames * joints * 3 * 4
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = comp.compress(header) + comp.flush(zlib.Z_FULL_FLUSH)   # byte-aligned, so the zeros can follow
    keypoints = ("keypoints.npy", head + _deflate_zeros(n), len(header) + n, _crc_after(header, n))
    names = io.BytesIO()
    np.save(names, np.array(JOINT_NAMES[:joints]))
    fps = io.BytesIO()
    np.save(fps, np.float64(30.0))
    return _zip(Path(path), [keypoints, _member("joint_names.npy", names.getvalue()),
                             _member("fps.npy", fps.getvalue())])


class _Plant:
    """Unpickling this creates `path` (what a planted payload in a shared database could do instead)."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return (Path.touch, (Path(self.path),))


def code_running_pickle(path: str | Path) -> bytes:
    """A pickle that creates the file `path` when loaded: the stand-in for a malicious model payload."""
    return pickle.dumps(_Plant(str(path)))
