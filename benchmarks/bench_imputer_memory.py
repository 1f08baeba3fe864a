"""What a fitted ChainedImputer keeps, before and after (issue 18, part 6); not a test.

Data: n = 100 000 rows x 10 numeric columns (float64, 8 MB), x0..x8 correlated,
y linear in them; 20% MAR missingness in x0, x1, x2 (rising with x9). For each
source tree (``--before``, default ``main``, checked out in a temporary git
worktree, and this working tree) and each of

- ``ChainedImputer(random_state=0).fit(X)`` (lrd, the default, max_iter = 10),
- ``MIPooledEstimator(LinearRegression(), ChainedImputer(), n_imputations=5,
  n_jobs=1, random_state=0).fit(X, y)``,

a fresh Python process fits once and reports the pickle size of the fitted
object and the peak RSS of the fit above the RSS before it
(``resource.getrusage`` high-water mark minus ``/proc/self/statm``), in MB and in
copies of X. Printed side by side.

Run: ``python benchmarks/bench_imputer_memory.py [--before main]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
N, P, M = 100_000, 10, 5
KINDS = ("ChainedImputer", "MIPooledEstimator (M = 5)")


def make_data(seed: int = 0):
    import numpy as np

    rng = np.random.default_rng(seed)
    cov = 0.5 * np.ones((P - 1, P - 1)) + 0.5 * np.eye(P - 1)
    Z = rng.multivariate_normal(np.zeros(P - 1), cov, size=N)
    x9 = rng.standard_normal(N)
    X = np.column_stack([Z, x9])
    y = X @ np.linspace(1, 0.1, P) + rng.standard_normal(N)
    for j in range(3):  # MAR on x9
        p = 1 / (1 + np.exp(-(x9 - 1.5)))
        X[rng.random(N) < p, j] = np.nan
    return X, y


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def child(kind: str) -> None:
    """Fit one object in this process and print its figures as JSON."""
    import pickle
    import resource

    from sklearn.linear_model import LinearRegression

    from skmipool import MIPooledEstimator
    from skmipool.impute import ChainedImputer

    X, y = make_data()
    before = _rss_bytes()
    if kind == KINDS[0]:
        fitted = ChainedImputer(random_state=0).fit(X)
    else:
        fitted = MIPooledEstimator(
            LinearRegression(), ChainedImputer(), n_imputations=M, n_jobs=1, random_state=0
        ).fit(X, y)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before
    size = len(pickle.dumps(fitted, protocol=pickle.HIGHEST_PROTOCOL))
    print(
        json.dumps(
            {
                "pickle": size,
                "peak": peak,
                "x": X.nbytes,
                "missing": float((X != X).mean(axis=0)[:3].mean()),
            }
        )
    )


def measure(tree: Path, kind: str) -> dict:
    env = dict(os.environ, PYTHONPATH=str(tree), OPENBLAS_NUM_THREADS="1")
    out = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", kind],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--before", default="main", help="git revision to compare with")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    with tempfile.TemporaryDirectory() as tmp:
        old = Path(tmp) / "before"
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(old), args.before],
            check=True,
            capture_output=True,
        )
        try:
            rows = [
                (label, kind, measure(tree, kind))
                for kind in KINDS
                for label, tree in ((f"before ({args.before})", old), ("after", ROOT))
            ]
        finally:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(old)], check=True
            )
    x = rows[0][2]["x"]
    mb = 2**20
    print(f"n = {N}, p = {P}, X = {x / mb:.1f} MB; missing in x0..x2: {rows[0][2]['missing']:.0%}")
    print(
        f"{'object':28s} {'tree':16s} {'pickle MB':>10s} {'copies of X':>12s} "
        f"{'fit peak MB':>12s} {'copies of X':>12s}"
    )
    for label, kind, r in rows:
        print(
            f"{kind:28s} {label:16s} {r['pickle'] / mb:10.2f} {r['pickle'] / x:12.2f} "
            f"{r['peak'] / mb:12.1f} {r['peak'] / x:12.2f}"
        )


if __name__ == "__main__":
    main()
