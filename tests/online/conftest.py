"""Event-store fixtures: every store test runs on SQLite and on a real PostgreSQL server.

PostgreSQL comes from ``RECTUNE_PG_URL`` when set, else from a throwaway server started here
with ``initdb``/``pg_ctl`` (`rectune.testing.pgserver`); the PostgreSQL cases skip, saying
why, only when no PostgreSQL binaries are installed. Each test gets its own schema.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from rectune.testing.pgserver import PgServer, find_binaries

BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(scope="session")
def pg_base_url() -> Iterator[str]:
    """A PostgreSQL server for the session (``RECTUNE_PG_URL`` or a throwaway one)."""
    given = os.environ.get("RECTUNE_PG_URL")
    if given:
        yield given
        return
    bindir = find_binaries()
    if bindir is None:
        if os.environ.get("CI") == "true":  # CI must run the PostgreSQL cases, never skip them
            pytest.fail("CI=true but no PostgreSQL binaries: .ci/run installs postgresql")
        pytest.skip(
            "no PostgreSQL binaries (initdb/pg_ctl) on PATH or in /usr/lib/postgresql/*/bin and "
            "RECTUNE_PG_URL not set; .ci/run installs Debian's postgresql package"
        )
    server = PgServer(bindir).start()
    try:
        yield server.url
    finally:
        server.stop()


def _with_schema(base: str, schema: str) -> str:
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options=-csearch_path%3D{schema}"


@pytest.fixture
def new_store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], str]]:
    """A factory of fresh, empty store URLs on the backend in ``request.param``."""
    backend = request.param
    made: list[str] = []
    if backend == "sqlite":

        def make() -> str:
            return f"sqlite:///{tmp_path / f'events-{uuid.uuid4().hex[:8]}.db'}"

        yield make
        return
    base = request.getfixturevalue("pg_base_url")
    import psycopg

    admin = psycopg.connect(base, autocommit=True)

    def make_pg() -> str:
        schema = f"t_{uuid.uuid4().hex[:12]}"
        admin.execute(f"CREATE SCHEMA {schema}")
        made.append(schema)
        return _with_schema(base, schema)

    try:
        yield make_pg
    finally:
        for schema in made:
            admin.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        admin.close()


@pytest.fixture
def store_url(new_store_url: Callable[[], str]) -> str:
    """One fresh store URL."""
    return new_store_url()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run every test that uses a store URL on both backends."""
    if "new_store_url" in metafunc.fixturenames:
        metafunc.parametrize("new_store_url", BACKENDS, indirect=True)
