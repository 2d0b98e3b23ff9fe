"""Train/test splitters: random, k-fold, temporal, per-user temporal, cold users, cold items.

Every splitter works on row indices first (``*_rows`` functions, also used by the runner to
record which rows were tested, so two models evaluated with the same seed are paired row by
row) and `split` turns those into ``(train, test)`` `Interactions` that share the data's id maps.
Random choices come from ``numpy.random.default_rng(seed)``; the temporal splitters are
deterministic and accept ``seed`` only for a uniform signature.
"""

from __future__ import annotations

import inspect
import logging
import math
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from rectune.data.interactions import Interactions
from rectune.errors import ConfigError, DataError

logger = logging.getLogger(__name__)

RowSplit = tuple[np.ndarray, np.ndarray]


def _check_fraction(test_size: float) -> float:
    if not 0.0 < float(test_size) < 1.0:
        raise ConfigError(f"test_size must be a fraction in (0, 1), got {test_size!r}")
    return float(test_size)


def _rows(mask: np.ndarray) -> RowSplit:
    """(train rows, test rows) from a boolean test mask."""
    return np.flatnonzero(~mask), np.flatnonzero(mask)


def _need_timestamps(data: Interactions, method: str) -> np.ndarray:
    if data.timestamps is None:
        raise DataError(
            f"the {method!r} split needs timestamps; this data has none", field="timestamp"
        )
    return data.timestamps


def _user_order(data: Interactions, by_time: bool, rng: np.random.Generator | None) -> np.ndarray:
    """Rows grouped by user; within a user by time (ties by row), or shuffled, or by row."""
    if by_time:
        assert data.timestamps is not None
        return np.lexsort((data.timestamps, data.users))
    if rng is not None:
        perm = rng.permutation(len(data))
        return perm[np.argsort(data.users[perm], kind="stable")]
    return np.argsort(data.users, kind="stable")


