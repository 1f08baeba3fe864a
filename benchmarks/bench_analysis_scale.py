"""What MIPooledEstimator.fit spends outside the imputer at n = 10^6 x 10 (issue 18, part 6).

Data: ``bench_imputer_memory.make_data(n=N, p=P)`` with N = 1 000 000, P = 10 (float64, 76 MB;
x0..x8 correlated, y linear in them, MAR missingness in x0, x1, x2), as a DataFrame
with columns x0..x9. The fit:
``MIPooledEstimator(LinearRegression(), ChainedImputer(max_iter=5), n_imputations=2,
n_jobs=1, random_state=0).fit(X, y)``.

For each source tree (``--before``, default ``main``, checked out in a temporary git
worktree, and this working tree), fresh Python processes (PYTHONPATH set to the tree,
OPENBLAS_NUM_THREADS=1) report

- the wall time of the fit (best of ``--repeats`` processes, the trees alternating) and
  its peak RSS above the RSS before it (``ru_maxrss`` minus ``/proc/self/statm``), in
  copies of X;
- in one more process under cProfile, the cumulative time of the pieces this branch
  changed: ``_check_solves_score`` and ``_linear_regression`` (the coefficient
  adapter, both fits), ``_check_constant_columns`` and ``check_observed_collinearity``;
- the analysis step alone on a complete X: the tracemalloc peak of
  ``LinearRegression().fit(X, y)`` and of ``coef_estimate(fitted, X, y)``, in copies
  of X.

Run: ``python benchmarks/bench_analysis_scale.py [--before main] [--repeats 3]``. skmipool
is imported at the top of this file, so each process measures the tree on its PYTHONPATH.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import resource
import time
import tracemalloc
from pathlib import Path

import bench_imputer_memory
import pandas as pd
from _bench_common import ROOT, run_child, worktree
from sklearn.linear_model import LinearRegression

from skmipool import MIPooledEstimator
from skmipool._adapters import coef_estimate
from skmipool.impute import ChainedImputer

N, P, M = 1_000_000, 10, 2
PIECES = (
    "_check_solves_score",
    "_linear_regression",
    "_check_constant_columns",
    "check_observed_collinearity",
)


def _data():
    X, y = bench_imputer_memory.make_data(n=N, p=P)
    return X, pd.DataFrame(X, columns=[f"x{j}" for j in range(P)]), y


def _estimator():
    return MIPooledEstimator(
        LinearRegression(), ChainedImputer(max_iter=5), n_imputations=M, n_jobs=1, random_state=0
    )


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def child(kind: str) -> dict:
    """One measurement in this process."""
    X, frame, y = _data()
    est = _estimator()
    if kind == "fit":
        before = _rss_bytes()
        start = time.perf_counter()
        est.fit(frame, y)
        seconds = time.perf_counter() - start
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before
        return {"seconds": seconds, "peak": peak / X.nbytes}
    if kind == "profile":
        profile = cProfile.Profile()
        profile.runcall(est.fit, frame, y)
        stats = pstats.Stats(profile).stats
        out = dict.fromkeys(PIECES, 0.0)
        for (path, _, name), (_, _, _, cumulative, _) in stats.items():
            if name in out and "skmipool" in path:
                out[name] += cumulative
        return out
    # the analysis step alone, on a complete X (missing values set to 0)
    complete = frame.fillna(0.0)
    tracemalloc.start()
    fitted = LinearRegression().fit(complete, y)
    fit_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    coef_estimate(fitted, complete, y)
    adapter_peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    return {"lr_fit": fit_peak / X.nbytes, "adapter": adapter_peak / X.nbytes}


def measure(tree: Path, kind: str) -> dict:
    return run_child(Path(__file__), ["--child", kind], tree)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--before", default="main", help="git revision to compare with")
    parser.add_argument("--repeats", type=int, default=3, help="fit processes per tree")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child)))
        return
    with worktree(args.before) as old:
        trees = {f"before ({args.before})": old, "after": ROOT}
        fits = {label: [] for label in trees}
        for _ in range(args.repeats):  # alternating, so that load hits both alike
            for label, tree in trees.items():
                fits[label].append(measure(tree, "fit"))
        profiles = {label: measure(tree, "profile") for label, tree in trees.items()}
        analysis = {label: measure(tree, "analysis") for label, tree in trees.items()}
    labels = list(trees)
    print(
        f"n = {N} x {P}, M = {M}, X = {N * P * 8 / 2**20:.0f} MB; fit: best of {args.repeats} "
        f"processes; pieces: cProfile cumulative seconds, both fits"
    )
    print(f"| measure | {' | '.join(labels)} |")
    print(f"|---|{'---:|' * len(labels)}")
    rows = [
        ("fit wall time, s", [min(r["seconds"] for r in fits[lb]) for lb in labels], "{:.2f}"),
        (
            "fit peak RSS, copies of X",
            [min(r["peak"] for r in fits[lb]) for lb in labels],
            "{:.2f}",
        ),
    ]
    rows += [(f"{p}, s", [profiles[lb][p] for lb in labels], "{:.3f}") for p in PIECES]
    rows += [
        (
            "analysis alone: LinearRegression.fit peak, copies of X",
            [analysis[lb]["lr_fit"] for lb in labels],
            "{:.2f}",
        ),
        (
            "analysis alone: coef_estimate peak, copies of X",
            [analysis[lb]["adapter"] for lb in labels],
            "{:.2f}",
        ),
    ]
    for name, values, fmt in rows:
        print(f"| {name} | {' | '.join(fmt.format(v) for v in values)} |")


if __name__ == "__main__":
    main()
