"""Reliability and scale benchmarks (issue "Reliability and scale"); not a test.

Prints ratios measured side by side in one run and writes benchmarks/RESULTS.md:

1. overhead of MIPooledEstimator against a hand-written loop (same imputer,
   estimator, seeds and pooling);
2. n_jobs=2 against n_jobs=1 for M = 20;
3. against the Python tools people use today on the same data and M
   (n = 20 000, 10 predictors, 20% MAR missingness in 3 of them, M = 10, OLS):
   wall time, peak memory and pooled FMI of x0;
4. scaling in n and M;
5. pooling alone.

Each method of 3 runs in its own subprocess so that its peak resident memory
(ru_maxrss) is its own. Run: ``python benchmarks/bench_reliability.py [--quick]``.
autoimpute is optional (it needs pymc); it is skipped with a note when missing.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
import tracemalloc
import warnings
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
from _bench_common import best_of

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from skmipool.impute import ChainedImputer  # noqa: E402

warnings.filterwarnings("ignore")


# ------------------------------------------------------------------ data


def make_data(n: int = 20_000, p: int = 10, seed: int = 0):
    """10 correlated predictors, y linear in them, 20% MAR missingness in x0, x1, x2.

    The probability that x0..x2 is missing rises with y and with x9 (observed),
    so the data are missing at random.
    """
    rng = np.random.default_rng(seed)
    cov = 0.5 ** np.abs(np.subtract.outer(np.arange(p), np.arange(p)))
    x = rng.multivariate_normal(np.zeros(p), cov, size=n)
    beta = np.linspace(1.0, 0.1, p)
    y = x @ beta + rng.normal(scale=2.0, size=n)
    X = pd.DataFrame(x, columns=[f"x{i}" for i in range(p)])
    score = (y - y.mean()) / y.std() + 0.5 * x[:, 9]
    for col in ("x0", "x1", "x2"):
        prob = 1.0 / (1.0 + np.exp(-(np.log(0.2 / 0.8) + score)))
        X.loc[rng.random(n) < prob, col] = np.nan
    return X, pd.Series(y, name="y")


def iterative_imputer(**kw):
    from sklearn.experimental import enable_iterative_imputer  # noqa: F401
    from sklearn.impute import IterativeImputer

    return IterativeImputer(sample_posterior=True, max_iter=10, **kw)


# --------------------------------------------------------------- methods


def run_skmipool(X, y, m, imputer=None, **kw):
    from skmipool import MIPooledEstimator

    est = MIPooledEstimator(imputer=imputer, n_imputations=m, random_state=0, **kw).fit(X, y)
    return float(est.fmi_["x0"])


def run_hand_loop(X, y, m, bootstrap=False):
    """The loop people write: clone, seed, impute, fit, take the covariance, pool."""
    from sklearn.base import clone
    from sklearn.linear_model import LinearRegression
    from sklearn.utils import check_random_state

    from skmipool import pool_estimates
    from skmipool._adapters import coef_estimate

    data = pd.concat([X, y], axis=1)
    seeds = check_random_state(0).randint(np.iinfo(np.int32).max, size=m)
    est, cov = [], []
    for s in seeds:
        imp = clone(iterative_imputer()).set_params(random_state=int(s))
        if bootstrap:
            rows = np.random.default_rng([int(s), 1]).integers(0, len(data), len(data))
            done = imp.fit(data.iloc[rows]).transform(data)
        else:
            done = imp.fit_transform(data)
        Xc = pd.DataFrame(done[:, :-1], columns=X.columns)
        fit = LinearRegression().fit(Xc, done[:, -1])
        e = coef_estimate(fit, Xc, done[:, -1])
        est.append(e.estimate)
        cov.append(e.covariance)
    res = pool_estimates(np.stack(est), np.stack(cov), dfcom=len(y) - X.shape[1] - 1, names=e.names)
    return float(res.fmi["x0"])


def run_statsmodels_mice(X, y, m):
    import statsmodels.api as sm
    from statsmodels.imputation import mice

    data = pd.concat([X, y], axis=1)
    imp = mice.MICEData(data)
    formula = "y ~ " + " + ".join(X.columns)
    res = mice.MICE(formula, sm.OLS, imp).fit(n_burnin=10, n_imputations=m)
    names = list(res.model.exog_names) if hasattr(res.model, "exog_names") else None
    fmi = np.asarray(res.frac_miss_info)
    idx = names.index("x0") if names else 1
    return float(fmi[idx])


def run_statsmodels_bayes(X, y, m):
    import statsmodels.api as sm
    from statsmodels.imputation.bayes_mi import MI, BayesGaussMI

    data = pd.concat([X, y], axis=1).to_numpy()
    imp = BayesGaussMI(data)
    p = X.shape[1]

    def model_args(d):
        return (d[:, p], sm.add_constant(d[:, :p]))

    res = MI(imp, sm.OLS, model_args_fn=model_args, burn=20, nrep=m, skip=5).fit()
    return float(np.asarray(res.fmi)[1])


def run_autoimpute(X, y, m):
    from autoimpute.analysis import MiLinearRegression

    model = MiLinearRegression(mi_kwgs={"strategy": "norm", "n": m, "seed": 0})
    model.fit(X, y)
    table = model.summary()
    col = [c for c in table.columns if "lambda" in str(c).lower() or "fmi" in str(c).lower()]
    return float(table.loc["x0", col[0]]) if col else float("nan")


DEFAULT = "skmipool default (ChainedImputer)"
OLD_DEFAULT = "skmipool, old default (bootstrapped IterativeImputer)"
METHODS = {
    DEFAULT: lambda X, y, m: run_skmipool(X, y, m),
    OLD_DEFAULT: lambda X, y, m: run_skmipool(X, y, m, imputer=iterative_imputer()),
    "skmipool, IterativeImputer without bootstrap": lambda X, y, m: run_skmipool(
        X, y, m, imputer=iterative_imputer(), imputation_bootstrap=False
    ),
    "IterativeImputer loop by hand": run_hand_loop,
    "statsmodels MICE": run_statsmodels_mice,
    "statsmodels BayesGaussMI + MI": run_statsmodels_bayes,
    "autoimpute MiLinearRegression": run_autoimpute,
    "skmipool + ChainedImputer(norm)": lambda X, y, m: run_skmipool(
        X, y, m, imputer=ChainedImputer(method="norm")
    ),
}


def _child(name: str, n: int, m: int) -> None:
    """Run one method in this process; print time, peak RSS and FMI as JSON."""
    import resource

    X, y = make_data(n)
    start = time.perf_counter()
    try:
        fmi = METHODS[name](X, y, m)
        error = None
    except Exception as exc:  # reported in the table, not hidden
        fmi, error = float("nan"), f"{type(exc).__name__}: {exc}"[:120]
    elapsed = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"time": elapsed, "peak_mb": peak_mb, "fmi": fmi, "error": error}))


def _in_subprocess(name: str, n: int, m: int) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", name, "--n", str(n), "--m", str(m)],
        capture_output=True,
        text=True,
        check=False,
    )
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        return {
            "time": float("nan"),
            "peak_mb": float("nan"),
            "fmi": float("nan"),
            "error": (out.stderr.strip().splitlines() or ["no output"])[-1][:120],
        }
    return json.loads(lines[-1])


# -------------------------------------------------------------- sections


def overhead(quick: bool) -> pd.DataFrame:
    from skmipool import MIPooledEstimator

    X, y = make_data(2_000 if quick else 10_000)
    m, repeat = 5, 3
    hand = best_of(lambda: run_hand_loop(X, y, m), repeat)
    est = best_of(
        lambda: MIPooledEstimator(
            imputer=iterative_imputer(), imputation_bootstrap=False, n_imputations=m, random_state=0
        ).fit(X, y),
        repeat,
    )
    return pd.DataFrame(
        {"seconds": [hand, est], "ratio to hand loop": [1.0, est / hand]},
        index=["hand-written loop", "MIPooledEstimator"],
    )


def fit_m20(X, y, n_jobs):
    """The parallel benchmark's fit: 20 IterativeImputer imputations (no bootstrap), OLS."""
    from skmipool import MIPooledEstimator

    return MIPooledEstimator(
        imputer=iterative_imputer(),
        imputation_bootstrap=False,
        n_imputations=20,
        random_state=0,
        n_jobs=n_jobs,
    ).fit(X, y)


