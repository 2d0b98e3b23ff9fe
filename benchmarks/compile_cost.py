"""First-run numba compile cost per model, with an empty kernel cache.

Usage: python benchmarks/compile_cost.py [--models baseline,item-knn,svd,svdpp,nmf]

Each model is fitted twice on a tiny dataset in a fresh process whose NUMBA_CACHE_DIR is a new
empty directory: the first fit pays compilation (and writes the cache), the second does not;
then a third process with the now-filled cache shows the cost of loading cached kernels.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

CHILD = """
import json, time
t0 = time.perf_counter()
from rectune.models import create_model
from rectune.testing import low_rank
data = low_rank()
t1 = time.perf_counter()
create_model({model!r}).fit(data).predict(data.user_ids, data.item_ids)
t2 = time.perf_counter()
create_model({model!r}).fit(data).predict(data.user_ids, data.item_ids)
t3 = time.perf_counter()
print(json.dumps({{"import": t1 - t0, "first": t2 - t1, "second": t3 - t2}}))
"""


def run(model: str, cache: str) -> dict:
    env = {**os.environ, "NUMBA_CACHE_DIR": cache}
    out = subprocess.run(
        [sys.executable, "-c", CHILD.format(model=model)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--models", default="baseline,item-knn,user-knn,svd,svdpp,nmf")
    args = ap.parse_args()
    print("| model | cold first fit s (compile) | warm fit s | first fit with cache filled s |")
    print("|---|---|---|---|")
    for model in args.models.split(","):
        with tempfile.TemporaryDirectory() as cache:
            t0 = time.perf_counter()
            cold = run(model, cache)
            cached = run(model, cache)
            del t0
        print(
            f"| {model} | {cold['first']:.2f} | {cold['second']:.3f} | {cached['first']:.3f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
