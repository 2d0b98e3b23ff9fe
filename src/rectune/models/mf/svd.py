"""`SVD`: biased matrix factorisation trained by stochastic gradient descent.

The model of Funk's Netflix Prize entry as formalised by Koren, Bell and Volinsky (2009),
"Matrix Factorization Techniques for Recommender Systems", IEEE Computer 42(8), eq. 5:
``r_ui ~ mu + b_u + b_i + q_i . p_u``, learned by SGD on the squared error with L2 penalties.
Defaults and unknown-id semantics follow Surprise's ``SVD``. Training runs the SGD in parallel
strata (Gemulla et al. 2011, "Large-scale matrix factorization with distributed stochastic
gradient descent", KDD): deterministic for a seed, whatever the thread count.

Shared factor-model logic lives in `rectune.models.mf._factor`, per-event learning in
`rectune.models.mf._online`.
"""

from __future__ import annotations

import os

import numpy as np
from pydantic import Field

from rectune.config import ConfigBase
from rectune.data.interactions import Interactions
from rectune.models._shared import blocks, numba_threads, padded, resolve_threads
from rectune.models.mf._factor import GROUPS, FactorModel
from rectune.models.mf._kernels import block_order, svd_sgd, svd_sgd_parallel
from rectune.models.mf._online import OnlineSGDMixin
from rectune.training.config import TrainConfig
from rectune.training.epochs import report_epoch

__all__ = ["SVD", "SVDConfig"]

#: Blocks per side of the DSGD grid. Fixed (not the thread count) so that a seed gives the same
#: model on any machine; 8 x 8 blocks keep two to eight threads busy on ML-100K-sized data.
N_BLOCKS = 8

#: Ratings x factors x epochs below which training stays on one thread. Each of the
#: ``N_BLOCKS * epochs`` sub-epochs ends in a thread barrier, which costs more than it saves on
#: small data; on busy cores it collapses, so `_cores_busy` keeps such runs serial too.
PARALLEL_MIN_WORK = 50_000_000

#: Training rows whose RMSE is recorded after every epoch (``fit_info_["epoch_history"]``).
LOSS_SAMPLE = 10_000


