"""Distillation: a small matrix-factorization student trained on a large teacher's rankings.

The student (implicit ALS by default, or BPR) is fitted on each user's training items plus the
teacher's ``top_k`` recommendations among the items the user has not seen, as positive
feedback: ranking distillation (Tang and Wang 2018, "Ranking distillation: learning compact
ranking models with high performance for recommender system", which trains the student on the
ground truth and the teacher's top-K, weighted). The teacher's items get weight
``teacher_weight`` (the training items 1). The student then takes over the teacher's seen
matrix, popularity and id maps, so it excludes the same items, falls back the same way and
updates from the same history; its artifact names the teacher as parent.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from rectune.compression._record import check_options, finish, refuse
from rectune.compression.quantize import quantize
from rectune.data.interactions import Interactions
from rectune.errors import RectuneError
from rectune.models import create_model
from rectune.models.base import Recommender
from rectune.training.config import TrainConfig

STUDENTS = ("als", "bpr")
_OPTIONS = ("student", "top_k", "teacher_weight", "params", "quantize", "seed", "batch")


def distill(teacher: Recommender, **options: Any) -> Recommender:
    """A student fitted to ``teacher``'s top-k lists; see the module documentation.

    Options: ``student`` (``als`` or ``bpr``), ``top_k`` (10), ``teacher_weight`` (1.0),
    ``params`` (the student's hyperparameters, e.g. ``{"embedding_size": 32}``), ``quantize``
    (``int8`` or ``fp16``: store the student's tables so too), ``seed`` (0), ``batch`` (users
    ranked at once, 1024).
    """
    check_options(teacher, "distill", options, _OPTIONS)
    student_name = options.get("student", "als")
    if student_name not in STUDENTS:
        raise refuse(teacher, "distill", f"student must be one of {STUDENTS}, not {student_name!r}")
    top_k = int(options.get("top_k", 10))
    weight = float(options.get("teacher_weight", 1.0))
    if top_k < 1 or not weight > 0:
        raise refuse(teacher, "distill", "top_k must be >= 1 and teacher_weight > 0")
    quant = options.get("quantize")
    if quant not in (None, "int8", "fp16"):
        raise refuse(teacher, "distill", f"quantize must be int8 or fp16, not {quant!r}")
    params = dict(options.get("params") or {})
    params.setdefault("embedding_size", 32)
    try:
        student = create_model(student_name, **params)
    except RectuneError as exc:
        raise refuse(teacher, "distill", f"student params: {exc}") from None
    seed = int(options.get("seed", 0))
    pseudo = teacher_lists(teacher, top_k, weight, int(options.get("batch", 1024)))
    student.fit(pseudo, train=TrainConfig(seed=seed))
    _take_base_state(student, teacher)
    record = {"teacher": teacher.name, "student": student_name, "student_params": params,
              "n_pseudo_interactions": len(pseudo)}  # fmt: skip
    if quant is not None:
        q = quantize(student, quant)
        plan = q.compression_["storage"] if q.compression_ else {}
        return finish(teacher, q, "distill", options, plan, **record)
    return finish(teacher, student, "distill", options, {}, **record)


def teacher_lists(teacher: Recommender, top_k: int, weight: float, batch: int) -> Interactions:
    """Every user's training items (weight 1) and the teacher's top-k unseen items
    (``weight``), in the teacher's id maps."""
    n_users = len(teacher.user_map_)
    users, items = [], []
    for start in range(0, n_users, batch):
        block = np.arange(start, min(n_users, start + batch), dtype=np.int64)
        idx, scores = teacher.recommend_indices(block, top_k, exclude_seen=True)
        ok = (idx >= 0) & np.isfinite(scores)
        users.append(np.broadcast_to(block[:, None], idx.shape)[ok])
        items.append(idx[ok])
    tu = np.concatenate(users)
    ti = np.concatenate(items)
    seen = teacher.seen_.tocoo()
    u = np.concatenate([seen.row.astype(np.int64), tu])
    i = np.concatenate([seen.col.astype(np.int64), ti])
    v = np.concatenate([np.ones(seen.nnz), np.full(len(tu), weight)])
    return Interactions(u, i, v, teacher.user_map_, teacher.item_map_, kind="weight")


def _take_base_state(student: Recommender, teacher: Recommender) -> None:
    """The teacher's seen matrix, popularity, means and data kind, in the student's indices
    (the student knows every id the teacher's seen matrix holds)."""
    su = student.user_map_.index_of(teacher.user_map_.ids)
    si = student.item_map_.index_of(teacher.item_map_.ids)
    seen = teacher.seen_.tocoo()
    rows, cols = su[seen.row], si[seen.col]
    keep = (rows >= 0) & (cols >= 0)
    shape = (len(student.user_map_), len(student.item_map_))
    m = sp.csr_matrix((seen.data[keep], (rows[keep], cols[keep])), shape=shape)
    m.sort_indices()
    student.seen_ = m
    pop = np.zeros(shape[1])
    known = si >= 0
    pop[si[known]] = teacher.item_popularity_[known]
    student.item_popularity_ = pop
    student.global_mean_ = teacher.global_mean_
    student.rating_range_ = np.array(teacher.rating_range_, copy=True)
    student.data_kind_ = teacher.data_kind_
    info = dict(student.fit_info_)
    info.update(
        data_fingerprint=teacher.fit_info_.get("data_fingerprint"),
        n_interactions=teacher.fit_info_.get("n_interactions"),
    )
    if teacher.artifact_:
        info["parent"] = {"id": teacher.artifact_.get("id"), "path": teacher.artifact_.get("path")}
    student.fit_info_ = info
    student._invalidate_caches()