def parallel_speedup(quick: bool) -> pd.DataFrame:
    """n_jobs=2 against n_jobs=1 for M = 20: the first (cold) call, then the best of 3.

    The first n_jobs=2 call starts loky's worker processes and imports the libraries in
    them; later calls reuse the workers, as a session or a grid search does. The two
    settings alternate, and the best of 3 is kept, because the CPUs are shared with
    other machines and single timings wander by 30%.
    """

    X, y = make_data(2_000 if quick else 20_000)

    def run(n_jobs):
        start = time.perf_counter()
        fit_m20(X, y, n_jobs)
        return time.perf_counter() - start

    first = {n: run(n) for n in (1, 2)}
    later = {1: [], 2: []}
    for _ in range(3):
        for n in (1, 2):
            later[n].append(run(n))
    t = pd.DataFrame(
        {
            "first call (s)": first,
            "best of 3 later calls (s)": {n: min(v) for n, v in later.items()},
        }
    )
    t.index = [f"n_jobs={n}" for n in t.index]
    t["speed-up, first"] = t["first call (s)"].iloc[0] / t["first call (s)"]
    t["speed-up, best"] = t["best of 3 later calls (s)"].iloc[0] / t["best of 3 later calls (s)"]
    # the machine's own ceiling: the same joblib fan-out of pure numpy work (QR products)
    ceiling = {1: [], 2: []}
    for _ in range(3):
        for n in (1, 2):
            start = time.perf_counter()
            joblib.Parallel(n_jobs=n)(joblib.delayed(_numpy_work)(i) for i in range(8))
            ceiling[n].append(time.perf_counter() - start)
    t.loc["numpy work, n_jobs=1", "best of 3 later calls (s)"] = min(ceiling[1])
    t.loc["numpy work, n_jobs=2", "best of 3 later calls (s)"] = min(ceiling[2])
    t.loc["numpy work, n_jobs=2", "speed-up, best"] = min(ceiling[1]) / min(ceiling[2])
    return t


