"""`run_demo`: the whole life on the embedded default, in one process, in about a minute.

Train SVD on the older 80% of a dataset (synthetic by default, or a MovieLens directory), put
it in a registry as ``champion``, start the service on SQLite (`rectune serve` with the updater
on) on loopback, then stream the newer events into it over HTTP with `rectune.client` (retries
reuse event ids) and print each promotion with its prequential accuracy as it happens. The
dashboard URL is printed first; ``keep_serving`` leaves the service up after the stream.
"""

from __future__ import annotations

import secrets
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from rectune.client import Client
from rectune.data.interactions import Interactions
from rectune.errors import ConfigError
from rectune.models import create_model
from rectune.online.registry import Registry
from rectune.online.store import EventStore
from rectune.serving.app import create_app
from rectune.serving.settings import ServeSettings, default_store_url


def free_port() -> int:
    """A free TCP port on 127.0.0.1 (for ``port=0``)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def prepare(root: Path, data: Interactions, *, fraction: float = 0.8) -> tuple[Interactions, str]:
    """Fit the champion on the older part, make the registry and store; the newer part."""
    if len(data) < 100 or data.timestamps is None:
        raise ConfigError("the demo needs at least 100 time-stamped interactions")
    order = np.argsort(data.timestamps, kind="stable")
    n0 = int(len(order) * fraction)
    base, stream = data.subset(order[:n0]), data.subset(order[n0:])
    create_model("svd", epochs=10).fit(base).save(root / "base")
    Registry.init(root / "reg", root / "base")
    url = default_store_url(str(root / "reg"))
    with EventStore(url) as store:
        if data.item_text is not None and len(data.item_text):
            text = data.item_text
            store.append_items([{"item_id": i, "text": t} for i, t in text.items()])
    return stream, url


def run_demo(
    root: str | Path,
    data: Interactions,
    *,
    seconds: float = 40.0,
    rate: float = 300.0,
    port: int = 0,
    keep_serving: bool = False,
    say: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Run the demo (see the module docstring); returns what it streamed and promoted."""
    import uvicorn

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    stream, url = prepare(root, data)
    token = secrets.token_hex(16)
    (root / "token").write_text(token + "\n")
    settings = ServeSettings.from_dict(
        {
            "registry": str(root / "reg"),
            "store": url,
            "token_file": str(root / "token"),
            "every_events": 500,
            "every_seconds": 2.0,
        }
    )
    port = port or free_port()
    config = uvicorn.Config(
        create_app(settings.registry, settings.store, settings),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="on",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="rectune-demo-server", daemon=True)
    thread.start()
    base_url = f"http://127.0.0.1:{port}"
    client = Client(base_url, token=token)
    try:
        _wait_ready(client)
        say(f"dashboard: {base_url}/   (registry {root / 'reg'}, store {url})")
        report = _stream(client, stream, seconds, rate, say)
        if keep_serving:
            say("serving until Ctrl-C")
            while thread.is_alive():
                thread.join(1.0)
    finally:
        client.close()
        server.should_exit = True
        thread.join(15.0)
    return report


def _wait_ready(client: Client, timeout: float = 60.0) -> None:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        try:
            if client.ready():
                return
        except Exception:  # not listening yet
            pass
        time.sleep(0.1)
    raise ConfigError("the demo service did not become ready in time")


def _stream(
    client: Client, stream: Interactions, seconds: float, rate: float, say: Callable[[str], None]
) -> dict[str, Any]:
    """Send the stream in batches of 50 at ``rate`` events/s; report promotions as they come."""
    t0 = time.monotonic()
    sent, shown, k = 0, 1, 0
    batch = 50
    while sent < len(stream) and time.monotonic() - t0 < seconds:
        hi = min(sent + batch, len(stream))
        client.send_events(
            [
                {
                    "user_id": _plain(stream.user_ids[j]),
                    "item_id": _plain(stream.item_ids[j]),
                    "value": float(stream.values[j]),
                    "timestamp": int(stream.timestamps[j]),  # type: ignore[index]
                }
                for j in range(sent, hi)
            ]
        )
        sent, k = hi, k + 1
        shown = _show_new_versions(client, shown, say)
        pause = t0 + sent / rate - time.monotonic()
        if pause > 0:
            time.sleep(pause)
    deadline = time.monotonic() + 20.0  # let the updater take in the last events
    while time.monotonic() < deadline:
        shown = _show_new_versions(client, shown, say)
        if (client.models().get("updater") or {}).get("lag_events", 1) == 0:
            break
        time.sleep(0.5)
    version, consumed = _champion(client)
    say(f"streamed {sent} events; champion v{version} holds the store through seq {consumed}")
    return {"sent": sent, "champion": version, "versions": shown, "consumed_seq": consumed}


def _champion(client: Client) -> tuple[int, int]:
    rows = client.models()["versions"]
    champ = next(r for r in rows if "champion" in r["aliases"])
    ev = champ.get("events") or {}
    return int(champ["version"]), int(ev.get("last_seq", 0))


def _show_new_versions(client: Client, shown: int, say: Callable[[str], None]) -> int:
    for row in client.models()["versions"]:
        if row["version"] <= shown:
            continue
        preq = (row.get("metrics") or {}).get("prequential") or {}
        ev = row.get("events") or {}
        guard = row.get("guard") or {}
        verdict = guard.get("action", "pending")
        score = ", ".join(f"{k} {v:.4f}" for k, v in preq.items() if k != "n" and v is not None)
        say(
            f"v{row['version']}: events {ev.get('first_seq')}..{ev.get('last_seq')}, "
            f"prequential {score or 'n/a'}, {verdict}"
        )
        shown = row["version"]
    return shown


def _plain(v: Any) -> Any:
    return v.item() if hasattr(v, "item") else v


__all__ = ["free_port", "prepare", "run_demo"]
