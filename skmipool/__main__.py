"""``python -m skmipool``: the main job on bundled data.

Imputes mice's nhanes data M times, fits ``chl ~ age + bmi + hyp`` by OLS in
each completed dataset and prints the pooled summary with the MI footer.
"""

from __future__ import annotations

import argparse
import sys


def run_demo(n_imputations: int = 20, seed: int = 2026) -> str:
    """Impute nhanes, fit chl ~ age + bmi + hyp, pool; return the printed summary."""
    import numpy as np
    import statsmodels.api as sm
    from sklearn.experimental import enable_iterative_imputer  # noqa: F401
    from sklearn.impute import IterativeImputer

    from skmipool import pool
    from skmipool.datasets import load_nhanes

    data = load_nhanes()
    seeds = np.random.default_rng(seed).integers(0, 2**31 - 1, size=n_imputations)
    fits = []
    for s in seeds:
        imputer = IterativeImputer(sample_posterior=True, max_iter=10, random_state=int(s))
        imputer.set_output(transform="pandas")
        done = imputer.fit_transform(data)
        X = sm.add_constant(done[["age", "bmi", "hyp"]])
        fits.append(sm.OLS(done["chl"], X).fit())
    result = pool(fits)
    return (
        f"nhanes (mice), {len(data)} rows; chl ~ age + bmi + hyp by OLS, "
        f"M = {n_imputations} imputations\n\n{result.summary()}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="skmipool", description="Multiple imputation with Rubin's rules."
    )
    parser.add_argument("-m", "--imputations", type=int, default=20, help="number of imputations")
    parser.add_argument("--seed", type=int, default=2026, help="random seed")
    args = parser.parse_args(argv)
    print(run_demo(args.imputations, args.seed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