class SVDConfig(ConfigBase):
    """Hyperparameters of `SVD` (defaults match Surprise's ``SVD``).

    A per-group ``learning_rate_<group>`` or ``reg_<group>`` left at None takes the shared
    ``learning_rate`` or ``reg`` (Surprise's ``lr_all``/``reg_all`` with ``lr_bu``... overrides).
    """

    embedding_size: int = Field(100, ge=1)
    """Number of latent factors (Surprise: ``n_factors``)."""
    epochs: int = Field(20, ge=1)
    """Passes over the training ratings."""
    learning_rate: float = Field(0.005, gt=0)
    """SGD step size of every group without its own."""
    reg: float = Field(0.02, ge=0)
    """L2 penalty of every group without its own."""
    learning_rate_user_bias: float | None = Field(None, gt=0)
    """Step size of b_u (Surprise: ``lr_bu``)."""
    learning_rate_item_bias: float | None = Field(None, gt=0)
    """Step size of b_i (Surprise: ``lr_bi``)."""
    learning_rate_user_factors: float | None = Field(None, gt=0)
    """Step size of p_u (Surprise: ``lr_pu``)."""
    learning_rate_item_factors: float | None = Field(None, gt=0)
    """Step size of q_i (Surprise: ``lr_qi``)."""
    reg_user_bias: float | None = Field(None, ge=0)
    """Penalty of b_u (Surprise: ``reg_bu``)."""
    reg_item_bias: float | None = Field(None, ge=0)
    """Penalty of b_i (Surprise: ``reg_bi``)."""
    reg_user_factors: float | None = Field(None, ge=0)
    """Penalty of p_u (Surprise: ``reg_pu``)."""
    reg_item_factors: float | None = Field(None, ge=0)
    """Penalty of q_i (Surprise: ``reg_qi``)."""
    learning_rate_decay: float = Field(1.0, gt=0, le=1)
    """Step sizes are multiplied by this factor after every epoch (1: constant, as Surprise)."""
    shuffle: bool = True
    """Reshuffle the ratings inside each block every epoch; False visits them in data order
    (Surprise's SGD never shuffles)."""
    init_mean: float = 0.0
    """Mean of the normal initialisation of the factors."""
    init_std: float = Field(0.1, ge=0)
    """Standard deviation of the normal initialisation of the factors (Surprise: init_std_dev)."""
    biased: bool = True
    """Learn mu, b_u and b_i; False gives plain (Funk) MF ``r_ui ~ q_i . p_u``."""

    @classmethod
    def from_river_biased_mf(
        cls,
        n_factors: int = 10,
        bias_lr: float = 0.025,
        latent_lr: float = 0.05,
        l2_bias: float = 0.0,
        l2_latent: float = 0.0,
        sigma: float = 0.1,
        mu: float = 0.0,
    ) -> SVDConfig:
        """The config equal to River's ``reco.BiasedMF`` with plain ``optim.SGD`` optimisers.

        River steps ``w -= lr * dL/dw`` on the squared loss, whose gradient is
        ``2 (y_hat - y)``, and adds ``l2 * w``: that is ``w += 2 lr (e - (l2 / 2) w)``, so the
        step sizes double and the penalties halve. The defaults are River's tutorial settings
        (zero-initialised biases, Normal(0, 0.1) latents, no L2).

        Examples
        --------
        >>> cfg = SVDConfig.from_river_biased_mf()
        >>> cfg.learning_rate_user_bias, cfg.learning_rate, cfg.reg
        (0.05, 0.1, 0.0)
        """
        return cls(
            embedding_size=n_factors,
            epochs=1,
            learning_rate=2 * latent_lr,
            learning_rate_user_bias=2 * bias_lr,
            learning_rate_item_bias=2 * bias_lr,
            reg=l2_latent / 2,
            reg_user_bias=l2_bias / 2,
            reg_item_bias=l2_bias / 2,
            init_mean=mu,
            init_std=sigma,
        )

    def group_rates(self, groups: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
        """float32 arrays of the step sizes and penalties of ``groups``, in that order."""
        lr = [getattr(self, f"learning_rate_{g}") for g in groups]
        reg = [getattr(self, f"reg_{g}") for g in groups]
        lr = [self.learning_rate if x is None else x for x in lr]
        reg = [self.reg if x is None else x for x in reg]
        return np.array(lr, dtype=np.float32), np.array(reg, dtype=np.float32)


class SVD(OnlineSGDMixin, FactorModel):
    """Biased matrix factorisation by SGD (Koren, Bell and Volinsky 2009; Surprise's ``SVD``).

    Estimates ``r_ui = mu + b_u + b_i + q_i . p_u``; each epoch visits every training rating once
    (in shuffled order, in parallel strata) and steps
    ``b_u += lr (e - reg b_u)``, ``p_u += lr (e q_i - reg p_u)``, ``q_i += lr (e p_u - reg q_i)``.

    Parameters
    ----------
    config
        An `SVDConfig`, or its fields as keyword arguments.

    Examples
    --------
    >>> from rectune import Interactions
    >>> data = Interactions.from_raw([1, 1, 2, 2, 3], ["a", "b", "a", "b", "a"], [5, 1, 4, 2, 5])
    >>> model = SVD(embedding_size=4, epochs=200, learning_rate=0.05).fit(data)
    >>> bool(model.predict([3], ["b"])[0] < model.predict([3], ["a"])[0])
    True
    """

    name = "svd"
    config_class = SVDConfig
    config: SVDConfig

    def _fit(self, data: Interactions, train: TrainConfig) -> None:
        cfg = self.config
        self._init_params(data, train.seed, cfg.init_mean, cfg.init_std)
        user_block = blocks(np.bincount(data.users, minlength=data.n_users), N_BLOCKS)
        item_block = blocks(np.bincount(data.items, minlength=data.n_items), N_BLOCKS)
        order, offsets = block_order(data.users, data.items, user_block, item_block, N_BLOCKS)
        users, items = data.users[order], data.items[order]
        values = data.values[order].astype(np.float32)
        lr, reg = cfg.group_rates(GROUPS)
        mu = np.float32(self.global_mean_ if cfg.biased else 0.0)
        P, Q = padded(self.user_factors_), padded(self.item_factors_)
        threads = resolve_threads(train.threads)
        work = len(data) * cfg.embedding_size * cfg.epochs
        parallel = threads > 1 and work >= PARALLEL_MIN_WORK and not _cores_busy(threads)
        kernel = svd_sgd_parallel if parallel else svd_sgd
        k = cfg.embedding_size
        bu, bi = self.user_bias_, self.item_bias_
        # Training RMSE after each epoch on a fixed sample of rows (the learning curve).
        probe = np.random.default_rng([train.seed, 17]).permutation(len(data))[:LOSS_SAMPLE]
        pu, pi, pv = data.users[probe], data.items[probe], data.values[probe]

        def score(u: np.ndarray, i: np.ndarray) -> np.ndarray:
            dot = np.einsum("ij,ij->i", P[u, :k], Q[i, :k], dtype=np.float64)
            return mu + bu[u] + bi[i] + dot

        with numba_threads(threads):
            for epoch in range(cfg.epochs):  # one call per epoch: the same model as one call
                kernel(users, items, values, offsets, N_BLOCKS, mu, bu, bi, P, Q, lr, reg,
                       cfg.biased, epoch, epoch + 1, cfg.learning_rate_decay, train.seed,
                       cfg.shuffle)  # fmt: skip
                loss = float(np.sqrt(np.mean((score(pu, pi) - pv) ** 2)))
                report_epoch(self._epoch_history, epoch, loss, score)
        self.user_factors_ = np.ascontiguousarray(P[:, :k])
        self.item_factors_ = np.ascontiguousarray(Q[:, :k])
        self._mean_n = -1
        self._online_range = False
        self._lazy_rows = False


def _cores_busy(threads: int) -> bool:
    """Whether other processes already keep the cores busy (1-minute load average).

    The parallel kernel ends every stratum in a thread barrier; when the cores are shared, a
    descheduled thread stalls all the others and the parallel run gets slower than the serial
    one. Both kernels compute the same model, so this choice only changes the speed.
    """
    try:
        load = os.getloadavg()[0]
    except OSError:  # pragma: no cover - platforms without getloadavg
        return False
    others = load - 1.0  # the load average counts this process too
    return others > (os.cpu_count() or 1) - threads + 0.5
