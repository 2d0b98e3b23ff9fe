"""Side information of synthetic data (demographics, genres, year, text) drawn from the factors."""

from __future__ import annotations

import numpy as np
import pandas as pd

GENRES = (
    "Action", "Adventure", "Animation", "Comedy", "Crime", "Documentary", "Drama", "Family",
    "Fantasy", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western",
    "Noir",
)  # fmt: skip
#: Title words that go with each genre, so that item text is informative about taste.
GENRE_WORDS = (
    ("Fury", "Strike", "Bullet", "Vengeance", "Edge"),
    ("Quest", "Voyage", "Island", "Treasure", "Frontier"),
    ("Dragon", "Toy", "Bunny", "Cartoon", "Robot"),
    ("Wedding", "Party", "Roommates", "Blunder", "Vacation"),
    ("Heist", "Mob", "Con", "Getaway", "Racket"),
    ("Planet", "Truth", "Inside", "Archive", "Chronicle"),
    ("Silence", "Promise", "Letters", "Winter", "Family"),
    ("Puppy", "Holiday", "Grandma", "Backyard", "Sunshine"),
    ("Wizard", "Kingdom", "Spell", "Realm", "Crown"),
    ("Curse", "Shadow", "Cellar", "Scream", "Haunting"),
    ("Melody", "Broadway", "Rhythm", "Song", "Dance"),
    ("Secret", "Clue", "Riddle", "Stranger", "Puzzle"),
    ("Heart", "Kiss", "Summer", "Love", "Moonlight"),
    ("Galaxy", "Android", "Orbit", "Nebula", "Quantum"),
    ("Pursuit", "Hostage", "Trap", "Deadline", "Witness"),
    ("Battalion", "Trench", "Front", "Siege", "Medal"),
    ("Outlaw", "Saddle", "Canyon", "Sheriff", "Ranch"),
    ("Rain", "Dame", "Alley", "Smoke", "Neon"),
)
OCCUPATIONS = (
    "student", "engineer", "artist", "educator", "healthcare", "programmer", "sales",
    "retired", "writer", "scientist", "lawyer", "homemaker",
)  # fmt: skip
_SYLLABLES = np.array(
    "ka lo mi ra ven tor sel da rin mo ba lu zen cor fi nal sa ter vo li an dra mer qui po".split(),
    dtype=object,
)


def _user_features(rng: np.random.Generator, P: np.ndarray, cluster: np.ndarray) -> pd.DataFrame:
    """Age, gender and occupation, each correlated with the user's factors or cluster."""
    n, k = P.shape
    z = (P - P.mean(axis=0)) / (P.std(axis=0) + 1e-9)
    age = np.clip(np.round(34 + 9 * z[:, 0] + rng.normal(0, 6, n)), 13, 80).astype(np.int64)
    gender = np.where(z[:, min(1, k - 1)] + rng.normal(0, 0.7, n) > 0, "F", "M")
    occ = cluster % len(OCCUPATIONS)
    swap = rng.random(n) < 0.25
    occ = np.where(swap, rng.integers(0, len(OCCUPATIONS), n), occ)
    return pd.DataFrame(
        {
            "age": age,
            "gender": pd.Categorical(gender, categories=["F", "M"]),
            "occupation": pd.Categorical(np.asarray(OCCUPATIONS, object)[occ]),
        },
        index=pd.Index(np.arange(1, n + 1, dtype=np.int64), name="user_id"),
    )


def _item_genres_year(
    rng: np.random.Generator, Q: np.ndarray, arrival: np.ndarray, span_days: int
) -> tuple[np.ndarray, np.ndarray]:
    """Genre flags (the genre directions an item's factors point along) and release year."""
    n, k = Q.shape
    directions = rng.normal(0, 1, (len(GENRES), k)).astype(np.float32)
    fit = Q @ directions.T
    order = np.argsort(-fit, axis=1)
    flags = np.zeros((n, len(GENRES)), dtype=np.int8)
    flags[np.arange(n), order[:, 0]] = 1
    second = fit[np.arange(n), order[:, 1]] > np.quantile(fit, 0.9)
    flags[np.flatnonzero(second), order[second, 1]] = 1
    z0 = (Q[:, 0] - Q[:, 0].mean()) / (Q[:, 0].std() + 1e-9)
    old = 2019 - np.minimum(rng.exponential(12, n), 89) + 4 * z0
    new = 2020 + arrival * span_days / 365.25
    year = np.floor(np.where(arrival > 0, new, np.clip(old, 1930, 2019)))
    return flags, year


def _item_text(
    rng: np.random.Generator, flags: np.ndarray, year: np.ndarray, index: pd.Index
) -> pd.Series:
    """``"Strike Ravendra (1994) | Action, Thriller"``: a genre word, a made-up name, genres."""
    n = len(flags)
    primary = np.argmax(flags, axis=1)
    word_idx = rng.integers(0, 5, n)
    syl = _SYLLABLES[rng.integers(0, len(_SYLLABLES), (n, 3))]
    n_syl = rng.integers(2, 4, n)
    names = np.asarray(GENRES, dtype=object)
    texts = [
        f"{GENRE_WORDS[g][w]} {''.join(s[:c]).capitalize()} ({int(y)}) | "
        f"{', '.join(names[f.astype(bool)])}"
        for g, w, s, c, y, f in zip(primary, word_idx, syl, n_syl, year, flags, strict=True)
    ]
    return pd.Series(texts, index=index, name="text", dtype=object)
