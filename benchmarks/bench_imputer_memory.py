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
from pathlib import Path

from _bench_common import ROOT, run_child, worktree

HERE = Path(__file__).resolve().parent
N, P, M = 100_000, 10, 5
KINDS = ("ChainedImputer", "MIPooledEstimator (M = 5)")


def make_data(
    seed: int = 0, n: int = N, p: int = P, n_incomplete: int = 3, order: str = "C", chunk=8192
):
    """X (n x p, float64) and y: x0..x_{p-2} equicorrelated (rho = 0.5), x_{p-1} independent
    of them, y linear in all; MAR missingness in x0..x_{n_incomplete-1} rising with
    x_{p-1} (about 20% each).

    The rows are drawn in chunks straight into X (``order="F"`` gives the column-major
    layout of a DataFrame's block, wrapped without a copy), so that generating X costs
    little more than X itself even at n = 10^7; the draws and their order are those of
    ``rng.multivariate_normal`` on the whole (its SVD factor, the same stream): at the
    defaults X and y equal the original ``multivariate_normal`` + ``column_stack``
    version bit for bit.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    cov = 0.5 * np.ones((p - 1, p - 1)) + 0.5 * np.eye(p - 1)
    u, s, _ = np.linalg.svd(cov)
    factor_t = (u * np.sqrt(s)).T  # multivariate_normal(method="svd") draws z @ factor_t
    X = np.empty((p, n)).T if order == "F" else np.empty((n, p))
    for a in range(0, n, chunk):
        b = min(a + chunk, n)
        X[a:b, : p - 1] = rng.standard_normal((b - a, p - 1)) @ factor_t
    X[:, p - 1] = rng.standard_normal(n)  # drives the missingness
    beta = np.linspace(1, 0.1, p)
    y = np.empty(n)
    for a in range(0, n, chunk):  # row-major chunks: the same sums as a C-ordered X @ beta
        y[a : a + chunk] = np.ascontiguousarray(X[a : a + chunk]) @ beta
    y += rng.standard_normal(n)
    prob = 1 / (1 + np.exp(-(X[:, p - 1] - 1.5)))  # MAR on x_{p-1}
    for j in range(n_incomplete):
        X[rng.random(n) < prob, j] = np.nan
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
    return run_child(Path(__file__).resolve(), ["--child", kind], tree)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--before", default="main", help="git revision to compare with")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    with worktree(args.before) as old:
        rows = [
            (label, kind, measure(tree, kind))
            for kind in KINDS
            for label, tree in ((f"before ({args.before})", old), ("after", ROOT))
        ]
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
