"""ChainedImputer against IterativeImputer inside MIPooledEstimator (issue 8); not a test.

On the data of the reliability benchmark (``bench_reliability.make_data``:
n = 20 000, predictors x0..x9 correlated, y linear in them, 20% MAR
missingness in x0, x1, x2 rising with y and x9), times
``MIPooledEstimator(imputer=..., n_imputations=10, random_state=0).fit(X, y)``
side by side in one run for

- ``ChainedImputer(method="norm")``, ``ChainedImputer(method="pmm")`` (with and without
  bootstrapped donors) and ``ChainedImputer()`` (lrd, the default for numeric columns),
  max_iter = 10;
- ``IterativeImputer(sample_posterior=True, max_iter=10)`` as the issue measured it
  (``imputation_bootstrap=False``) and with MIPooledEstimator's default bootstrap;
- with ``--r``: R mice (``norm``, ``pmm``, m = 10, maxit = 10, then
  ``pool(with(imp, lm(...)))``) on the same data, through Rscript.

Prints wall time, speed relative to IterativeImputer without bootstrap, and the
pooled fraction of missing information (FMI) of x0, and writes
benchmarks/RESULTS_imputer.md with a description of the machine.

Run: ``python benchmarks/bench_imputer.py [--r] [--repeat 3]``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from _bench_common import machine as common_machine  # noqa: E402
from bench_reliability import make_data  # noqa: E402  (the reliability issue's data)

M = 10
REFERENCE = "IterativeImputer, no bootstrap (as in the issue)"


def _iterative():
    from sklearn.experimental import enable_iterative_imputer  # noqa: F401
    from sklearn.impute import IterativeImputer

    return IterativeImputer(sample_posterior=True, max_iter=10)


def _chained(method=None, **kw):
    from skmipool.impute import ChainedImputer

    return ChainedImputer(method=method, max_iter=10, **kw)


ARMS = {
    "ChainedImputer(norm)": lambda: (_chained("norm"), "auto"),
    "ChainedImputer(pmm)": lambda: (_chained("pmm"), "auto"),
    "ChainedImputer() (lrd, default)": lambda: (_chained(), "auto"),
    "ChainedImputer(pmm, donor_bootstrap=False) (mice's pmm)": lambda: (
        _chained("pmm", donor_bootstrap=False),
        "auto",
    ),
    REFERENCE: lambda: (_iterative(), False),
    "IterativeImputer, bootstrapped (old skmipool default)": lambda: (_iterative(), "auto"),
}


def fit_once(X, y, imputer, bootstrap, seed=0, m=M):
    from skmipool import MIPooledEstimator

    est = MIPooledEstimator(
        imputer=imputer, n_imputations=m, random_state=seed, imputation_bootstrap=bootstrap
    )
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X, y)
    return time.perf_counter() - start, est


def time_arm(X, y, make, repeat, seeds):
    """Best wall time of ``repeat`` fits with seed 0 (every arm alike); then the pooled FMI
    of x0 for every seed (seed 0 from the timed fit)."""
    times = []
    for _ in range(repeat):
        elapsed, est = fit_once(X, y, *make())
        times.append(elapsed)
    fmi = [float(est.fmi_["x0"])]
    fmi += [float(fit_once(X, y, *make(), seed=s)[1].fmi_["x0"]) for s in seeds[1:]]
    return {
        "time": min(times),
        "runs": len(times),
        "fmi": fmi,
        "coef_x0": float(est.pooled_.estimate["x0"]),
        "se_x0": float(est.std_error_["x0"]),
    }


def imputer_alone(X, y, repeat):
    """Ten ChainedImputer fit_transform calls on the imputation frame: the arithmetic."""
    data = pd.concat([X, y], axis=1)
    out = {}
    for method in ("norm", "pmm", "lrd"):
        best = np.inf
        for _ in range(repeat):
            start = time.perf_counter()
            for seed in range(M):
                _chained(method).set_params(random_state=seed).fit_transform(data)
            best = min(best, time.perf_counter() - start)
        out[method] = best
    return out


R_SCRIPT = r"""
suppressMessages(library(mice))
args <- commandArgs(TRUE)
d <- read.csv(args[1])
seeds <- as.integer(strsplit(args[2], ",")[[1]])
fstr <- paste("y ~", paste(grep("^x", names(d), value = TRUE), collapse = " + "))
for (meth in c("norm", "pmm")) {
  for (s in seeds) {
    t <- system.time({
      imp <- mice(d, m = 10, maxit = 10, method = meth, printFlag = FALSE, seed = s)
      p <- pool(with(imp, lm(as.formula(fstr))))
    })[["elapsed"]]
    r <- p$pooled[p$pooled$term == "x0", ]
    fmt <- paste0('{"method": "%s", "seed": %d, "time": %.4f, "fmi_x0": %.6f, ',
                  '"coef_x0": %.6f, "se_x0": %.6f}\n')
    cat(sprintf(fmt, meth, s, t, r$fmi, r$estimate, sqrt(r$t)))
  }
}
cat(sprintf('{"mice": "%s", "R": "%s"}\n', packageVersion("mice"), getRversion()))
"""


def run_r(X, y, seeds):
    """R mice on the same data: {"R mice norm": {...}, ...} and versions; None without R."""
    if shutil.which("Rscript") is None:
        print("Rscript not found: R mice skipped")
        return None
    with tempfile.TemporaryDirectory() as tmp:
        csv, script = Path(tmp, "data.csv"), Path(tmp, "bench.R")
        pd.concat([X, y], axis=1).to_csv(csv, index=False)
        script.write_text(R_SCRIPT)
        out = subprocess.run(
            ["Rscript", str(script), str(csv), ",".join(str(s + 1) for s in seeds)],
            capture_output=True,
            text=True,
            check=False,
        )
    rows = [json.loads(ln) for ln in out.stdout.splitlines() if ln.startswith("{")]
    if not rows or "mice" not in rows[-1]:
        print("R mice failed:", out.stderr.strip()[-300:])
        return None
    versions = rows.pop()
    results = {}
    for method in ("norm", "pmm"):
        runs = [r for r in rows if r["method"] == method]
        results[f"R mice {method}"] = {
            "time": runs[0]["time"],
            "runs": 1,
            "fmi": [r["fmi_x0"] for r in runs],
            "coef_x0": runs[0]["coef_x0"],
            "se_x0": runs[0]["se_x0"],
        }
    return results, versions


def markdown_table(table: pd.DataFrame) -> str:
    """A pipe table (without the optional tabulate dependency of DataFrame.to_markdown)."""
    head = [table.index.name or "", *table.columns]
    rows = [
        [str(i), *(f"{v:.3f}" if k != 1 else f"{v:.1f}x" for k, v in enumerate(r))]
        for i, r in zip(table.index, table.to_numpy(), strict=True)
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def machine(r_versions) -> str:
    lines = common_machine()
    if r_versions:
        lines += f"\n- R {r_versions['R']}, mice {r_versions['mice']}"
    return lines


def main(argv=None):
    from threadpoolctl import threadpool_limits

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--r", action="store_true", help="also run R mice through Rscript")
    parser.add_argument("--repeat", type=int, default=3, help="timed fits per arm (best kept)")
    parser.add_argument("--seeds", type=int, default=5, help="seeds for the FMI of x0")
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads (threadpoolctl)")
    parser.add_argument("--out", default=str(HERE / "RESULTS_imputer.md"))
    args = parser.parse_args(argv)
    seeds = list(range(args.seeds))

    X, y = make_data()
    print(machine(None).replace("- ", ""))
    with threadpool_limits(args.threads):
        _chained("norm").fit_transform(pd.concat([X, y], axis=1).iloc[:500])  # warm up
        results = {}
        for name, make in ARMS.items():
            results[name] = r = time_arm(X, y, make, args.repeat, seeds)
            print(f"{name:50s} {r['time']:8.2f} s  FMI(x0) {np.round(r['fmi'], 3)}", flush=True)
        alone = imputer_alone(X, y, args.repeat)
        # a proper imputation's FMI with little Monte Carlo error: norm with M = 100
        reference_fmi = float(fit_once(X, y, _chained("norm"), "auto", m=100)[1].fmi_["x0"])
    r_versions = None
    if args.r:
        r = run_r(X, y, seeds)
        if r is not None:
            r_results, r_versions = r
            results.update(r_results)

    ref = results[REFERENCE]["time"]
    table = pd.DataFrame(
        {
            "wall time (s)": {k: v["time"] for k, v in results.items()},
            "speed-up": {k: ref / v["time"] for k, v in results.items()},
            "FMI x0": {k: v["fmi"][0] for k, v in results.items()},
            f"FMI x0, mean of {len(seeds)} seeds": {
                k: np.mean(v["fmi"]) for k, v in results.items()
            },
            "min": {k: np.min(v["fmi"]) for k, v in results.items()},
            "max": {k: np.max(v["fmi"]) for k, v in results.items()},
            "coef x0": {k: v["coef_x0"] for k, v in results.items()},
            "SE x0": {k: v["se_x0"] for k, v in results.items()},
        }
    )
    table.index.name = "arm"
    print()
    print(table.round(3).to_string())
    print(f"\nChainedImputer(norm), M = 100: FMI of x0 {reference_fmi:.3f}")
    print(
        f"ChainedImputer.fit_transform alone, {M} imputations: "
        f"norm {alone['norm']:.3f} s, pmm {alone['pmm']:.3f} s, lrd {alone['lrd']:.3f} s "
        f"(lrd / pmm {alone['lrd'] / alone['pmm']:.2f})"
    )

    chained = ("ChainedImputer(norm)", "ChainedImputer(pmm)", "ChainedImputer() (lrd, default)")
    times = [results[k]["time"] for k in chained]
    verdict = "met" if ref / max(times) >= 10 else "NOT met"
    text = f"""# ChainedImputer benchmark (issue 8)

