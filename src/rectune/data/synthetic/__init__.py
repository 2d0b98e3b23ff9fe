"""Synthetic interaction data with a known generating process, for tests, demos and benchmarks.

`generate` draws users and items from latent taste factors, makes item popularity Zipf-like, lets
tastes and popularity drift over time, brings new users and items in late, and derives side
information (user demographics, item genres and year, item text) from the same factors, so that
features and text carry real signal. `checkerboard` is a tiny data set with an obvious answer.

The process (all steps vectorised; 10M interactions take seconds and about 2 GB):

1. Users belong to taste clusters; a user's factors are the cluster centre plus noise. Item
   factors are Gaussian; genres are the genre directions an item's factors point along.
2. Each event picks a user (log-normal activity), a time after the user's arrival, and an item
   among those already released: two candidates are drawn from the user's cluster distribution at
   that time (popularity x exp(taste), with drifting tastes and rising/falling items) and the one
   the user likes more is kept. Repeated (user, item) pairs are dropped.
3. Ratings are noisy biased dot products of the drifted factors, rounded and clipped to the
   scale; implicit weights are Poisson counts growing with the same score.
"""

from __future__ import annotations

from rectune.data.synthetic._checkerboard import checkerboard
from rectune.data.synthetic._generate import START, generate
from rectune.data.synthetic._sampling import TASTE_WEIGHT
from rectune.data.synthetic._side import GENRE_WORDS, GENRES, OCCUPATIONS

__all__ = [
    "GENRES",
    "GENRE_WORDS",
    "OCCUPATIONS",
    "START",
    "TASTE_WEIGHT",
    "checkerboard",
    "generate",
]
