"""Where the n_jobs=2 speed-up goes: skmipool against a plain joblib loop of the same work.

Both arms run the same 20 IterativeImputer(sample_posterior=True, max_iter=10)
imputations of the n = 20 000 benchmark data plus an OLS fit, with n_jobs = 1 and 2,
interleaved, best of 3 after a warm-up. If the plain loop scales no better than
MIPooledEstimator, the limit is the workload on this machine (memory bandwidth of the
shared CPUs), not skmipool's overhead. Run: ``python benchmarks/bench_parallel.py``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import joblib
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_reliability import fit_m20, iterative_imputer, machine, make_data


def _one(data: pd.DataFrame, seed: int):
    from sklearn.linear_model import LinearRegression

    done = iterative_imputer(random_state=seed).fit_transform(data)
    return LinearRegression().fit(done[:, :-1], done[:, -1]).coef_


def plain_loop(data, n_jobs):
    return joblib.Parallel(n_jobs=n_jobs)(joblib.delayed(_one)(data, s) for s in range(20))


def main() -> None:
    X, y = make_data(20_000)
    data = pd.concat([X, y], axis=1)
    arms = {
        "plain joblib loop": lambda n: plain_loop(data, n),
        "MIPooledEstimator": lambda n: fit_m20(X, y, n),
    }
    best = {(a, n): np.inf for a in arms for n in (1, 2)}
    for a in arms:  # warm-up: start the workers, import the libraries
        arms[a](2)
    for _ in range(3):
        for a, run in arms.items():
            for n in (1, 2):
                start = time.perf_counter()
                run(n)
                best[(a, n)] = min(best[(a, n)], time.perf_counter() - start)
    rows = []
    for a in arms:
        rows.append(
            {
                "arm": a,
                "n_jobs=1 (s)": best[(a, 1)],
                "n_jobs=2 (s)": best[(a, 2)],
                "speed-up": best[(a, 1)] / best[(a, 2)],
            }
        )
    table = pd.DataFrame(rows).set_index("arm")
    print(f"Machine: {machine()}\n")
    print(table.to_string(float_format=lambda v: f"{v:.3g}"))
    out = Path(__file__).resolve().parent / "RESULTS_parallel.md"
    out.write_text(
        "# n_jobs=2 against n_jobs=1: skmipool and a plain joblib loop\n\n"
        f"Machine: {machine()}\n\nCommand: `python benchmarks/bench_parallel.py` "
        "(OPENBLAS_NUM_THREADS=1)\n\n```\n"
        + table.to_string(float_format=lambda v: f"{v:.3g}")
        + "\n```\n"
    )


if __name__ == "__main__":
    main()