def _numpy_work(seed: int) -> float:
    """CPU-bound work with no I/O: bounds what two processes can gain on this machine."""
    a = np.random.default_rng(seed).normal(size=(300, 300))
    for _ in range(60):
        a = np.linalg.qr(a)[0] @ a
    return float(a[0, 0])


def peers(quick: bool) -> pd.DataFrame:
    n, m = (2_000, 5) if quick else (20_000, 10)
    rows = {name: _in_subprocess(name, n, m) for name in METHODS}
    t = pd.DataFrame(rows).T[["time", "peak_mb", "fmi", "error"]]
    base = t.loc["IterativeImputer loop by hand", "time"]
    t.insert(1, "ratio to IterativeImputer loop", t["time"] / base)
    t.insert(2, "ratio to the default", t["time"] / t.loc[DEFAULT, "time"])
    return t


def memory(quick: bool) -> pd.DataFrame:
    """Peak traced allocation of one fit (n_jobs=1) against M and keep_imputations.

    With the default ChainedImputer the peak grows with M even without keep_imputations:
    each fitted ChainedImputer keeps its completed training data (one copy per
    imputation), which ``transform`` needs to model columns that were complete at fit.
    keep_imputations=True adds the completed copies of X and y on top.
    """
    from skmipool import MIPooledEstimator

    X, y = make_data(5_000 if quick else 20_000)
    copy_mb = (X.shape[0] * (X.shape[1] + 1) * 8) / 2**20
    rows = {}
    for m, keep in ((2, False), (10, False), (20, False), (10, True), (20, True)):
        tracemalloc.start()
        MIPooledEstimator(n_imputations=m, random_state=0, keep_imputations=keep).fit(X, y)
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        rows[f"M={m}, keep_imputations={keep}"] = {
            "peak MB": peak,
            "in completed copies": peak / copy_mb,
        }
    return pd.DataFrame(rows).T


