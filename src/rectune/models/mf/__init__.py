"""Matrix factorisation of ratings: `SVD` (and per-event learning), `SVDpp`, `NMF`, `BPMF`."""

from rectune.models.mf._factor import FOLD_IN_REG, PARTIAL_FIT_EPOCHS, FactorModel
from rectune.models.mf.bpmf import BPMF, BPMFConfig
from rectune.models.mf.nmf import NMF, NMFConfig
from rectune.models.mf.svd import SVD, SVDConfig
from rectune.models.mf.svdpp import SVDpp, SVDppConfig

__all__ = [
    "BPMF",
    "FOLD_IN_REG",
    "NMF",
    "PARTIAL_FIT_EPOCHS",
    "SVD",
    "BPMFConfig",
    "FactorModel",
    "NMFConfig",
    "SVDConfig",
    "SVDpp",
    "SVDppConfig",
]
