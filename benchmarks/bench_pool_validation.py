"""The validation of pool_estimates' inputs at M = 50 full 200 x 200 covariances; not a test.

``pool_estimates(q, u)`` with q of shape (50, 200) and u of shape (50, 200, 200)
(each U_i = A_i A_i' / 600 for a 200 x 600 standard normal A_i: positive definite),
timed for two source trees (``--before``, default ``main``, checked out in a
temporary git worktree, and this working tree), each in a fresh Python process
with PYTHONPATH set to the tree and OPENBLAS_NUM_THREADS=1, best of 5 calls. Beside
them the NumPy floor of Rubin's rules for these inputs: Ubar = mean of the U_i,
B = covariance of the estimates, T = Ubar + (1 + 1/M) B. Prints the times and the
ratios to the floor.

Run: ``python benchmarks/bench_pool_validation.py [--before main]``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from _bench_common import ROOT, best_of, run_child, worktree

from skmipool import pool_estimates

M, K, REPEATS = 50, 200, 5


def make_inputs(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((M, K, 3 * K))
    return rng.standard_normal((M, K)), a @ np.swapaxes(a, 1, 2) / (3 * K)


def floor(q: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Rubin's rules on these inputs, nothing else (Rubin 1987, eq. 3.1.2-3.1.5)."""
    ubar = u.mean(axis=0)
    b = np.cov(q, rowvar=False)
    return ubar + (1.0 + 1.0 / M) * b


def child() -> None:
    """Time pool_estimates and the floor in this process; print them as JSON."""
    q, u = make_inputs()
    pool_estimates(q, u)  # imports and first-call costs out of the timing
    print(
        json.dumps(
            {
                "pool": best_of(lambda: pool_estimates(q, u), REPEATS),
                "floor": best_of(lambda: floor(q, u), REPEATS),
            }
        )
    )


def measure(tree: Path) -> dict:
    return run_child(Path(__file__), ["--child"], tree)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--before", default="main", help="git revision to compare with")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child()
        return
    with worktree(args.before) as old:
        rows = [(f"before ({args.before})", measure(old)), ("after", measure(ROOT))]
    floor_ms = min(r["floor"] for _, r in rows) * 1e3
    print(f"pool_estimates, M = {M} full {K} x {K} covariances, best of {REPEATS}")
    print(f"{'':18s} {'ms':>8s} {'/ floor':>8s}")
    print(f"{'NumPy floor':18s} {floor_ms:8.2f} {1.0:8.1f}")
    for label, r in rows:
        ms = r["pool"] * 1e3
        print(f"{label:18s} {ms:8.2f} {ms / floor_ms:8.1f}")
    print(f"before / after: {rows[0][1]['pool'] / rows[1][1]['pool']:.1f}")


if __name__ == "__main__":
    main()