def scaling(quick: bool) -> pd.DataFrame:
    from skmipool import MIPooledEstimator

    grid = [(1_000, 5), (10_000, 5), (100_000, 5), (1_000, 20), (1_000, 50)]
    if quick:
        grid = [(1_000, 5), (4_000, 5), (1_000, 20)]
    rows = []
    for n, m in grid:
        X, y = make_data(n)
        t = best_of(
            lambda X=X, y=y, m=m: MIPooledEstimator(n_imputations=m, random_state=0).fit(X, y), 1
        )
        rows.append({"n": n, "M": m, "seconds": t, "seconds per (n/1000 x M)": t / (n / 1e3 * m)})
    return pd.DataFrame(rows)


def pooling_alone() -> pd.DataFrame:
    from skmipool import pool_estimates

    rng = np.random.default_rng(0)
    q1, u1 = rng.normal(size=(100, 10_000)), rng.uniform(0.5, 1, size=(100, 10_000))
    a = rng.normal(size=(50, 200, 200)) / 20
    q2, u2 = rng.normal(size=(50, 200)), a @ np.swapaxes(a, 1, 2) + np.eye(200)
    t1 = best_of(lambda: pool_estimates(q1, u1).to_frame(), 3)
    t2 = best_of(lambda: pool_estimates(q2, u2).to_frame(), 3)
    return pd.DataFrame(
        {"seconds": [t1, t2]},
        index=["M = 100, k = 10 000, variances", "M = 50, k = 200, full covariances"],
    )


def machine() -> str:
    import sklearn
    import statsmodels

    import skmipool

    return (
        f"{platform.platform()}; {platform.processor() or platform.machine()}; "
        f"{os.cpu_count()} CPUs; Python {platform.python_version()}; numpy {np.__version__}; "
        f"pandas {pd.__version__}; scikit-learn {sklearn.__version__}; "
        f"statsmodels {statsmodels.__version__}; skmipool {skmipool.__version__}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--child")
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--m", type=int, default=10)
    args = parser.parse_args()
    if args.child:
        _child(args.child, args.n, args.m)
        return
    sections = [
        ("1. Overhead against a hand-written loop (goal <= 1.05)", overhead(args.quick)),
        (
            "2. n_jobs=2 against n_jobs=1, M = 20 (goal >= 1.8x on 2 cores; the numpy rows "
            "show what 2 processes gain on this machine at all)",
            parallel_speedup(args.quick),
        ),
        (
            "3. Against the tools people use (n = 20 000, 10 predictors, 20% MAR in 3, M = 10)",
            peers(args.quick),
        ),
        (
            "Memory of one fit (tracemalloc peak; one completed copy = n x (p + 1) doubles)",
            memory(args.quick),
        ),
        ("4. Scaling in n and M (default pipeline)", scaling(args.quick)),
        ("5. Pooling alone", pooling_alone()),
    ]
    text = [
        f"# Benchmark results\n\nMachine: {machine()}\n",
        f"Command: `python benchmarks/bench_reliability.py{' --quick' if args.quick else ''}`\n",
    ]
    for title, table in sections:
        block = table.to_markdown(floatfmt=".3g") if _has_tabulate() else table.to_string()
        print(f"\n{title}\n{table.to_string()}")
        text.append(f"\n## {title}\n\n{block}\n")
    out = HERE / ("RESULTS_quick.md" if args.quick else "RESULTS.md")
    out.write_text("\n".join(text))
    print(f"\nwritten to {out}")


def _has_tabulate() -> bool:
    try:
        import tabulate  # noqa: F401
    except ImportError:
        return False
    return True


if __name__ == "__main__":
    main()