Written by `python benchmarks/bench_imputer.py{" --r" if args.r else ""}`: one run, all arms
side by side on the same machine. Data: `bench_reliability.make_data()` (n = 20 000,
x0..x9 correlated, y linear in them, MAR missingness in x0, x1, x2 rising with y and
x9; about 25% of each is missing). Every Python arm is `MIPooledEstimator(imputer=...,
n_imputations={M}, random_state=seed).fit(X, y)`: M imputations with max_iter = 10, M OLS
fits and pooling. Wall time: the best of {args.repeat} fits with seed 0 in every arm, BLAS
limited to {args.threads} thread(s) with threadpoolctl in every Python arm. R mice:
`mice(d, m = {M}, maxit = 10, method = ...)` then `pool(with(imp, lm(y ~ x0 + ... + x9)))`,
timed inside R (seed 1). Speed-up: relative to `{REFERENCE}`.

## Machine

{machine(r_versions)}

## Results

{markdown_table(table)}

FMI x0 with M = {M} has a large Monte Carlo error (B has {M - 1} df), hence the mean, min and
max over seeds {seeds[0]}..{seeds[-1]} (R: seeds 1..{len(seeds)}). A proper imputation's FMI of x0
with little Monte Carlo error, from `ChainedImputer(method="norm")` with M = 100:
**{reference_fmi:.3f}**.

