"""A throwaway PostgreSQL server for tests and benchmarks (``initdb`` + ``pg_ctl``).

`PgServer.start()` creates a cluster in a temporary directory, starts it on 127.0.0.1 on a
free port with ``fsync=on`` (the durability the store checks), and `stop()` removes it. As
root the binaries run as the ``postgres`` user (created if missing), since PostgreSQL refuses
to run as root. `find_binaries()` says where ``initdb`` is, or None when none is installed.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

_DEB_GLOB = "/usr/lib/postgresql/*/bin"


def find_binaries() -> Path | None:
    """The directory holding ``initdb`` and ``pg_ctl`` (PATH first, then Debian's layout)."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).parent
    for d in sorted(glob.glob(_DEB_GLOB), key=lambda p: int(Path(p).parent.name), reverse=True):
        if (Path(d) / "initdb").exists() and (Path(d) / "pg_ctl").exists():
            return Path(d)
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PgServer:
    """One PostgreSQL cluster in a temporary directory; `url` connects as the superuser."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="rectune-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self.user = "postgres"
        self._as: list[str] = []
        if os.geteuid() == 0:
            known = subprocess.run(["id", "-u", "postgres"], capture_output=True, check=False)
            if known.returncode:
                subprocess.run(["useradd", "--system", "postgres"], check=True)
            shutil.chown(self.root, "postgres")
            os.chmod(self.root, 0o700)
            self._as = ["runuser", "-u", "postgres", "--"]

    @property
    def url(self) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        cmd = [*self._as, *args]
        out = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if out.returncode:
            raise RuntimeError(f"{' '.join(args[:2])} failed: {out.stderr.strip()[-400:]}")

    def start(self) -> PgServer:
        b = self.bindir
        self._run(
            str(b / "initdb"), "-D", str(self.data), "-U", self.user, "--auth=trust", "-E", "UTF8"
        )
        opts = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=on "
            "-c max_connections=50"
        )
        self._run(
            str(b / "pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            opts,
            "-l",
            str(self.root / "log"),
            "-w",
            "start",
        )
        return self

    def stop(self) -> None:
        try:
            self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
