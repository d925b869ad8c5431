"""Symmetric positive-definite banded systems solved on two cores: a two-way ("burn at both ends") Cholesky.

The lift's normal matrix (`reconstruction.lift`) is banded in time, and its banded Cholesky is half of the lift's
time. LAPACK's banded factorisation runs on one core: multi-threaded BLAS only slows such narrow kernels. Here
the unknowns are split into a top part, a separator of `u` unknowns (the half-bandwidth) and a bottom part.
Top and bottom do not couple, so they are factorised at the same time, each by LAPACK in a thread of its own:
the top from its first unknown down (A11 = U1^T U1), the bottom from its last unknown up (its order reversed:
J A33 J = L3 L3^T). Only their corners next to the separator then matter: the separator's Schur complement is

    S = A22 - W1^T W1 - W3^T W3,    W1 = U1cc^-T E1,    W3 = L3cc^-1 J E3^T

(E1, E3 the separator's couplings, U1cc / L3cc the factors' last u x u blocks), a small dense Cholesky. The
solve is the same split: each part's forward substitution, the separator's unknowns, each part's back
substitution. It is the same elimination as one banded Cholesky in another order, so the result equals the
one-core factorisation to rounding, and the matrix is positive definite exactly when all three factorisations
succeed. When the other core is busy (the pool's thread has not started the bottom part by the time the top
one is done), the bottom part runs after the top one in the calling thread: the same calls, so the result does
not depend on the machine's load, and a busy machine loses only the split's small overhead (~10 % of a
solve with the other core fully taken).

LAPACK is called through ctypes on SciPy's own LAPACK (the function pointers `scipy.linalg.cython_lapack`
exports), so the calls release the GIL. Small systems, or a SciPy without those pointers, take one core
(`scipy.linalg.cholesky_banded`).
"""

from __future__ import annotations

import ctypes
import functools
import os
from concurrent.futures import Executor

import numpy as np

#: Cores one solve may use: None = every CPU this process may run on; `share_cores` sets it in each of several
#: analyses running side by side (a pool of N workers on C cores: C // N each), where no core is free to split.
_CORES: int | None = None

#: Below this many unknowns per half-bandwidth the split does not pay for its threads.
MIN_BANDS_TO_SPLIT = 8

#: The bottom part's share of the unknowns (it is factorised faster than the top: see `solve_banded_spd`).
BOTTOM_SHARE = 0.53

_P_INT, _P_DBL = ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ctypes.c_double)


class NotPositiveDefinite(ValueError):
    """The banded matrix is not positive definite."""


@functools.cache
def _lapack() -> dict | None:
    """ctypes functions for LAPACK's dpbtrf and dtbtrs from SciPy's exported function pointers (None if absent)."""
    try:
        from scipy.linalg import cython_lapack

        capi = cython_lapack.__pyx_capi__
        # private prototypes of the C API calls (setting argtypes on ctypes.pythonapi's would change them for
        # every other user in the process)
        get_name = ctypes.PYFUNCTYPE(ctypes.c_char_p, ctypes.py_object)(("PyCapsule_GetName", ctypes.pythonapi))
        get_pointer = ctypes.PYFUNCTYPE(ctypes.c_void_p, ctypes.py_object, ctypes.c_char_p)(
            ("PyCapsule_GetPointer", ctypes.pythonapi))

        def function(name: str, *args):
            capsule = capi[name]
            pointer = get_pointer(capsule, get_name(capsule))
            return ctypes.CFUNCTYPE(None, *args)(pointer)     # a plain C call: ctypes releases the GIL

        c = ctypes.c_char_p
        return {
            # dpbtrf(uplo, n, kd, ab, ldab, info)
            "pbtrf": function("dpbtrf", c, _P_INT, _P_INT, _P_DBL, _P_INT, _P_INT),
            # dtbtrs(uplo, trans, diag, n, kd, nrhs, ab, ldab, b, ldb, info)
            "tbtrs": function("dtbtrs", c, c, c, _P_INT, _P_INT, _P_INT, _P_DBL, _P_INT, _P_DBL, _P_INT, _P_INT),
        }
    except (ImportError, KeyError, AttributeError, ValueError, TypeError):
        return None


