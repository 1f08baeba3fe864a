"""How close ChainedImputer runs to the time of the NumPy primitives it needs (issue 18,
part 6); not a test.

For one data set and one method, the script times, on the same arrays and in the
same process, the NumPy operations that any implementation of the chain must run,
and then ``ChainedImputer(method=..., max_iter=T).fit_transform(X)``; the ratio
bound / actual is the share of the fit spent in those primitives (1 = no overhead).

The primitives (each timed as the best of ``--repeat`` runs, summed over the
column visits of all T sweeps):

once
    copy the columns into a new float array (encoding), the NaN mask, the design
    matrix D = values - observed means (a new array), its cross-products D'D;
per visit of an incomplete column (n_obs observed, n_mis missing rows, q design
columns)
    norm: gather the missing rows of D (``take``), their predictions (gemv),
    n_mis normal draws, the update of D'D from the changed rows (B'Δ, a gemv),
    and the write-back of the imputed values into D;
    pmm and lrd, in addition: the fitted values of all rows (gemv, n x q), the
    n_obs bootstrap draws, sorting the n_obs bootstrapped predictions, sorting
    the n_mis queries, ``searchsorted`` of the sorted queries among the donors
    and the n_mis donor draws.

Not counted: the q x q algebra of each fit (Cholesky, eigenvalues), Python
overhead, validation, encoding checks and the output frame; these are what
the ratio measures.

A second ratio also counts, per visit, the cross-products of the missing rows
(``B'B`` and ``1'B``, n_mis x q^2): a fit needs the observed rows' moments, D'D minus
those of the missing rows, and on a narrow design the chain recomputes them (wide
designs keep them up to date by a masked product instead, ``tracking_pays``).

Run: ``python benchmarks/bench_imputer_bound.py [--n 1000000] [--p 10]
[--incomplete 3] [--max-iter 5] [--methods norm pmm lrd]``.
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
from _bench_common import best_of
from threadpoolctl import threadpool_limits

from skmipool.impute import ChainedImputer


def make_frame(n: int, p: int, incomplete: int, seed: int = 0) -> pd.DataFrame:
    """Correlated columns (pairwise 0.5), about 20% MAR missingness in the first
    ``incomplete`` columns, driven by the last one (as bench_imputer_memory.make_data)."""
    rng = np.random.default_rng(seed)
    X = np.empty((n, p), order="F")
    common = rng.standard_normal(n)
    for j in range(p - 1):
        X[:, j] = np.sqrt(0.5) * common + np.sqrt(0.5) * rng.standard_normal(n)
    X[:, p - 1] = rng.standard_normal(n)
    chance = 1 / (1 + np.exp(-(X[:, p - 1] - 1.5)))
    for j in range(incomplete):
        X[rng.random(n) < chance, j] = np.nan
    return pd.DataFrame(X, columns=[f"x{j}" for j in range(p)], copy=False)


def bound(frame: pd.DataFrame, method: str, max_iter: int, repeat: int) -> dict[str, float]:
    """Seconds of each primitive, summed over the chain (the missing rows' cross-products
    under the key "missing-row moments", outside the bound proper)."""
    rng = np.random.default_rng(1)
    n, p = frame.shape

    def encode():  # into a new array, as the fit must (the first touch of its pages counts)
        out = np.empty((n, p), order="F")
        for j in range(p):
            out[:, j] = frame.iloc[:, j].to_numpy()
        return out

    t = {"encode": best_of(encode, repeat)}
    values = encode()
    missing = np.isnan(values)
    t["NaN mask"] = best_of(lambda: np.isnan(values), repeat)
    offsets = np.nanmean(values, axis=0)
    values[missing] = 0.0
    design = np.subtract(values, offsets, out=np.empty((n, p)))
    t["design"] = best_of(lambda: np.subtract(values, offsets, out=np.empty((n, p))), repeat)
    t["D'D"] = best_of(lambda: design.T @ design, repeat)
    weights = rng.standard_normal(p)
    donors = method in ("pmm", "lrd")
    per_visit = dict.fromkeys(
        ["gather", "gemv (missing)", "draws", "D'D update", "write-back", "missing-row moments"]
        + (
            ["gemv (all rows)", "bootstrap", "sort donors", "sort queries", "searchsorted"]
            if donors
            else []
        ),
        0.0,
    )
    for j in [j for j in range(p) if missing[:, j].any()]:
        mis = np.flatnonzero(missing[:, j])
        n_obs = n - mis.size
        B = design.take(mis, axis=0)
        pred = B @ weights
        delta = rng.standard_normal((mis.size, 1))
        step = {
            "gather": best_of(lambda: design.take(mis, axis=0), repeat),  # noqa: B023
            "gemv (missing)": best_of(lambda: B @ weights, repeat),  # noqa: B023
            "draws": best_of(lambda: rng.standard_normal(mis.size), repeat),  # noqa: B023
            "D'D update": best_of(lambda: B.T @ delta, repeat),  # noqa: B023
            "missing-row moments": best_of(
                lambda: (B.T @ B, np.ones(B.shape[0]) @ B),  # noqa: B023
                repeat,
            ),
            "write-back": best_of(lambda: design.__setitem__((mis, j), pred), repeat),  # noqa: B023
        }
        if donors:
            fitted = design @ weights
            boot = rng.integers(0, n_obs, n_obs)
            donor_pred = np.sort(fitted[:n_obs])
            queries = np.sort(pred)
            step.update(
                {
                    "gemv (all rows)": best_of(lambda: design @ weights, repeat),
                    "bootstrap": best_of(lambda: rng.integers(0, n_obs, n_obs), repeat),  # noqa: B023
                    "sort donors": best_of(lambda: np.sort(fitted[boot]), repeat),  # noqa: B023
                    "sort queries": best_of(lambda: np.sort(pred), repeat),  # noqa: B023
                    "searchsorted": best_of(
                        lambda: donor_pred.searchsorted(queries) + rng.integers(0, 5, pred.size),  # noqa: B023
                        repeat,
                    ),
                }
            )
        for key, seconds in step.items():
            per_visit[key] += max_iter * seconds
    t.update(per_visit)
    return t


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--p", type=int, default=10)
    parser.add_argument("--incomplete", type=int, default=3)
    parser.add_argument("--max-iter", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--methods", nargs="+", default=["norm", "pmm", "lrd"])
    args = parser.parse_args()
    frame = make_frame(args.n, args.p, args.incomplete)
    print(
        f"n = {args.n}, p = {args.p}, {args.incomplete} incomplete columns "
        f"({frame.isna().mean().iloc[0]:.0%} missing each), max_iter = {args.max_iter}, "
        f"1 BLAS thread"
    )
    head = f"{'method':8s} {'bound (s)':>10s} {'fit (s)':>9s} {'bound / fit':>12s}"
    print(f"{head} {'with moments':>13s}   largest primitives")
    with threadpool_limits(1):
        for method in args.methods:
            parts = bound(frame, method, args.max_iter, args.repeat)
            imputer = ChainedImputer(method=method, max_iter=args.max_iter, random_state=0)
            fit = best_of(lambda: imputer.fit_transform(frame), args.repeat)  # noqa: B023
            moments = parts.pop("missing-row moments")
            total = sum(parts.values())
            top = sorted(parts.items(), key=lambda kv: -kv[1])[:4]
            print(
                f"{method:8s} {total:10.3f} {fit:9.3f} {total / fit:12.0%} "
                f"{(total + moments) / fit:13.0%}   " + ", ".join(f"{k} {v:.3f}" for k, v in top)
            )


if __name__ == "__main__":
    main()
