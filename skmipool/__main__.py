"""``python -m skmipool``: the main job on bundled data.

Imputes mice's nhanes data M times, fits ``chl ~ age + bmi + hyp`` by OLS in
each completed dataset and prints the pooled summary with the MI footer.
"""

from __future__ import annotations

import argparse
import sys


def run_demo(n_imputations: int = 20, seed: int = 2026) -> str:
    """Impute nhanes, fit chl ~ age + bmi + hyp, pool; return the printed summary."""
    from skmipool import MIPooledEstimator
    from skmipool.datasets import load_nhanes

    data = load_nhanes()
    X, y = data[["age", "bmi", "hyp"]], data["chl"]
    model = MIPooledEstimator(n_imputations=n_imputations, random_state=seed).fit(X, y)
    return (
        f"nhanes (mice), {len(data)} rows, {int(data.isna().sum().sum())} missing cells; "
        f"chl ~ age + bmi + hyp by OLS, M = {n_imputations} imputations "
        f"(IterativeImputer(sample_posterior=True), outcome in the imputation model)\n\n"
        f"{model.summary()}"
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
