"""`OnlineState`: the state behind SVD's per-event learning, kept cheap to update per event.

A per-event call must not allocate, rebuild or append anything proportional to the model, so:

- the online scalars (global mean, running-mean count, rating range, flags, step sizes) live in
  one float64 control array that the compiled step updates in place; ``global_mean_`` and
  ``rating_range_`` read it;
- learned events go to a preallocated pending buffer (doubling) and are absorbed into
  ``seen_`` / ``item_popularity_`` when those are next read, as are the new ids into
  ``user_map_`` / ``item_map_`` and the event count into ``fit_info_["n_interactions"]``;
- rows of new ids are written into spare capacity (doubling), the state arrays being views of
  the used rows, so saved state and `get_state` never see the padding;
- initial rows come from a queue drawn ahead from the online stream (the same numbers as
  drawing one row at a time), so `predict_one` can show a new id the row it will get.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from rectune.data.idmap import IdMap
from rectune.data.interactions import Interactions
from rectune.models.mf._factor import FactorModel
from rectune.models.mf._online_kernels import (
    CTL_SIZE,
    DIRTY,
    HI,
    LO,
    MEAN_N,
    MU,
    N_NEW,
    N_PEND,
    RUNNING,
)
from rectune.training.growth import absorb
from rectune.training.info import resolved

#: Initial rows drawn ahead from the online stream at a time.
DRAW_BLOCK = 256
#: Smallest capacity (rows, pending events) allocated for growth.
MIN_CAPACITY = 1024


class OnlineState(FactorModel):
    """Lazily absorbed state of per-event learning (see the module docstring)."""

    _ctl: np.ndarray | None = None
    """Control array of the per-event kernels (layout in `_online_kernels`); the storage of
    ``global_mean_``, ``rating_range_``, ``_mean_n`` and ``_online_range``."""
    _user_map: IdMap
    _item_map: IdMap
    _new_ids: tuple[list[Any], list[Any]] | None = None
    """Raw ids learned per event, not yet appended to (user map, item map)."""
    _pend: np.ndarray | None = None
    """Pending events (rows of user index, item index, value); ``ctl[N_PEND]`` are used."""
    _pend_room: int = 0
    """Free rows left in ``_pend``."""
    _seen: sp.csr_matrix
    _item_popularity: np.ndarray
    _fit_info: dict[str, Any]
    _artifact: dict[str, Any] | None = None
    _online_rng: np.random.RandomState | None = None
    """Stream of initial rows of new ids (seeded 0 at first use)."""
    _draws: np.ndarray | None = None
    """Rows drawn ahead from ``_online_rng`` (float64); ``_draw_pos`` is the next one."""
    _draw_pos: int = 0
    _lazy_rows: bool = False
    """`predict_one` gives unknown ids the rows they will get (River's lazy initialisation):
    set for a model started empty."""

    # Caches, cleared in `_invalidate_caches` (and by the id-map setters).
    _user_index: dict[Any, int] | None = None
    """Raw user id -> index, in step with ``user_map_`` plus the pending new ids."""
    _item_index: dict[Any, int] | None = None
    _row_buffers: list[tuple[np.ndarray, ...] | None] | None = None
    """Per side (users, items): (factor capacity, bias capacity, factor view, bias view)."""

    # ------------------------------------------------------------------ control array
    def _control(self) -> np.ndarray:
        ctl = self._ctl
        if ctl is None:
            ctl = self._ctl = np.zeros(CTL_SIZE)
            ctl[[MU, LO, HI]] = np.nan
            ctl[MEAN_N] = -1.0
        return ctl

    def _scalar(self, slot: int) -> float:
        if self._ctl is None:
            raise AttributeError(f"{type(self).__name__} has no online state yet")
        return float(self._ctl[slot])

    @property  # type: ignore[override]
    def global_mean_(self) -> float:
        return self._scalar(MU)

    @global_mean_.setter
    def global_mean_(self, value: float) -> None:
        self._control()[MU] = value

    @property  # type: ignore[override]
    def rating_range_(self) -> np.ndarray:
        self._scalar(LO)
        return np.array(self._ctl[LO : HI + 1])  # type: ignore[index]

    @rating_range_.setter
    def rating_range_(self, value: np.ndarray) -> None:
        self._control()[LO : HI + 1] = np.asarray(value, dtype=np.float64)

    @property
    def _mean_n(self) -> int:
        """Values in the running mean of online learning (-1: the fitted global mean, fixed)."""
        return int(self._control()[MEAN_N])

    @_mean_n.setter
    def _mean_n(self, value: int) -> None:
        self._control()[MEAN_N] = value

    @property
    def _online_range(self) -> bool:
        """Whether the rating range grows with the values learned (a model started online)."""
        return bool(self._control()[RUNNING])

    @_online_range.setter
    def _online_range(self, value: bool) -> None:
        self._control()[RUNNING] = value

    # ------------------------------------------------------------------ lazily absorbed state
    @property  # type: ignore[override]
    def fit_info_(self) -> dict[str, Any]:
        info = resolved(self._fit_info)
        ctl = self._ctl
        if ctl is not None and ctl[N_NEW]:
            info["n_interactions"] = (info.get("n_interactions") or 0) + int(ctl[N_NEW])
            ctl[N_NEW] = 0.0
        return info

    @fit_info_.setter
    def fit_info_(self, value: dict[str, Any]) -> None:
        self._fit_info = value
        if self._ctl is not None:
            self._ctl[N_NEW] = 0.0

    @property  # type: ignore[override]
    def artifact_(self) -> dict[str, Any] | None:
        ctl = self._ctl
        if ctl is not None and ctl[DIRTY]:  # learned since it was set: diverged
            self._artifact = None
            ctl[DIRTY] = 0.0
        return self._artifact

    @artifact_.setter
    def artifact_(self, value: dict[str, Any] | None) -> None:
        self._artifact = value
        if self._ctl is not None:
            self._ctl[DIRTY] = 0.0

    @property  # type: ignore[override]
    def user_map_(self) -> IdMap:
        self._flush_ids()
        return self._user_map

    @user_map_.setter
    def user_map_(self, value: IdMap) -> None:
        self._user_map = value
        self._new_ids = None
        self._user_index = self._item_index = None

    @property  # type: ignore[override]
    def item_map_(self) -> IdMap:
        self._flush_ids()
        return self._item_map

    @item_map_.setter
    def item_map_(self, value: IdMap) -> None:
        self._item_map = value
        self._new_ids = None
        self._user_index = self._item_index = None

    def _flush_ids(self) -> None:
        pending = self._new_ids
        if pending is None or not (pending[0] or pending[1]):
            return
        self._new_ids = ([], [])
        for raw, attr in zip(pending, ("_user_map", "_item_map"), strict=True):
            if raw:
                idmap = getattr(self, attr)
                if len(idmap):
                    idmap.add(raw)
                else:  # an empty map takes its id type from the first ids (as `Interactions`)
                    setattr(self, attr, IdMap(raw))

    @property  # type: ignore[override]
    def seen_(self) -> sp.csr_matrix:
        self._flush_events()
        return self._seen

    @seen_.setter
    def seen_(self, value: sp.csr_matrix) -> None:
        if self._ctl is not None:
            self._ctl[N_PEND] = 0.0
            self._pend_room = 0 if self._pend is None else len(self._pend)
        self._seen = value

    @property  # type: ignore[override]
    def item_popularity_(self) -> np.ndarray:
        self._flush_events()
        return self._item_popularity

    @item_popularity_.setter
    def item_popularity_(self, value: np.ndarray) -> None:
        self._item_popularity = value

    def _flush_events(self) -> None:
        ctl = self._ctl
        if ctl is None or not ctl[N_PEND]:
            return
        rows = self._pend[: int(ctl[N_PEND])]  # type: ignore[index]
        ctl[N_PEND] = 0.0  # before absorbing: it reads ``seen_``
        self._pend_room = len(self._pend)  # type: ignore[arg-type]
        users, items = rows[:, 0].astype(np.int32), rows[:, 1].astype(np.int32)
        absorb(self, Interactions(users, items, rows[:, 2].copy(), self.user_map_, self.item_map_))

    def _push_events(self, users: np.ndarray, items: np.ndarray, values: np.ndarray) -> None:
        """Queue learned events for ``seen_`` (absorbed when next read)."""
        ctl = self._control()
        n, m = int(ctl[N_PEND]), len(users)
        self._reserve_pending(m + 1)
        self._pend[n : n + m, 0] = users  # type: ignore[index]
        self._pend[n : n + m, 1] = items  # type: ignore[index]
        self._pend[n : n + m, 2] = values  # type: ignore[index]
        ctl[N_PEND] = n + m
        self._pend_room = len(self._pend) - n - m  # type: ignore[arg-type]

    def _reserve_pending(self, extra: int) -> None:
        """Room for ``extra`` more pending events (capacity doubles)."""
        pend, n = self._pend, int(self._control()[N_PEND])
        if pend is None or len(pend) < n + extra:
            grown = np.empty((max(2 * (n + extra), MIN_CAPACITY), 3))
            if pend is not None:
                grown[:n] = pend[:n]
            self._pend = pend = grown
        self._pend_room = len(pend) - n

    # ------------------------------------------------------------------ rows of new ids
    def _seed_online(self, seed: int | None) -> None:
        """Restart the stream of initial rows from ``RandomState(seed)``."""
        self._online_rng = np.random.RandomState(seed)
        self._draws, self._draw_pos = None, 0

    def _draw_rows(self, m: int, *, peek: bool = False) -> np.ndarray:
        """The next ``m`` initial factor rows (float64 Normal(init_mean, init_std) draws, in
        order of first appearance); consumed unless ``peek``."""
        if self._online_rng is None:
            self._seed_online(0)
        queue, pos = self._draws, self._draw_pos
        if queue is None or pos + m > len(queue):
            cfg = self.config
            k = cfg.embedding_size  # type: ignore[attr-defined]
            rest = np.zeros((0, k)) if queue is None else queue[pos:]
            more = self._online_rng.normal(  # type: ignore[union-attr]
                cfg.init_mean,
                cfg.init_std,
                (max(m - len(rest), DRAW_BLOCK), k),  # type: ignore[attr-defined]
            )
            queue, pos = np.concatenate([rest, more]), 0
            self._draws, self._draw_pos = queue, 0
        if not peek:
            self._draw_pos = pos + m
        return queue[pos : pos + m]

    def _append_rows(self, side: int, rows: np.ndarray) -> None:
        """Rows ``rows`` (factors) with zero biases after the last user (side 0) or item (1),
        written into spare capacity that doubles when full."""
        names = ("user_factors_", "user_bias_") if side == 0 else ("item_factors_", "item_bias_")
        P, b = getattr(self, names[0]), getattr(self, names[1])
        n, m = len(P), len(rows)
        buffers = self._row_buffers
        if buffers is None:
            buffers = self._row_buffers = [None, None]
        buf = buffers[side]
        if buf is None or buf[2] is not P or buf[3] is not b or n + m > len(buf[0]):
            cap = max(2 * (n + m), MIN_CAPACITY)
            fac = np.empty((cap, P.shape[1]), dtype=P.dtype)
            bias = np.zeros(cap, dtype=b.dtype)
            fac[:n], bias[:n] = P, b
        else:
            fac, bias = buf[0], buf[1]
        fac[n : n + m] = rows
        bias[n : n + m] = 0.0
        P, b = fac[: n + m], bias[: n + m]
        setattr(self, names[0], P)
        setattr(self, names[1], b)
        buffers[side] = (fac, bias, P, b)

    def _invalidate_caches(self) -> None:
        self._user_index = self._item_index = None
        self._row_buffers = None
        super()._invalidate_caches()