def _position_in_user(users_sorted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For rows sorted by user: each row's 0-based position within its user and the user's size."""
    n = len(users_sorted)
    if n == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    starts = np.flatnonzero(np.r_[True, users_sorted[1:] != users_sorted[:-1]])
    sizes = np.diff(np.r_[starts, n])
    start_of_row = np.repeat(starts, sizes)
    return np.arange(n) - start_of_row, np.repeat(sizes, sizes)


# ---------------------------------------------------------------------------- row splitters
def random_rows(data: Interactions, test_size: float = 0.2, *, seed: int = 0) -> RowSplit:
    """Uniformly random holdout of ``ceil(test_size * n)`` rows."""
    test_size = _check_fraction(test_size)
    n = len(data)
    n_test = min(math.ceil(test_size * n), n)
    perm = np.random.default_rng(seed).permutation(n)
    mask = np.zeros(n, dtype=bool)
    mask[perm[:n_test]] = True
    return _rows(mask)


def kfold_rows(data: Interactions, folds: int = 5, *, seed: int = 0) -> Iterator[RowSplit]:
    """K folds of shuffled rows (sizes differ by at most one); each row is tested exactly once."""
    n = len(data)
    if not isinstance(folds, int | np.integer) or folds < 2:
        raise ConfigError(f"folds must be an integer >= 2, got {folds!r}")
    if folds > n:
        raise ConfigError(f"cannot make {folds} folds from {n} rows")
    perm = np.random.default_rng(seed).permutation(n)
    bounds = np.linspace(0, n, folds + 1).round().astype(np.int64)
    for f in range(folds):
        mask = np.zeros(n, dtype=bool)
        mask[perm[bounds[f] : bounds[f + 1]]] = True
        yield _rows(mask)


def temporal_rows(data: Interactions, test_size: float = 0.2, *, seed: int = 0) -> RowSplit:
    """Global temporal split: the last ``ceil(test_size * n)`` rows by time are the test set.

    Ties are broken by row order, so the latest train timestamp is <= the earliest test one.
    """
    test_size = _check_fraction(test_size)
    ts = _need_timestamps(data, "temporal")
    n = len(data)
    order = np.argsort(ts, kind="stable")
    mask = np.zeros(n, dtype=bool)
    mask[order[n - min(math.ceil(test_size * n), n) :]] = True
    return _rows(mask)


def user_temporal_rows(
    data: Interactions,
    test_size: float = 0.2,
    *,
    n: int | None = None,
    seed: int = 0,
) -> RowSplit:
    """Per-user temporal split: each user's latest interactions are the test set.

    With ``n`` set, each user's last ``n`` rows (leave-last-n); otherwise the last
    ``round(test_size * n_u)`` of a user's ``n_u`` rows. Every user keeps at least one training
    row, so a user with a single interaction is never tested.
    """
    _need_timestamps(data, "user-temporal" if n is None else "leave-last")
    order = _user_order(data, by_time=True, rng=None)
    pos, size = _position_in_user(data.users[order])
    if n is not None:
        if n < 1:
            raise ConfigError(f"n (rows left out per user) must be >= 1, got {n!r}")
        n_test = np.minimum(n, size - 1)
    else:
        frac = _check_fraction(test_size)
        n_test = np.minimum(np.floor(frac * size + 0.5).astype(np.int64), size - 1)
    mask = np.zeros(len(data), dtype=bool)
    mask[order[pos >= size - n_test]] = True
    return _rows(mask)


def leave_last_rows(data: Interactions, n: int = 1, *, seed: int = 0) -> RowSplit:
    """Leave-last-n: each user's ``n`` most recent rows (fewer if the user has <= n rows)."""
    return user_temporal_rows(data, n=n, seed=seed)


def cold_user_rows(
    data: Interactions, test_size: float = 0.2, *, n_support: int = 0, seed: int = 0
) -> RowSplit:
    """Cold-start users: a fraction of users is held out entirely, bar ``n_support`` rows.

    Test users are drawn among the users with more than ``n_support`` interactions
    (``ceil(test_size * eligible)`` of them). Each keeps ``n_support`` "support" rows in train
    (the earliest by time when timestamps exist, else random ones); the rest is the test set.
    """
    frac = _check_fraction(test_size)
    if n_support < 0:
        raise ConfigError(f"n_support must be >= 0, got {n_support!r}")
    rng = np.random.default_rng(seed)
    counts = np.bincount(data.users, minlength=data.n_users)
    eligible = np.flatnonzero(counts > n_support)
    n_test_users = min(math.ceil(frac * len(eligible)), len(eligible))
    chosen = np.zeros(data.n_users, dtype=bool)
    chosen[rng.choice(eligible, size=n_test_users, replace=False)] = True
    order = _user_order(data, by_time=data.timestamps is not None, rng=rng)
    pos, _ = _position_in_user(data.users[order])
    mask = np.zeros(len(data), dtype=bool)
    mask[order] = chosen[data.users[order]] & (pos >= n_support)
    return _rows(mask)


def cold_item_rows(data: Interactions, test_size: float = 0.2, *, seed: int = 0) -> RowSplit:
    """Cold-start items: ``ceil(test_size * items)`` items and all their rows are the test set."""
    frac = _check_fraction(test_size)
    present = np.flatnonzero(np.bincount(data.items, minlength=data.n_items))
    n_test = min(math.ceil(frac * len(present)), len(present))
    chosen = np.zeros(data.n_items, dtype=bool)
    chosen[np.random.default_rng(seed).choice(present, size=n_test, replace=False)] = True
    return _rows(chosen[data.items])


def _single(fn: Callable[..., RowSplit]) -> Callable[..., Iterator[RowSplit]]:
    def gen(data: Interactions, **kw: Any) -> Iterator[RowSplit]:
        yield fn(data, **kw)

    gen.__signature__ = inspect.signature(fn)  # type: ignore[attr-defined]
    gen.__doc__ = fn.__doc__
    return gen


#: Split method name -> generator of (train rows, test rows).
SPLITTERS: dict[str, Callable[..., Iterator[RowSplit]]] = {
    "random": _single(random_rows),
    "kfold": kfold_rows,
    "temporal": _single(temporal_rows),
    "user-temporal": _single(user_temporal_rows),
    "leave-last": _single(leave_last_rows),
    "cold-users": _single(cold_user_rows),
    "cold-items": _single(cold_item_rows),
}


def split_options(method: str) -> dict[str, Any]:
    """The options a split method accepts, with their defaults."""
    fn = _splitter(method)
    params = list(inspect.signature(fn).parameters.values())[1:]
    return {p.name: p.default for p in params}


def _splitter(method: str) -> Callable[..., Iterator[RowSplit]]:
    try:
        return SPLITTERS[method]
    except KeyError:
        raise ConfigError(
            f"unknown split method {method!r}; valid methods: {', '.join(SPLITTERS)}"
        ) from None


def split_rows(data: Interactions, method: str = "kfold", **options: Any) -> Iterator[RowSplit]:
    """Yield ``(train_rows, test_rows)`` index arrays for the named method.

    Options are those of the method's ``*_rows`` function (`split_options` lists them); an
    option the method does not take is an error rather than silently ignored.
    """
    accepted = split_options(method)
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ConfigError(f"split {method!r} takes options {sorted(accepted)}, not {unknown}")
    yield from _splitter(method)(data, **options)


def split(
    data: Interactions, method: str = "kfold", **options: Any
) -> Iterator[tuple[Interactions, Interactions]]:
    """Yield ``(train, test)`` pairs for the named method (one pair, or one per fold).

    Methods: ``random`` (``test_size``), ``kfold`` (``folds``), ``temporal`` (``test_size``),
    ``user-temporal`` (``test_size`` or ``n``), ``leave-last`` (``n``), ``cold-users``
    (``test_size``, ``n_support``), ``cold-items`` (``test_size``); all take ``seed``.

    Examples
    --------
    >>> data = Interactions.from_raw([1, 1, 1, 2, 2], list("abcab"), [5, 4, 3, 2, 1],
    ...                              timestamps=[1, 2, 3, 1, 2])
    >>> [(len(tr), len(te)) for tr, te in split(data, "kfold", folds=2, seed=0)]
    [(3, 2), (2, 3)]
    >>> train, test = next(split(data, "leave-last", n=1))
    >>> test.to_frame()[["user_id", "item_id"]].values.tolist()
    [[1, 'c'], [2, 'b']]
    """
    for train_rows, test_rows in split_rows(data, method, **options):
        yield data.subset(train_rows), data.subset(test_rows)


def random_split(
    data: Interactions, test_size: float = 0.2, *, seed: int = 0
) -> tuple[Interactions, Interactions]:
    """Random holdout as a ``(train, test)`` pair."""
    return next(split(data, "random", test_size=test_size, seed=seed))


def kfold_split(
    data: Interactions, folds: int = 5, *, seed: int = 0
) -> Iterator[tuple[Interactions, Interactions]]:
    """K-fold ``(train, test)`` pairs."""
    return split(data, "kfold", folds=folds, seed=seed)


def temporal_split(data: Interactions, test_size: float = 0.2) -> tuple[Interactions, Interactions]:
    """Global temporal split: the latest ``test_size`` of rows are the test set."""
    return next(split(data, "temporal", test_size=test_size))


def user_temporal_split(
    data: Interactions, test_size: float = 0.2, *, n: int | None = None
) -> tuple[Interactions, Interactions]:
    """Per-user temporal split (latest ``test_size`` of each user, or their last ``n`` rows)."""
    return next(split(data, "user-temporal", test_size=test_size, n=n))


def cold_user_split(
    data: Interactions, test_size: float = 0.2, *, n_support: int = 0, seed: int = 0
) -> tuple[Interactions, Interactions]:
    """Cold-start users with ``n_support`` training rows each."""
    return next(split(data, "cold-users", test_size=test_size, n_support=n_support, seed=seed))


def cold_item_split(
    data: Interactions, test_size: float = 0.2, *, seed: int = 0
) -> tuple[Interactions, Interactions]:
    """Cold-start items held out with all their interactions."""
    return next(split(data, "cold-items", test_size=test_size, seed=seed))


__all__ = [
    "SPLITTERS",
    "cold_item_rows",
    "cold_item_split",
    "cold_user_rows",
    "cold_user_split",
    "kfold_rows",
    "kfold_split",
    "leave_last_rows",
    "random_rows",
    "random_split",
    "split",
    "split_options",
    "split_rows",
    "temporal_rows",
    "temporal_split",
    "user_temporal_rows",
    "user_temporal_split",
]
