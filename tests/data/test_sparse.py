"""CSR building and compaction (numpy / scipy) and the kernels a fresh fit loads."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np

from rectune.data.sparse import compact, csr_from_pairs


def _reference_csr(rows, cols, vals, n_rows):
    """A stable counting sort written out in Python (the old compiled kernel's loop)."""
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    for r in rows:
        indptr[r + 1] += 1
    indptr = np.cumsum(indptr)
    fill = indptr[:-1].copy()
    indices = np.empty(len(rows), dtype=np.int32)
    data = np.empty(len(rows), dtype=np.float64)
    for k, r in enumerate(rows):
        indices[fill[r]], data[fill[r]] = cols[k], vals[k]
        fill[r] += 1
    return indptr, indices, data


def test_csr_from_pairs_is_a_stable_counting_sort_keeping_duplicates():
    rng = np.random.default_rng(3)
    rows = rng.integers(0, 7, 300).astype(np.int32)  # rows 7..9 stay empty
    cols = rng.integers(0, 5, 300).astype(np.int32)  # many duplicate (row, col) pairs
    vals = rng.random(300)
    got = csr_from_pairs(rows, cols, vals, 10)
    want = _reference_csr(rows, cols, vals, 10)
    for g, w in zip(got, want, strict=True):
        assert g.dtype == w.dtype
        np.testing.assert_array_equal(g, w)


def test_csr_from_pairs_empty_and_int64_inputs():
    indptr, indices, data = csr_from_pairs(
        np.array([], np.int64), np.array([], np.int64), np.array([]), 3
    )
    assert indptr.tolist() == [0, 0, 0, 0] and len(indices) == 0 and len(data) == 0
    indptr, indices, data = csr_from_pairs(
        np.array([2, 0, 2]), np.array([1, 4, 0]), np.array([1, 2, 3], np.float32), 3
    )
    assert indptr.tolist() == [0, 1, 1, 3]
    assert indices.tolist() == [4, 1, 0] and data.tolist() == [2.0, 1.0, 3.0]


def test_compact_renumbers_present_codes_in_order():
    rng = np.random.default_rng(4)
    for n, k in ((1, 0), (1, 5), (50, 10), (300, 2000)):
        codes = rng.integers(0, n, k)
        present, local = compact(codes, n)
        np.testing.assert_array_equal(present, np.unique(codes))
        np.testing.assert_array_equal(present[local], codes)  # each code keeps its value
    present, local = compact(np.array([5, 2, 5, 9], np.int32), 10)
    assert present.dtype == np.int64 and local.dtype == np.int32
    assert present.tolist() == [2, 5, 9]
    assert local.tolist() == [1, 0, 1, 2]


_PROBE = """
import json, sys
import numba.core.registry
from rectune import create_model
from rectune.data.synthetic import generate


def loaded():
    return sorted({
        f"{obj.py_func.__module__}.{obj.py_func.__name__}"
        for m, mod in list(sys.modules.items()) if m.startswith("rectune")
        for obj in vars(mod).values()
        if isinstance(obj, numba.core.registry.CPUDispatcher) and obj.overloads
    })


data = generate(n_users=40, n_items=30, n_interactions=400, seed=0)
model = create_model(sys.argv[1]).fit(data)
by_fit = loaded()
recorded = model.fit_info_["data_fingerprint"]
print(json.dumps([by_fit, loaded(), recorded == data.fingerprint()]))
"""

HASH = "rectune.data._hash._rows_hash"


def _kernels_loaded_by_fit(model: str) -> list[str]:
    """Kernels a fresh process has loaded after fitting ``model``; checks that reading the fit
    record then computes the right fingerprint (loading the hash kernel only then)."""
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, model], capture_output=True, text=True, check=True
    )
    by_fit, after_read, fingerprint_ok = json.loads(out.stdout.strip().splitlines()[-1])
    assert fingerprint_ok
    assert HASH not in by_fit and sorted([*by_fit, HASH]) == after_read
    return by_fit


def test_fits_load_only_the_kernels_their_model_uses():
    # A fresh process pays numba's one-off set-up (0.1-0.3 s) at its first kernel, then ~3 ms
    # per cached kernel. The shared path loads none: the seen matrix is built by scipy, ids are
    # compacted by numpy and the data fingerprint (a compiled hash) is computed when the fit
    # record is first read. Each model adds only its own family's kernels.
    assert _kernels_loaded_by_fit("popularity") == []
    assert _kernels_loaded_by_fit("baseline") == ["rectune.models.baselines._kernels.als_biases"]
    svd = _kernels_loaded_by_fit("svd")
    assert svd and all(k.startswith(("rectune.models.mf.", "rectune.models._shared.")) for k in svd)
