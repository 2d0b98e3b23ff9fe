"""Top-n ranking helpers: the seen-item mask read from the CSR arrays equals scipy's slicing."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from rectune.models._ranking import _masked_cells


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**16), st.lists(st.integers(-1, 29), max_size=40))
def test_masked_cells_equal_scipy_row_slicing(seed: int, block: list[int]) -> None:
    masked = sp.random(30, 17, density=0.2, format="csr", random_state=seed)
    rows = np.asarray(block, dtype=np.int64)
    hit, cols = _masked_cells(masked, rows)
    known = np.flatnonzero(rows >= 0)
    sub = masked[rows[known]]
    assert hit.tolist() == np.repeat(known, np.diff(sub.indptr)).tolist()
    assert cols.tolist() == sub.indices.tolist()


def test_a_row_past_the_matrix_is_an_error() -> None:
    with pytest.raises(IndexError):
        _masked_cells(sp.csr_matrix((3, 4)), np.array([0, 3]))
