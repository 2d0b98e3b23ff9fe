"""Which settings a run asks for, and refusing those the model cannot honour (DESIGN.md).

A `TrainConfig` or `FinetuneStrategy` field counts as asked for when it was set explicitly
(pydantic's ``model_fields_set``) to a value other than its default: a field left alone, or set
to its default, asks for nothing different. Each asked-for field becomes a *token* (``epochs``,
``learning_rate``, ``schedule``, ``early_stopping``, ``l2sp``, ``freeze``, ``clip_norm``,
``replay``, ``augment=<kind>``, ``new_ids=<method>``), and every model declares the tokens it
honours in each phase (``fit``, ``finetune``, ``partial_fit``, ``add_items``:
`Recommender.honoured_settings`).
A token the model does not honour is a `ConfigError` naming the setting and the model, so no
setting is recorded in an artifact while changing nothing. A declared ``a+b`` (``replay+l2sp``)
honours ``a`` only when ``b`` is asked for too (replayed rows that only re-fit what the parent
already fits change nothing unless a pull toward the parent competes with them).

Run options (``seed``, ``threads``, ``progress``, ``warn_seconds``) are accepted everywhere: they
say how a run goes (its random stream, its speed, its display, its time warning), not what it
learns; a model without randomness simply has nothing to seed. Settings that only mean something
together with another (``validation_fraction`` with ``early_stopping``, ``augment_ratio`` with
``augment``, ``neighbors`` with ``new_ids=neighbors``, ``text_encoder`` with ``new_ids=text``) are
refused alone, whatever the model.
"""

from __future__ import annotations

from typing import Any, Literal

from rectune.config import ConfigBase
from rectune.errors import ConfigError
from rectune.training.config import TrainConfig
from rectune.training.strategy import FinetuneStrategy

Phase = Literal["fit", "finetune", "partial_fit", "add_items"]

#: `TrainConfig` fields every model accepts in every phase (see the module docstring).
RUN_OPTIONS = frozenset({"seed", "threads", "progress", "warn_seconds"})

#: What an epoch-by-epoch gradient fine-tune honours (the SGD factor models and the torch
#: models share it; a model subtracts what it cannot do).
GRADIENT_STRATEGIES = frozenset(
    {
        "l2sp",
        "freeze",
        "clip_norm",
        "replay",
        "augment=pseudo",
        "schedule",
        "early_stopping",
        "new_ids=features",
        "new_ids=neighbors",
        "new_ids=text",
        "new_ids=zeros",
        "learning_rate",
        "epochs",
    }
)

#: How `Recommender.add_items` may start the rows of catalogue items without interactions
#: (every ``new_ids`` method but ``neighbors``, which needs interactions). A model declares
#: the subset that gives such an item a meaningful row; `add_items` always asks for one.
ITEM_ROW_STARTS = frozenset({"new_ids=text", "new_ids=features", "new_ids=mean", "new_ids=zeros"})

#: `TrainConfig` field -> the token it asks for.
TRAIN_TOKENS = {
    "learning_rate": "learning_rate",
    "epochs": "epochs",
    "schedule": "schedule",
    "warmup_epochs": "schedule",
    "early_stopping": "early_stopping",
}

#: Settings meaningful only with another: field -> (field it needs, values that enable it).
TRAIN_NEEDS = {
    "validation_fraction": ("early_stopping", None),
    "validation_metric": ("early_stopping", None),
}
STRATEGY_NEEDS: dict[str, tuple[str, tuple[Any, ...] | None]] = {
    "augment_ratio": ("augment", ("pseudo", "negatives", "popular-negatives")),
    "neighbors": ("new_ids", ("neighbors",)),
    "text_encoder": ("new_ids", ("text",)),
}


def explicit(cfg: ConfigBase) -> set[str]:
    """Fields set explicitly to a value other than their default."""
    fields = type(cfg).model_fields
    return {
        f
        for f in cfg.model_fields_set
        if getattr(cfg, f) != fields[f].get_default(call_default_factory=True)
    }


def _check_needs(cfg: ConfigBase, given: set[str], needs: dict[str, Any], prefix: str) -> None:
    for name, (other, values) in needs.items():
        if name not in given:
            continue
        value = getattr(cfg, other)
        enabled = value is not None if values is None else value in values
        if not enabled:
            wanted = other if values is None else f"{other}={'/'.join(values)}"
            raise ConfigError(f"{prefix}{name} applies only with {prefix}{wanted}; drop {name}")


def requested(
    phase: Phase,
    train: TrainConfig,
    strategy: FinetuneStrategy | None,
    *,
    new_ids_default: str = "mean",
) -> set[str]:
    """The tokens a run asks for (see the module docstring); ``new_ids_default`` is how new
    rows start when the strategy does not say (``partial_fit``: the model's own start)."""
    given = explicit(train)
    _check_needs(train, given, TRAIN_NEEDS, "train.")
    tokens = {TRAIN_TOKENS[f] for f in given if f in TRAIN_TOKENS}
    if strategy is None:
        return tokens
    set_fields = explicit(strategy)
    _check_needs(strategy, set_fields, STRATEGY_NEEDS, "")
    tokens |= strategy.used()
    if "new_ids" in strategy.model_fields_set and strategy.new_ids != new_ids_default:
        tokens.add(f"new_ids={strategy.new_ids}")
    return tokens


def check_honoured(
    model: Any,
    phase: Phase,
    train: TrainConfig,
    strategy: FinetuneStrategy | None = None,
) -> None:
    """Raise `ConfigError`, naming the setting(s) and the model, for what it cannot honour."""
    # add_items has no default start: whichever new_ids it runs with is asked for.
    default = {"partial_fit": model.partial_fit_init, "add_items": ""}.get(phase, "mean")
    wanted = requested(phase, train, strategy, new_ids_default=default)
    honoured = model.honoured_settings(phase)
    missing = sorted(t for t in wanted if not _honours(honoured, t, wanted))
    if missing:
        raise ConfigError(
            f"{model.name} cannot honour setting(s) {', '.join(missing)} in {phase}; it honours: "
            f"{', '.join(sorted(honoured)) or 'none'} (a+b: a only together with b)"
        )


def _honours(honoured: frozenset[str], token: str, wanted: set[str]) -> bool:
    """``token`` is declared, or declared as ``token+other`` with ``other`` also asked for."""
    if token in honoured:
        return True
    return any(h.startswith(token + "+") and h.split("+", 1)[1] in wanted for h in honoured)
