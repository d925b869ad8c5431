"""The two-way banded Cholesky (reconstruction.banded) against a dense solve."""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from reconstruction import banded
from reconstruction.banded import NotPositiveDefinite, solve_banded_spd


class Spy(ThreadPoolExecutor):
    def __init__(self):
        super().__init__(1)
        self.calls = 0

    def submit(self, fn, *args, **kwargs):
        self.calls += 1
        return super().submit(fn, *args, **kwargs)


def band_matrix(n: int, u: int, seed: int, shift: float = 0.5) -> np.ndarray:
    """A dense symmetric matrix with half-bandwidth u, positive definite unless `shift` is very negative."""
    rng = np.random.default_rng(seed)
    B = rng.normal(size=(n, n))
    A = B @ B.T / n
    i, j = np.indices((n, n))
    A[np.abs(i - j) > u] = 0.0
    w = np.linalg.eigvalsh(A)
    return A + (shift - w.min()) * np.eye(n)


def upper_band(A: np.ndarray, u: int) -> np.ndarray:
    n = len(A)
    ab = np.zeros((u + 1, n), order="F")
    for k in range(u + 1):
        ab[u - k, k:] = np.diagonal(A, k)
    return ab


@pytest.mark.parametrize("n,u,k", [(400, 12, 2), (401, 12, 1), (250, 7, 3), (96, 12, 2)])
def test_two_way_solve_equals_a_dense_solve(n, u, k):
    A = band_matrix(n, u, seed=n + u)
    b = np.random.default_rng(1).normal(size=(n, k))
    want = np.linalg.solve(A, b)
    ab = upper_band(A, u)
    with Spy() as pool:
        got = solve_banded_spd(ab, b, pool)
    assert np.allclose(got, want, rtol=1e-9, atol=1e-9)
    assert (ab == upper_band(A, u)).all()             # left as it was: it can be solved again
    # the split runs the bottom half in the pool (factor, then back substitution); small systems do not split
    split = n >= banded.MIN_BANDS_TO_SPLIT * u
    assert pool.calls == (2 if split else 0)
    assert got.shape == b.shape
    # the same as the one-core factorisation
    assert np.allclose(solve_banded_spd(upper_band(A, u), b), want, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("split", [True, False])
def test_a_given_diagonal_replaces_the_bands(split):
    """The damped system A + D of a Levenberg-Marquardt step, solved twice from one assembled band."""
    n, u = 400, 12
    A = band_matrix(n, u, seed=11)
    ab = upper_band(A, u)
    b = np.random.default_rng(2).normal(size=(n, 2))
    with ThreadPoolExecutor(1) as pool:
        for lam in (1e-3, 10.0):
            diagonal = np.diag(A) * (1 + lam)
            x = solve_banded_spd(ab, b, pool if split else None, diagonal=diagonal)
            assert np.allclose(x, np.linalg.solve(A + lam * np.diag(np.diag(A)), b), rtol=1e-9, atol=1e-9)
    assert (ab == upper_band(A, u)).all()


@pytest.mark.parametrize("split", [True, False])
def test_the_callers_scratch_space_is_filled_again_by_the_next_solve(split):
    """Issue 12: the lift's steps keep the factors' arrays (`work`), which each solve fills anew (no fresh
    memory, so no page faults, per step): every system gets its own solution, also after a bigger one."""
    work: dict = {}
    with ThreadPoolExecutor(1) as pool:
        for n, seed in ((400, 1), (400, 2), (500, 3), (400, 4)):
            A = band_matrix(n, 12, seed=seed)
            b = np.random.default_rng(seed).normal(size=(n, 2))
            before = {k: id(v) for k, v in work.items()}
            x = solve_banded_spd(upper_band(A, 12), b, pool if split else None, work=work)
            assert np.allclose(x, np.linalg.solve(A, b), rtol=1e-9, atol=1e-9)
            assert work and set(work) == ({"top", "bottom"} if split else {"whole"})
            if seed == 2:                                # the same size: the same arrays, filled again
                assert {k: id(v) for k, v in work.items()} == before


def test_a_vector_right_hand_side_keeps_its_shape():
    A = band_matrix(300, 10, seed=3)
    b = np.arange(300.0)
    with ThreadPoolExecutor(1) as pool:
        x = solve_banded_spd(upper_band(A, 10), b, pool)
    assert x.shape == (300,) and np.allclose(A @ x, b)
    assert (b == np.arange(300.0)).all()              # the right-hand side is the caller's: left as it was


@pytest.mark.parametrize("where", ["top", "separator", "bottom"])
def test_an_indefinite_matrix_is_reported_wherever_it_fails(where):
    """Positive definite exactly when the top, the bottom and the separator's Schur complement all are: a
    negative direction in any of the three parts is reported, not solved."""
    n, u = 400, 10
    A = band_matrix(n, u, seed=5)
    n3 = int(banded.BOTTOM_SHARE * (n - u))
    p = n - u - n3
    i = {"top": p // 2, "separator": p + u // 2, "bottom": p + u + n3 // 2}[where]
    A[i, i] = -1.0
    with ThreadPoolExecutor(1) as pool, pytest.raises(NotPositiveDefinite):
        solve_banded_spd(upper_band(A, u), np.ones(n), pool)
    with pytest.raises(NotPositiveDefinite):
        solve_banded_spd(upper_band(A, u), np.ones(n))


def test_without_lapack_pointers_one_core_solves(monkeypatch):
    A = band_matrix(400, 12, seed=7)
    b = np.ones(400)
    monkeypatch.setattr(banded, "_lapack", lambda: None)
    with Spy() as pool:
        x = solve_banded_spd(upper_band(A, 12), b, pool)
    assert pool.calls == 0 and np.allclose(A @ x, b)