def _int(v: int):
    return ctypes.byref(ctypes.c_int(int(v)))


def _pointer(a: np.ndarray):
    return a.ctypes.data_as(_P_DBL)


def _factor(ab: np.ndarray, uplo: bytes) -> None:
    """LAPACK dpbtrf in place on banded storage ab (kd + 1, n), Fortran order."""
    kd, n = ab.shape[0] - 1, ab.shape[1]
    info = ctypes.c_int(0)
    _lapack()["pbtrf"](uplo, _int(n), _int(kd), _pointer(ab), _int(kd + 1), ctypes.byref(info))
    if info.value != 0:
        raise NotPositiveDefinite(f"dpbtrf info {info.value}")


def _triangular(ab: np.ndarray, uplo: bytes, trans: bytes, b: np.ndarray) -> None:
    """LAPACK dtbtrs in place on b (n, k), Fortran order: op(T) x = b for the banded triangular factor in ab."""
    kd, n = ab.shape[0] - 1, ab.shape[1]
    info = ctypes.c_int(0)
    _lapack()["tbtrs"](uplo, trans, b"N", _int(n), _int(kd), _int(b.shape[1]), _pointer(ab), _int(kd + 1),
                       _pointer(b), _int(n), ctypes.byref(info))
    if info.value != 0:
        raise NotPositiveDefinite(f"dtbtrs info {info.value}")


def _couplings(ab: np.ndarray, first: int, u: int) -> np.ndarray:
    """The dense (u, u) block A[first - u + a, first + c] of upper banded storage ab: the couplings of the u
    unknowns before `first` with the u from `first` on (zero above the diagonal a < c: outside the band)."""
    a, c = np.indices((u, u))
    out = ab[np.clip(a - c, 0, u), first + c]
    return np.where(a >= c, out, 0.0)


def share_cores(cores: int | None) -> None:
    """This process runs beside others that keep the machine's other cores busy: its solves may use `cores`
    (None: every CPU it may run on)."""
    global _CORES
    _CORES = None if cores is None else max(1, int(cores))


def available_cores() -> int:
    """The cores a solve may use (see `share_cores`)."""
    if _CORES is not None:
        return _CORES
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _side_by_side(pool: Executor, first, second) -> tuple:
    """(first(), second()): second in the pool while first runs here, or here after first when the pool has
    not started it by then (its core is busy with other work: waiting for it would only add a thread switch).
    Either way the same calls on the same arrays, so the same result to the last bit."""
    later = pool.submit(second)
    try:
        a = first()
    except BaseException:
        if not later.cancel():
            later.exception()                         # it works on the caller's arrays: let it finish first
        raise
    return a, (second() if later.cancel() else later.result())


def _scratch(work: dict | None, key: str, shape: tuple[int, int]) -> np.ndarray:
    """An uninitialised (shape) float64 array in Fortran order: `work[key]` again when it has that shape."""
    if work is None:
        return np.empty(shape, order="F")
    buf = work.get(key)
    if buf is None or buf.shape != shape:
        buf = work[key] = np.empty(shape, order="F")
    return buf


