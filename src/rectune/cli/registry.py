"""``rectune registry``: versions, aliases moved through a guard, rollback and gc.

A refused promotion (verification or guard) exits 2 with one line naming the metric and both
values; the alias stays where it was. Every error is one line and exit code 2.
"""

from __future__ import annotations

import json

import typer

from rectune.cli._common import FORMATS, console, err_console, load_data, user_errors

app = typer.Typer(help="Model versions, aliases, guarded promotion, rollback and gc.")


def _registry(reg: str):  # type: ignore[no-untyped-def]
    from rectune.online.registry import Registry

    return Registry(reg)


@app.command("init")
def init(
    reg: str = typer.Argument(..., help="Registry directory (created)."),
    artifact: str = typer.Option(..., "--from", help="Artifact directory of version 1."),
    last_seq: int | None = typer.Option(
        None,
        "--last-seq",
        help="Store events 1..SEQ the artifact already learned (the updater starts after).",
    ),
) -> None:
    """Create a registry holding ARTIFACT as version 1, with the alias champion on it."""
    from rectune.online.registry import Registry

    with user_errors():
        Registry.init(reg, artifact, events=None if not last_seq else (1, last_seq))
    console.print(f"created registry {reg}: version 1, champion -> 1")


@app.command("add")
def add(
    reg: str = typer.Argument(..., help="Registry directory."),
    artifact: str = typer.Argument(..., help="Artifact directory to add."),
    parent: int | None = typer.Option(
        None, "--parent", help="Parent version (default: the one its lineage names)."
    ),
    first_seq: int | None = typer.Option(None, "--first-seq", help="First event consumed."),
    last_seq: int | None = typer.Option(None, "--last-seq", help="Last event consumed."),
) -> None:
    """Add ARTIFACT as a new version; no alias moves."""
    from rectune.online.registry import events_range

    with user_errors():
        r = _registry(reg)
        n = r.add(
            artifact,
            parent="auto" if parent is None else parent,
            events=events_range(first_seq, last_seq),
        )
    console.print(f"added version {n} to {reg} (parent {r.resolve(n).parent})")


@app.command("list")
def list_versions(
    reg: str = typer.Argument(..., help="Registry directory."),
    as_json: bool = typer.Option(False, "--json", help="Print the versions as JSON."),
) -> None:
    """List the versions, their aliases, lineage, consumed events and metrics."""
    with user_errors():
        rows = _registry(reg).list()
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        ev = row["events"]
        span = f"events {ev['first_seq']}..{ev['last_seq']} ({ev['count']})" if ev else "no events"
        aliases = f" [{', '.join(row['aliases'])}]" if row["aliases"] else ""
        broken = f"  ERROR {row['error']}" if row.get("error") else ""
        console.print(
            f"v{row['version']}{aliases}  parent {row['parent']}  {row['created_at']}  {span}"
            f"{broken}",
            markup=False,
            highlight=False,
        )


@app.command("promote")
def promote(
    reg: str = typer.Argument(..., help="Registry directory."),
    version: int = typer.Argument(..., help="Version to promote."),
    alias: str = typer.Option("champion", "--alias", help="Alias to move."),
    guard: str | None = typer.Option(
        None, "--guard", help="e.g. 'rmse<=+0.005' or 'ndcg@10>=-0.01' (comma-separated)."
    ),
    force: bool = typer.Option(
        False, "--force", help="Skip the accuracy check (the artifact is still verified)."
    ),
    data: str | None = typer.Option(
        None, "--data", help="Held-out recent events the guard scores both versions on."
    ),
    fmt: str = typer.Option("auto", "--format", help=f"Format of --data: {', '.join(FORMATS)}."),
    store: str | None = typer.Option(
        None,
        "--store",
        help="Score the guard on this store's events after what both versions consumed "
        "(instead of --data).",
    ),
    newest: int | None = typer.Option(
        None, "--newest", help="With --store: only the newest N of those events."
    ),
) -> None:
    """Move ALIAS to VERSION if it verifies and passes the guard; exit 2 if refused."""
    from rectune.errors import ConfigError
    from rectune.online.guard import parse_guard, unseen_events
    from rectune.online.store import EventStore

    with user_errors():
        rules = parse_guard(guard) if guard is not None else None
        if store is not None and data is not None:
            raise ConfigError("--store and --data both give held-out events: pass one")
        if newest is not None and store is None:
            raise ConfigError("--newest needs --store")
        r = _registry(reg)
        held_out = load_data(data, fmt) if data is not None else None
        if store is not None:
            with EventStore(store) as events:
                held_out = unseen_events(events, r, version, alias, newest=newest)
        result = r.promote(version, alias=alias, guard=rules, data=held_out, force=force)
    if not result.accepted:
        err_console.print(f"[bold red]refused:[/] {result.reason}", highlight=False)
        raise typer.Exit(2)
    checks = "; ".join(c.describe() for c in result.checks)
    console.print(
        f"{alias} -> {version} (was {result.from_version})" + (f": {checks}" if checks else ""),
        highlight=False,
    )


@app.command("rollback")
def rollback(
    reg: str = typer.Argument(..., help="Registry directory."),
    alias: str = typer.Option("champion", "--alias", help="Alias to move back."),
) -> None:
    """Move ALIAS back to its previous target (repeatable)."""
    with user_errors():
        result = _registry(reg).rollback(alias)
    if not result.accepted:
        err_console.print(f"[bold red]refused:[/] {result.reason}", highlight=False)
        raise typer.Exit(2)
    console.print(f"{alias} -> {result.to_version} (was {result.from_version})")


@app.command("gc")
def gc(
    reg: str = typer.Argument(..., help="Registry directory."),
    keep: int = typer.Option(
        10, "--keep", help="Newest versions to keep (aliased and rollback targets are always kept)."
    ),
) -> None:
    """Delete old versions that no alias points at or may roll back to."""
    with user_errors():
        deleted = _registry(reg).gc(keep)
    console.print(f"deleted {len(deleted)} version(s)" + (f": {deleted}" if deleted else ""))
