"""`ServeSettings`: what one service process needs to know, as a frozen, JSON round-trippable
config (``rectune serve --workers N`` hands it to each worker through ``RECTUNE_SERVE``).

The bearer token itself never travels in the settings or the environment: only the path of
the file holding it, read once when the app is created.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from pydantic import Field

from rectune.config import ConfigBase
from rectune.errors import ConfigError

#: The environment variable carrying the settings to ``uvicorn --workers`` processes.
ENV_VAR = "RECTUNE_SERVE"
#: The largest list any route answers (``n``): a bound the OpenAPI schema states.
MAX_N = 1000


def default_store_url(registry: str | os.PathLike[str]) -> str:
    """The embedded default store: ``sqlite:///REG/events.db`` (an absolute path)."""
    return "sqlite:///" + str(Path(registry).resolve() / "events.db")


class ServeSettings(ConfigBase):
    """Settings of the service (`rectune.serving.create_app`)."""

    registry: str
    """The registry directory whose ``alias`` is served."""
    store: str
    """The event store URL (``sqlite:///PATH`` or ``postgresql://...``)."""
    alias: str = "champion"
    """The alias served, followed when it moves, and promoted by ``POST .../promote``."""
    token_file: str | None = None
    """File holding the bearer token that every write route requires (None: writes are open;
    the CLI then binds loopback only)."""
    update: bool = True
    """Run the updater (`rectune.online.Updater`) beside the service, in a child process."""
    updater_nice: int = Field(19, ge=0, le=19)
    """How much lower the updater's CPU priority is than the service's (``nice``): on a busy
    core requests go first and the updater's lag grows instead (at 19 the updater gets about
    1.5% of a core the service wants whole; an idle core is all the updater's)."""
    every_events: int = Field(1000, ge=1)
    """The updater starts a cycle once this many new events are stored..."""
    every_seconds: float = Field(10.0, gt=0)
    """...or this many seconds after the last cycle, when any event is new."""
    poll_seconds: float = Field(0.5, gt=0, le=60)
    """How often the registry's state file is checked for a moved alias."""
    max_body_bytes: int = Field(4 * 1024 * 1024, ge=1024)
    """Largest request body; a larger one is answered 413 before it is read."""
    max_events: int = Field(10_000, ge=1)
    """Most events (or item records) in one write request (more: 413)."""
    max_users: int = Field(1000, ge=1)
    """Most users in one batch recommendation (more: 413)."""
    max_session_items: int = Field(200, ge=1)
    """Most recent items in one anonymous-session recommendation (more: 413)."""
    max_in_flight: int = Field(64, ge=1)
    """Requests handled at once; beyond that a request is answered 503 at once (probes and
    /metrics are exempt)."""
    shed_lag_ms: float = Field(20.0, gt=0)
    """Target wait of a request before it is read: once requests have waited longer for all
    of the last 100 ms (a standing queue), a fraction of the reads is answered 503 at once
    until the wait is back under it (`rectune.serving.shedding`). 20 ms is the service's p99
    goal: a queue standing above it loses the goal anyway; below it, late beats refused."""
    guard_events: int = Field(5000, ge=1)
    """Held-out events a promotion's guard is scored on: the most recent stored events that
    neither the candidate nor the current version consumed."""
    graceful_seconds: float = Field(10.0, gt=0)
    """On SIGTERM, how long in-flight requests may take before they are cancelled."""
    data: str | None = None
    """A dataset directory (any format `rectune.data.load` reads) whose item text gives the
    dashboard its item titles (None: titles only from posted item records, else ids)."""
    sample_seconds: float = Field(1.0, gt=0, le=60)
    """How often the dashboard's live series (ingest rate, lag, latency) take a sample."""
    mlflow: bool = False
    """Log the updater's session to MLflow: one run, a step per cycle
    (`rectune.tracking.record.UpdaterRun`), opened by the process that holds the updater lock
    at its first cycle (needs ``rectune[mlflow]``). On when ``mlflow_uri`` or
    ``mlflow_experiment`` is set."""
    mlflow_uri: str | None = None
    """MLflow tracking URI of that run (None: ``MLFLOW_TRACKING_URI``, else MLflow's default)."""
    mlflow_experiment: str | None = None
    """MLflow experiment of that run (None: ``MLFLOW_EXPERIMENT_NAME``, else the default)."""

    @property
    def tracking(self) -> bool:
        """Whether the updater's session is logged to MLflow."""
        return bool(self.mlflow or self.mlflow_uri or self.mlflow_experiment)

    def to_env(self) -> str:
        """The settings as the JSON value of ``RECTUNE_SERVE``."""
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> ServeSettings:
        """Read the settings from ``RECTUNE_SERVE`` (set by ``rectune serve --workers N``)."""
        env = os.environ if environ is None else environ
        raw = env.get(ENV_VAR)
        if not raw:
            raise ConfigError(f"{ENV_VAR} is not set: start the service with `rectune serve`")
        try:
            values = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{ENV_VAR} is not JSON: {exc}") from None
        return cls.from_dict(values)


def read_token(path: str | os.PathLike[str] | None) -> str | None:
    """The bearer token in ``path`` (surrounding whitespace removed), or None without a path.

    A missing, unreadable or empty file, or a token with characters a header cannot carry,
    is a `ConfigError` naming the file.
    """
    if path is None:
        return None
    try:
        token = Path(path).read_text().strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"token file {path}: cannot read it ({exc})") from None
    if not token:
        raise ConfigError(f"token file {path}: is empty")
    if any(not (0x21 <= ord(c) <= 0x7E) for c in token):
        raise ConfigError(f"token file {path}: the token must be printable ASCII without spaces")
    return token
