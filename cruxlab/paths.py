"""File names derived from data (attempt, climber, problem names): the one place that makes them safe.

An attempt's name comes from a file stem, a `--name`, a video upload or a shared database, so it may hold
`../../x`, an absolute path, a NUL, 300 characters or a Windows device name. Every path built from data goes
through `safe_filename` / `data_path`, which keep it inside the folder it is meant for:

    out = data_path(folder, attempt_name, ".npz")     # folder / "<safe name>.npz", never outside folder

Names that are already safe stay as they are ("janja-attempt-1" -> "janja-attempt-1.npz"); a name that had to
change gets the first 8 hex digits of its SHA-1 appended, so two names that differ only in unsafe characters
("a/b", "a:b") or after the cut never share a file.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from pathlib import Path

from cruxlab.errors import InputError

#: Longest file-name stem in UTF-8 bytes (ext4, APFS and NTFS allow 255 for the whole name).
MAX_STEM_BYTES = 120
_WINDOWS_DEVICES = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(10)), *(f"LPT{i}" for i in range(10))}


def _cut_utf8(text: str, max_bytes: int) -> str:
    return text.encode("utf-8")[:max_bytes].decode("utf-8", errors="ignore")


def safe_filename(name: object, suffix: str = "", *, max_bytes: int = MAX_STEM_BYTES, ascii_only: bool = False,
                  lower: bool = False, tag: bool = True, fallback: str = "attempt") -> str:
    """A single path component for `name` plus `suffix` (e.g. ".npz", "-moves.png").

    Keeps letters and digits of any script (only ASCII ones with `ascii_only`), '.', '_' and '-'; every other
    run of characters becomes '-'. Leading dots and dashes go (no hidden files, no "..", no option-like
    names), as do trailing dots (Windows). The stem is at most `max_bytes` UTF-8 bytes; a changed name ends
    in '-' + 8 hex digits of its SHA-1 (unless `tag=False`, for callers whose names are unique anyway)."""
    original = "" if name is None else str(name)
    text = unicodedata.normalize("NFC", original)
    allowed = r"[^A-Za-z0-9._-]+" if ascii_only else r"[^\w.-]+"
    stem = re.sub(allowed, "-", text, flags=0 if ascii_only else re.UNICODE)
    stem = re.sub(r"-{2,}", "-", stem).lstrip(".-").rstrip(".- ")
    if lower:
        stem = stem.lower()
    if stem.split(".")[0].upper() in _WINDOWS_DEVICES:
        stem = "_" + stem
    stem = stem or fallback
    if not tag:
        return _cut_utf8(stem, max_bytes).rstrip(".- ") + suffix
    if stem != original or len(stem.encode("utf-8")) > max_bytes:
        digest = hashlib.sha1(original.encode("utf-8", errors="surrogatepass")).hexdigest()[:8]
        stem = _cut_utf8(stem, max_bytes - 9).rstrip(".- ") + "-" + digest
    return stem + suffix


def data_path(folder: str | Path, name: object, suffix: str = "", **kwargs) -> Path:
    """`folder / safe_filename(name, suffix)`, checked to lie inside `folder` (InputError otherwise)."""
    folder = Path(folder)
    path = folder / safe_filename(name, suffix, **kwargs)
    if path.resolve().parent != folder.resolve():  # cannot happen with safe_filename; kept as the guarantee
        raise InputError(f"refusing to write {path}: the name {name!r} leads outside {folder}")
    return path
