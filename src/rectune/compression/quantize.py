"""int8 and fp16 factor and embedding tables.

Every float array of rows in a model's state (user/item factors, the EASE weights, a torch
model's embedding tables and layer weights; BPMF's posterior samples) is stored as int8 codes
with one scale per row (symmetric, scales on a float16 grid stored in two bytes:
`rectune.registry.codecs.quantize_int8`) or as float16; the model then holds the dequantized
values, so its scores are exactly those the artifact reloads to. EASE's Gram matrix (kept for
updates) is recomputed from the seen matrix on load instead of stored. 1-D arrays (biases,
norms) stay as they are: they are a small share of the bytes and quantizing them buys little.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from rectune.compression._record import check_options, copy_model, finish
from rectune.models.base import Recommender
from rectune.registry.codecs import dequantize_int8, quantize_int8

#: Smallest table worth a codec (below it the scales and headers outweigh the savings).
MIN_ELEMENTS = 64


def table_keys(state: Mapping[str, np.ndarray]) -> list[str]:
    """State arrays that are float tables of rows (the base state and Gram matrices aside)."""
    return [
        k
        for k, v in state.items()
        if not k.startswith("_")
        and k != "gram"
        and np.asarray(v).dtype.kind == "f"
        and np.asarray(v).ndim >= 2
        and np.asarray(v).size >= MIN_ELEMENTS
    ]


def quantize(model: Recommender, method: str, **options: Any) -> Recommender:
    """``model`` with its tables stored as ``method`` (``int8`` or ``fp16``) and held as the
    values those codes stand for."""
    check_options(model, method, options, ())
    state = model.get_state()
    keys = table_keys(state)
    new_state = dict(state)
    for key in keys:
        x = np.asarray(state[key])
        if method == "int8":
            q, scale = quantize_int8(x)
            new_state[key] = dequantize_int8(q, scale, x.dtype)
        else:
            new_state[key] = x.astype(np.float16).astype(x.dtype)
    plan = dict.fromkeys(keys, method)
    if "gram" in state:
        plan["gram"] = "seen_gram"
    return finish(model, copy_model(model, new_state), method, options, plan)
