"""Registry changes under real injected I/O errors: ``strace -e inject=SYSCALL:error=EIO:when=N``.

For each change (``rectune registry add / promote / promote (refused) / rollback / gc``) and each
syscall group (fsync, rename, write), the CLI runs under strace on a fresh copy of a registry
with the N-th such call failing with EIO, for N = 1, 2, ... until strace no longer injects
(N passed the calls the change makes). After each run the registry is reopened without faults
and must show exactly the old state or exactly the state a fault-free run produces; a run whose
call was injected must report the error (non-zero exit). Prints one line per case and a
Markdown table for benchmarks/RESULTS.md.

    PYTHONPATH=src python benchmarks/registry_faults.py [--keep-dir DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from rectune.models.mf import SVD
from rectune.online import Registry
from rectune.testing import low_rank
from rectune.training import TrainConfig

SYSCALLS = {
    "fsync": "fsync,fdatasync",
    "rename": "rename,renameat,renameat2",
    "write": "write,pwrite64,writev",
}


def _strip(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _strip(v) for k, v in obj.items() if k not in ("at", "created_at")}
    if isinstance(obj, list):
        return [_strip(v) for v in obj]
    return obj


def snapshot(path: Path) -> Any:
    reg = Registry(path)
    state = reg.files.state
    return _strip([reg.list(), state["aliases"], state["history"], state["deleted"], reg.audit()])


def leftovers(path: Path) -> list[str]:
    names = [*os.listdir(path), *os.listdir(path / "versions")]
    return [n for n in names if n.startswith(".tmp-")]


def build(work: Path) -> dict[str, Path]:
    """Two artifacts (good, poor), held-out events, and the template registry."""
    data = low_rank(n_users=80, n_items=60, density=0.35, noise=0.1, seed=0)
    rows = np.random.default_rng(0).permutation(len(data))
    cut = int(0.8 * len(data))
    train, test = data.subset(np.sort(rows[:cut])), data.subset(np.sort(rows[cut:]))
    for name, epochs in (("good", 100), ("poor", 1)):
        m = SVD(embedding_size=3, epochs=epochs, learning_rate=0.05, reg=0.05)
        m.fit(train, train=TrainConfig(seed=0)).save(work / name)
    test.to_frame().to_csv(work / "held_out.csv", index=False)
    reg = Registry.init(work / "template", work / "good")
    reg.add(work / "good", parent=1)  # 2: passes the guard
    reg.add(work / "poor", parent=1)  # 3: fails it
    reg.add(work / "good", parent=1)  # 4
    reg.promote(4)  # champion 4, history [1]
    return {"good": work / "good", "data": work / "held_out.csv", "template": work / "template"}


def changes(w: dict[str, Path]) -> dict[str, list[str]]:
    guard = ["--guard", "rmse<=+0.01", "--data", str(w["data"])]
    return {
        "add": [
            "add",
            "{reg}",
            str(w["good"]),
            "--parent",
            "4",
            "--first-seq",
            "1",
            "--last-seq",
            "50",
        ],
        "promote": ["promote", "{reg}", "2", *guard],
        "promote (refused)": ["promote", "{reg}", "3", *guard],
        "rollback": ["rollback", "{reg}"],
        "gc": ["gc", "{reg}", "--keep", "1"],
    }


def run(args: list[str], reg: Path, strace: list[str] | None, log: Path) -> tuple[int, str, str]:
    """Exit code, last output line and all output of one CLI run (under strace if given)."""
    cmd = [sys.executable, "-m", "rectune.cli.main", "registry", *[a.format(reg=reg) for a in args]]
    if strace:
        cmd = ["strace", "-f", "-qq", "-y", "-o", str(log), *strace, *cmd]
    out = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "COLUMNS": "300"})
    lines = (out.stderr.strip() or out.stdout.strip()).splitlines()
    return out.returncode, lines[-1] if lines else "", out.stdout + out.stderr


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keep-dir", help="Work here (kept) instead of a temporary directory.")
    args = ap.parse_args()
    if shutil.which("strace") is None:
        sys.exit("strace not found: apt-get install -y strace")
    work = Path(args.keep_dir or tempfile.mkdtemp(prefix="regfaults-"))
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    w = build(work)
    old = snapshot(w["template"])
    rows = []
    t0 = time.perf_counter()
    for name, cli in changes(w).items():
        clean = work / "clean"
        shutil.rmtree(clean, ignore_errors=True)
        shutil.copytree(w["template"], clean)
        base_rc, _, _ = run(cli, clean, None, work / "log")
        new = snapshot(clean)
        for group, calls in SYSCALLS.items():
            stats = {
                "old": 0,
                "new": 0,
                "mixed": 0,
                "unreported": 0,
                "leftovers": 0,
                "elsewhere": 0,
            }
            example = ""
            n = 0
            while True:
                n += 1
                reg = work / "victim"
                shutil.rmtree(reg, ignore_errors=True)
                shutil.copytree(w["template"], reg)
                log = work / "strace.log"
                inject = ["-e", f"trace={calls}", "-e", f"inject={calls}:error=EIO:when={n}"]
                rc, last, text = run(cli, reg, inject, log)
                hits = [ln for ln in log.read_text().splitlines() if "INJECTED" in ln]
                after = snapshot(reg)
                if not hits:
                    assert rc == base_rc and after == new, f"{name}/{group}: clean run differs"
                    break
                kind = "old" if after == old else "new" if after == new else "mixed"
                stats[kind] += 1
                # -y prints the file behind each fd: was the failed call on a registry file?
                ours = str(reg) in hits[0]
                reported = rc != 0 and "Input/output error" in text
                stats["elsewhere"] += not ours
                stats["unreported"] += ours and not reported
                stats["leftovers"] += bool(leftovers(reg))
                if reported and last.startswith("error:") and not example:
                    example = last
                where = "registry" if ours else "elsewhere"
                print(
                    f"{name:18} {group:6} N={n:<3} {where:9} rc={rc} state={kind:5} | {last[:100]}"
                )
            rows.append((name, group, n - 1, stats, example))
    secs = time.perf_counter() - t0
    print(f"\n{len(rows)} cases in {secs:.0f}s\n")
    print(
        "| change | syscall | faulting calls N | old state | new state | mixed | "
        "not reported | leftovers | of which outside the registry |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for name, group, n, s, _ in rows:
        print(
            f"| {name} | {group} | {n} | {s['old']} | {s['new']} | {s['mixed']} | "
            f"{s['unreported']} | {s['leftovers']} | {s['elsewhere']} |"
        )
    examples = {e for *_, e in rows if e}
    if examples:
        print("\nexample error line: " + sorted(examples, key=len)[0])
    bad = sum(s["mixed"] + s["unreported"] + s["leftovers"] for *_, s, _ in rows)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
