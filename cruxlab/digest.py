"""Identities from parameters: one canonical JSON (sorted keys; numpy values and anything else as text) and
one hash, for ingest keys, stage-cache keys, rule-model versions and cached demo stores."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def canonical_json(params: Any) -> str:
    """`params` as JSON with sorted keys; values JSON cannot hold (paths, numpy numbers) become their text."""
    return json.dumps(params, sort_keys=True, default=str)


def params_digest(params: Any, length: int | None = None, algorithm: str = "sha256") -> str:
    """Hex digest of `canonical_json(params)`, cut to `length` characters (None: all of it). The same
    parameters give the same digest in every process and on every machine."""
    digest = hashlib.new(algorithm, canonical_json(params).encode()).hexdigest()
    return digest if length is None else digest[:length]


def ingest_key(source_sha256: str, params: dict | None = None) -> str:
    """Identity of one ingest: the source's content hash and the parameters that shape the result."""
    return params_digest({"sha256": source_sha256, "params": params or {}})