def solve_banded_spd(ab: np.ndarray, b: np.ndarray, pool: Executor | None = None,
                     diagonal: np.ndarray | None = None, work: dict | None = None) -> np.ndarray:
    """x solving A x = b for the symmetric positive-definite A in LAPACK upper banded storage ab (u + 1, n),
    Fortran order, with `diagonal` (n,) in place of ab's main diagonal when given; b (n,) or (n, k). ab and b
    are left as they are (so a damped system can be solved again with another diagonal). With `pool` (an
    executor with a free thread) the two-way factorisation uses two cores; without it, or for a small system,
    one banded Cholesky. `work`: a dict the caller keeps for the factors' arrays, which the next solve of the
    same size then fills again: new arrays of this size each get a memory mapping of their own (see
    `camera_worker.return_freed_memory`), whose pages fault in and are zeroed on every solve (the hand-held
    clip's two halves are ~6 MB each, the 1080p minute's ~45 MB, ~50 solves per analysis). Raises
    `NotPositiveDefinite`."""
    u, n = ab.shape[0] - 1, ab.shape[1]
    b2d = np.asarray(b, np.float64).reshape(n, -1)
    diag = ab[u] if diagonal is None else np.asarray(diagonal, np.float64)
    if pool is None or n < MIN_BANDS_TO_SPLIT * u or u == 0 or _lapack() is None or not ab.flags.f_contiguous:
        from scipy.linalg import LinAlgError, cho_solve_banded, cholesky_banded

        whole = _scratch(work, "whole", ab.shape)
        whole[...] = ab
        whole[u] = diag
        try:
            fac = cholesky_banded(whole, overwrite_ab=True, lower=False, check_finite=False)
        except LinAlgError as e:
            raise NotPositiveDefinite(str(e)) from None
        return cho_solve_banded((fac, False), b2d, check_finite=False).reshape(np.shape(b))

    # top [0, p), separator [p, p + u), bottom [p + u, n): LAPACK's lower factorisation (the bottom's) is
    # ~15 % faster per unknown than the upper one, more than its reversal copy costs
    n3 = int(BOTTOM_SHARE * (n - u))
    p = n - u - n3
    sep = slice(p, p + u)
    E1, E3 = _couplings(ab, p, u), _couplings(ab, p + u, u)          # A[top's last u, sep], A[sep, bottom's first u]

    from scipy.linalg import cho_factor, cho_solve, solve_triangular

    i, j = np.triu_indices(u)
    A22 = np.zeros((u, u))
    A22[i, j] = ab[u + i - j, p + j]
    A22[np.diag_indices(u)] = diag[sep]

    def bottom_forward() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        # J A33 J in lower banded storage is A33's upper banded storage with both axes reversed
        low = _scratch(work, "bottom", (u + 1, n3))
        low.reshape(-1, order="F")[:] = ab[:, p + u:].reshape(-1, order="F")[::-1]
        low[0] = diag[p + u:][::-1]
        _factor(low, b"L")
        z3 = np.array(b2d[p + u:][::-1], order="F")
        _triangular(low, b"L", b"N", z3)
        L3cc = np.zeros((u, u))
        L3cc[j, i] = low[j - i, n3 - u + i]                            # L[n3 - u + j, n3 - u + i], j >= i
        return low, z3, solve_triangular(L3cc, E3.T[::-1], lower=True, check_finite=False)

    def top_forward() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        top = _scratch(work, "top", (u + 1, p))
        top[...] = ab[:, :p]
        top[u] = diag[:p]
        _factor(top, b"U")
        z1 = np.array(b2d[:p], order="F")                             # a copy: b is the caller's
        _triangular(top, b"U", b"T", z1)
        U1cc = np.zeros((u, u))
        U1cc[i, j] = top[u + i - j, p - u + j]
        return top, z1, solve_triangular(U1cc, E1, trans="T", lower=False, check_finite=False)

    (top, z1, W1), (low, z3, W3) = _side_by_side(pool, top_forward, bottom_forward)
    try:
        S = cho_factor(A22 + A22.T - np.diag(np.diag(A22)) - W1.T @ W1 - W3.T @ W3, check_finite=False)
    except np.linalg.LinAlgError as e:
        raise NotPositiveDefinite(str(e)) from None
    x2 = cho_solve(S, b2d[sep] - W1.T @ z1[-u:] - W3.T @ z3[-u:], check_finite=False)
    z1[-u:] -= W1 @ x2
    z3[-u:] -= W3 @ x2
    _side_by_side(pool, lambda: _triangular(top, b"U", b"N", z1), lambda: _triangular(low, b"L", b"T", z3))
    return np.concatenate([z1, x2, z3[::-1]]).reshape(np.shape(b))
