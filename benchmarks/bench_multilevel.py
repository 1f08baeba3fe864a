"""Multilevel imputation of popmis: ChainedImputer(cluster="school") against R mice; not a test.

Times M = 5 imputations of ``popular`` in mice's ``popmis`` (2000 pupils in 100
schools, 848 missing), 10 sweeps each, side by side in one run:

- ``2l.norm``, heterogeneous residual variances, random slope of sex: the model of
  mice's ``2l.norm`` with mice's documented predictor matrix (sex 2, texp 1, which
  2l.norm ignores), without cluster means;
- ``2l.norm`` with one residual variance, random intercept, sex and texp fixed: the
  model of mice's ``2l.pan``;
- the default (``2l.lrd`` with cluster means of sex) for reference;
- with Rscript on the PATH: R mice ``2l.norm`` and ``2l.pan`` (Debian's r-cran-pan) with
  the same models, ``mice(popmis, m = 5, maxit = 10, ...)`` timed inside R.

Prints wall time and the ratio R / Python, and writes benchmarks/RESULTS_multilevel.md
with the figures of this run. Run: ``python benchmarks/bench_multilevel.py [--repeat 3]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from skmipool.datasets import load_popmis
from skmipool.impute import ChainedImputer

HERE = Path(__file__).parent
M, MAXIT = 5, 10

R_SCRIPT = """
suppressPackageStartupMessages({library(mice); library(pan)})
pred <- make.predictorMatrix(popmis); pred[, ] <- 0
time_it <- function(row, method) {
  p <- pred; p["popular", ] <- row
  meth <- setNames(rep("", ncol(popmis)), names(popmis)); meth["popular"] <- method
  unname(system.time(mice(popmis, m = 5, maxit = 10, predictorMatrix = p, method = meth,
                          seed = 1, printFlag = FALSE))["elapsed"])
}
cat(time_it(c(0, -2, 0, 2, 1, 0, 0), "2l.norm"), time_it(c(0, -2, 0, 1, 1, 0, 0), "2l.pan"), "\\n")
"""


def python_arms(names):
    pm_norm = pd.DataFrame(0, index=names, columns=names)
    pm_norm.loc["popular", "sex"] = 2
    pm_pan = pd.DataFrame(0, index=names, columns=names)
    pm_pan.loc["popular", ["sex", "texp"]] = 1
    return {
        "2l.norm (heteroscedastic, random slope; mice 2l.norm's model)": dict(
            method={"popular": "2l.norm"},
            predictor_matrix=pm_norm,
            heteroscedastic=True,
            cluster_means=False,
        ),
        "2l.norm (one residual variance; mice 2l.pan's model)": dict(
            method={"popular": "2l.norm"}, predictor_matrix=pm_pan, cluster_means=False
        ),
        "default (2l.lrd, cluster means)": dict(),
    }


def time_python(df, kwargs, repeat):
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        for seed in range(M):
            ChainedImputer(
                cluster="school", max_iter=MAXIT, random_state=seed, **kwargs
            ).fit_transform(df)
        best = min(best, time.perf_counter() - start)
    return best


def time_r():
    if shutil.which("Rscript") is None:
        return None
    out = subprocess.run(["Rscript", "-e", R_SCRIPT], capture_output=True, text=True, check=True)
    norm, pan = map(float, out.stdout.split())
    return {"2l.norm": norm, "2l.pan": pan}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    df = load_popmis()
    load = os.getloadavg()
    with threadpool_limits(1):
        times = {
            name: time_python(df, kw, args.repeat) for name, kw in python_arms(df.columns).items()
        }
    r = time_r()
    r_match = [r and r["2l.norm"], r and r["2l.pan"], None]
    rows = []
    for (name, t), rt in zip(times.items(), r_match, strict=True):
        ratio = f"{rt / t:.1f}x" if rt else ""
        rows.append(f"| {name} | {t:.2f} | {'' if rt is None else f'{rt:.2f}'} | {ratio} |")
    table = "\n".join(
        ["| Python arm | Python (s) | R mice (s) | R / Python |", "|---|---:|---:|---:|", *rows]
    )
    print(table)
    loads = ", ".join(f"{x:.2f}" for x in load)
    text = f"""# Multilevel imputation benchmark

Written by `python benchmarks/bench_multilevel.py`: one run, all arms side by side on the
same machine. Data: mice's `popmis` (2000 pupils in 100 schools, `popular` 848 missing).
Each arm imputes M = {M} times with {MAXIT} sweeps (`ChainedImputer(cluster="school",
max_iter={MAXIT})`, best of {args.repeat}, BLAS limited to 1 thread); R:
`mice(popmis, m = 5, maxit = 10, method = "2l.norm" / "2l.pan")` with the same models, timed
inside R with `system.time` (seed 1).

## Machine

- platform: {platform.platform()}
- {os.cpu_count()} logical CPUs (shared); load average at start: {loads}
- Python {sys.version.split()[0]}, numpy {np.__version__}, pandas {pd.__version__}

## Results

{table}
"""
    (HERE / "RESULTS_multilevel.md").write_text(text)


if __name__ == "__main__":
    main()