pmm with bootstrapped donors has a larger FMI than `norm`: matching adds
variance that is shared across imputations unless the donors vary with them, and the
bootstrap moves it into B, where it belongs (without it, mice's pmm, intervals undercover;
see the MAR coverage table in docs/user_guide.md). pmm is the less efficient method here,
so more information is lost to the missing values; the issue quoted 0.35 for R mice's pmm.

ChainedImputer's `fit_transform` alone for the {M} imputations: norm {alone["norm"]:.3f} s,
pmm {alone["pmm"]:.3f} s, lrd (the default) {alone["lrd"]:.3f} s (lrd / pmm
{alone["lrd"] / alone["pmm"]:.2f}); the rest of a ChainedImputer row is MIPooledEstimator's
validation, the {M} OLS fits with their covariance, and pooling.

The issue's bar, `MIPooledEstimator.fit` at least 10x faster with ChainedImputer than with
`IterativeImputer(sample_posterior=True)` (no bootstrap), for norm, pmm and lrd:
**{verdict}** ({ref / max(times):.0f}x for the slower, {ref / min(times):.0f}x for the faster).

The issue quoted, on its machine: IterativeImputer loop about 10 s, R mice 9 s with norm;
pooled FMI of x0 0.26 (mice norm), 0.35 (mice pmm), 0.07 (IterativeImputer). Since then
MIPooledEstimator fits IterativeImputer on a bootstrap resample by default
(`imputation_bootstrap="auto"`), which makes its imputations approximately proper for one
more `transform` per imputation; that row is shown too.
"""
    Path(args.out).write_text(text)
    print(f"\nwritten: {args.out}")


if __name__ == "__main__":
    main()
