"""Implicit-feedback models: `ALS` (Hu et al. 2008), `BPR` (Rendle et al. 2009), `EASE` (Steck
2019)."""

from rectune.models.implicit.als import ALS, ALSConfig
from rectune.models.implicit.bpr import BPR, BPRConfig
from rectune.models.implicit.ease import EASE, EASEConfig, ease_solve

__all__ = ["ALS", "BPR", "EASE", "ALSConfig", "BPRConfig", "EASEConfig", "ease_solve"]
