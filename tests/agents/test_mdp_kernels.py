"""TabularMDP.from_arrays' compiled CSR assembly against the NumPy masks it replaced, bit for
bit: same entries in the same order, same index types, same matrix after summing duplicates."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from qmml.agents.mdp import TabularMDP
from qmml.agents.mdp_kernels import count_outcomes, fill_outcomes
from qmml.envs.gridworld.env import GridWorldEnv


def reference_csr(ns, pr, te, ok) -> sp.csr_matrix:
    """The previous from_arrays: masked gathers through action-major views."""
    n, a, _ = ns.shape
    ns_, pr_, te_ = np.moveaxis(ns, 1, 0), np.moveaxis(pr, 1, 0), np.moveaxis(te, 1, 0)
    keep = (pr_ > 0) & ~te_ & np.moveaxis(ok, 1, 0)[..., None]
    indptr = np.concatenate([[0], np.cumsum(keep.reshape(a * n, -1).sum(axis=1))])
    idx = np.int32 if n < 2**31 - 1 and indptr[-1] < 2**31 - 1 else np.int64
    mat = sp.csr_matrix((pr_[keep], ns_[keep].astype(idx), indptr.astype(idx)), shape=(a * n, n))
    mat.sum_duplicates()
    mat.sort_indices()
    return mat


def assert_same_csr(got: sp.csr_matrix, want: sp.csr_matrix) -> None:
    assert got.shape == want.shape
    for f in ("indptr", "indices", "data"):
        x, y = getattr(got, f), getattr(want, f)
        assert x.dtype == y.dtype and x.tobytes() == y.tobytes(), f


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 30),
    a=st.integers(1, 5),
    k=st.integers(1, 5),
    ns_dtype=st.sampled_from([np.int64, np.int32]),
)
def test_assembly_matches_the_numpy_masks(seed: int, n: int, a: int, k: int, ns_dtype) -> None:
    rng = np.random.default_rng(seed)
    ns = rng.integers(0, n, (n, a, k)).astype(ns_dtype)  # repeats: duplicates to sum
    pr = rng.random((n, a, k)) * (rng.random((n, a, k)) < 0.7)
    pr[..., 0] += 1e-3
    pr /= pr.sum(axis=2, keepdims=True)
    te = rng.random((n, a, k)) < 0.3
    ok = rng.random((n, a)) < 0.8
    rw = rng.normal(size=(n, a, k))
    mdp = TabularMDP.from_arrays(ns, pr, rw, te, ok)
    assert_same_csr(mdp.transitions, reference_csr(ns, pr, te, ok))
    # the kernels alone: entries in mask order before summing duplicates
    indptr = count_outcomes(pr, te, ok)
    indices, data = np.empty(indptr[-1], dtype=np.int64), np.empty(indptr[-1])
    fill_outcomes(ns.astype(np.int64), pr, te, ok, indptr, indices, data)
    keep = np.moveaxis((pr > 0) & ~te & ok[..., None], 1, 0)
    np.testing.assert_array_equal(indices, np.moveaxis(ns, 1, 0)[keep])
    assert data.tobytes() == np.moveaxis(pr, 1, 0)[keep].tobytes()


@pytest.mark.parametrize("grid", ["5x5", "cliff", "windy", "maze"])
def test_gridworld_matrices_match_the_numpy_masks(grid: str) -> None:
    env = GridWorldEnv(grid, slip=0.2) if grid != "windy" else GridWorldEnv(grid, wind_noise=True)
    m = env.unwrapped.model()
    mdp = TabularMDP.from_env(env)
    ok = np.ones(m.prob.shape[:2], dtype=bool)
    assert_same_csr(mdp.transitions, reference_csr(m.next_state, m.prob, m.terminated, ok))
