"""skmipool, miceforest and R mice side by side at n = 10^5 (issue 18, part 6); not a test.

Data: ``bench_scale.make_data(100_000, 10, 3, seed=0)`` (x0..x8 equicorrelated, x9
driving MAR missingness of about 20% in x0, x1, x2; y = X @ linspace(1, 0.1, 10) + e,
so the true coefficient of x0 is 1). Every arm imputes X and y together, M = 5
imputations with 5 iterations, fits OLS of y on x0..x9 in each completed dataset and
pools with Rubin's rules:

- skmipool: ``MIPooledEstimator(LinearRegression(), ChainedImputer(max_iter=5,
  method=...), n_imputations=5, n_jobs=1, random_state=0).fit(X, y)``, with method pmm
  and with the default (lrd);
- miceforest (a benchmark-only tool, not a dependency of skmipool:
  ``pip install miceforest==6.0.5 lightgbm==4.6.0``; miceforest 6.0.5 calls
  ``Booster.__inner_predict(0)``, whose argument lightgbm 4.7 made keyword-only, so with
  lightgbm 4.7 it fails with a TypeError): ``ImputationKernel(data, num_datasets=5,
  random_state=0).mice(5)`` with its defaults (LightGBM random forests, mean matching
  "normal" with 5 candidates), then statsmodels OLS on each ``complete_data(i)`` and
  ``skmipool.pool_estimates``;
- R mice: ``mice(d, m = 5, maxit = 5, method = "pmm" | "norm", printFlag = FALSE,
  seed = 1)`` on the data written to a CSV, then ``pool(with(imp, lm(y ~ x0 + ... +
  x9)))`` (``y ~ .``, written out: ``with.mids`` has no ``data`` argument for the dot).

Each arm runs in its own process with a timeout (``--timeout``, default 900 s; an arm
that times out is reported as "did not finish"), single-threaded (OPENBLAS_NUM_THREADS=1,
OMP_NUM_THREADS=1, so LightGBM uses one thread too). Wall time: the imputation, the M
analyses and the pooling, without generating or reading the data (R: ``proc.time()``
around ``mice()`` and around ``pool(with(...))``, reported apart too). Peak RSS: the
process's high-water mark, reset once the data are in memory (Python ``ru_maxrss``; R:
``/usr/bin/time -v`` where present, else ``VmHWM``), and its rise above the RSS just
before the imputation.

Prints a markdown table and writes it with a description of the machine to
benchmarks/RESULTS_peers.md.

Run: ``python benchmarks/bench_peers.py [--timeout 900] [--arms ...]``.
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from bench_scale import _reset_peak, machine, make_data, tree_commit  # noqa: E402

N, P, INCOMPLETE, SEED = 100_000, 10, 3, 0
M, MAX_ITER = 5, 5
TRUE_X0 = 1.0  # np.linspace(1, 0.1, P)[0]
MB = 2**20

ARMS = {
    "skmipool ChainedImputer(pmm)": ("skmipool", "pmm"),
    "skmipool ChainedImputer() (lrd, default)": ("skmipool", None),
    "miceforest 6.0.5 (LightGBM, mean matching)": ("miceforest", None),
    "R mice pmm": ("R", "pmm"),
    "R mice norm": ("R", "norm"),
}


# ----------------------------------------------------------------- Python arms (child)
def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _max_rss_bytes() -> int:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _skmipool(X, y, method):
    from sklearn.linear_model import LinearRegression

    from skmipool import MIPooledEstimator
    from skmipool.impute import ChainedImputer

    mi = MIPooledEstimator(
        LinearRegression(),
        ChainedImputer(max_iter=MAX_ITER, method=method, random_state=0),
        n_imputations=M,
        n_jobs=1,
        random_state=0,
    ).fit(X, y)
    return float(mi.pooled_.estimate["x0"]), float(mi.std_error_["x0"])


def _miceforest(X, y, _method):
    import miceforest as mf
    import numpy as np
    import statsmodels.api as sm

    from skmipool import pool_estimates

    data = X.assign(y=y)
    kernel = mf.ImputationKernel(data, num_datasets=M, random_state=0)
    kernel.mice(MAX_ITER)
    estimates, covariances = [], []
    for i in range(M):
        done = kernel.complete_data(dataset=i)
        fit = sm.OLS(done["y"], sm.add_constant(done[list(X.columns)])).fit()
        estimates.append(fit.params.to_numpy())
        covariances.append(fit.cov_params().to_numpy())
    names = list(fit.params.index)
    pooled = pool_estimates(
        np.stack(estimates), np.stack(covariances), dfcom=len(y) - len(names), names=names
    )
    return float(pooled.estimate["x0"]), float(pooled.std_error["x0"])


def child(kind: str, method: str | None, n: int) -> None:
    """One Python arm in this process: prints its figures as JSON on the last line."""
    import warnings

    warnings.simplefilter("ignore")
    run = {"skmipool": _skmipool, "miceforest": _miceforest}[kind]
    Xw, yw = make_data(500, P, INCOMPLETE, seed=1)  # warm up: imports and first calls
    run(Xw, yw, method)
    del Xw, yw
    X, y = make_data(n, P, INCOMPLETE, seed=SEED)
    _reset_peak()  # the high-water mark of the imputation, not of the warm-up
    before = _rss_bytes()
    start = time.perf_counter()
    coef, se = run(X, y, method)
    elapsed = time.perf_counter() - start
    peak = _max_rss_bytes()
    print(
        json.dumps(
            {"time": elapsed, "peak": peak, "rise": peak - before, "coef_x0": coef, "se_x0": se}
        )
    )


# ----------------------------------------------------------------- R arm
R_SCRIPT = r"""
suppressMessages(library(mice))
args <- commandArgs(TRUE)
d <- read.csv(args[1])
meth <- args[2]
vm <- function(key) {
  s <- readLines("/proc/self/status")
  as.numeric(strsplit(trimws(sub(paste0(key, ":"), "", grep(paste0("^", key, ":"), s,
                                                             value = TRUE))), " +")[[1]][1]) * 1024
}
invisible(gc())
try(cat("5", file = "/proc/self/clear_refs"), silent = TRUE)  # reset VmHWM after reading
before <- vm("VmRSS")
fstr <- paste("y ~", paste(grep("^x", names(d), value = TRUE), collapse = " + "))
t0 <- proc.time()
imp <- mice(d, m = 5, maxit = 5, method = meth, printFlag = FALSE, seed = 1)
t1 <- proc.time()
p <- pool(with(imp, lm(as.formula(fstr))))  # the formula made where the columns are
t2 <- proc.time()
r <- p$pooled[p$pooled$term == "x0", ]
cat(sprintf(paste0('{"mice": %.4f, "pool": %.4f, "coef_x0": %.8f, "se_x0": %.8f, ',
                   '"before": %.0f, "hwm": %.0f, "mice_version": "%s", "R": "%s"}\n'),
            (t1 - t0)[["elapsed"]], (t2 - t1)[["elapsed"]], r$estimate, sqrt(r$t),
            before, vm("VmHWM"), packageVersion("mice"), getRversion()))
"""


def run_r(method: str, csv: Path, script: Path, timeout: float, env: dict) -> dict:
    time_bin = "/usr/bin/time" if Path("/usr/bin/time").exists() else None
    cmd = ["Rscript", str(script), str(csv), method]
    if time_bin:
        cmd = [time_bin, "-v", *cmd]
    try:
        out = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, env=env, check=False
        )
    except subprocess.TimeoutExpired:
        return {"error": f"did not finish in {timeout:.0f} s"}
    rows = [json.loads(ln) for ln in out.stdout.splitlines() if ln.startswith("{")]
    if out.returncode != 0 or not rows:
        return {"error": f"R failed: {out.stderr.strip()[-200:]}"}
    r = rows[-1]
    peak = r["hwm"]
    source = "VmHWM"
    found = re.search(r"Maximum resident set size \(kbytes\): (\d+)", out.stderr)
    if found:
        peak, source = int(found.group(1)) * 1024, "/usr/bin/time -v"
    return {
        "time": r["mice"] + r["pool"],
        "mice_time": r["mice"],
        "pool_time": r["pool"],
        "peak": peak,
        "peak_source": source,
        "rise": r["hwm"] - r["before"],
        "coef_x0": r["coef_x0"],
        "se_x0": r["se_x0"],
        "versions": {"mice": r["mice_version"], "R": r["R"]},
    }


# ----------------------------------------------------------------- parent
def run_python(kind: str, method: str | None, n: int, timeout: float, env: dict) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", kind, str(method), str(n)]
    try:
        out = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, env=env, check=False
        )
    except subprocess.TimeoutExpired:
        return {"error": f"did not finish in {timeout:.0f} s"}
    if out.returncode != 0:
        return {"error": f"failed: {(out.stderr.strip().splitlines() or ['?'])[-1][:200]}"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def _version(pkg: str) -> str:
    try:
        return md.version(pkg)
    except md.PackageNotFoundError:
        return "absent"


def markdown(results: dict) -> str:
    head = [
        "arm",
        "wall time (s)",
        "peak RSS (MB)",
        "rise above RSS before (MB)",
        "coef x0",
        "SE x0",
        "true coef x0",
        "(coef - true) / SE",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, r in results.items():
        if "error" in r:
            cells = [name, r["error"], "-", "-", "-", "-", f"{TRUE_X0:.3f}", "-"]
        else:
            wall = f"{r['time']:.2f}"
            if "mice_time" in r:
                wall += f" (mice {r['mice_time']:.2f} + pool {r['pool_time']:.2f})"
            cells = [
                name,
                wall,
                f"{r['peak'] / MB:.0f}",
                f"{r['rise'] / MB:.0f}",
                f"{r['coef_x0']:.4f}",
                f"{r['se_x0']:.4f}",
                f"{TRUE_X0:.3f}",
                f"{(r['coef_x0'] - TRUE_X0) / r['se_x0']:+.1f}",
            ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=900, help="per arm, in seconds")
    parser.add_argument("--arms", nargs="+", choices=list(ARMS), default=list(ARMS))
    parser.add_argument("--out", default=str(HERE / "RESULTS_peers.md"))
    parser.add_argument("--n", type=int, default=N, help="rows (10^5 for the results)")
    parser.add_argument("--child", nargs=3, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        kind, method, n = args.child
        child(kind, None if method == "None" else method, int(n))
        return

    threads = {k: "1" for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    env = dict(os.environ, PYTHONPATH=str(ROOT), **threads)
    machine_lines = machine()
    print(machine_lines, flush=True)
    results, r_versions = {}, None
    with tempfile.TemporaryDirectory() as tmp:
        csv, script = Path(tmp, "data.csv"), Path(tmp, "bench.R")
        if any(ARMS[a][0] == "R" for a in args.arms):
            X, y = make_data(args.n, P, INCOMPLETE, seed=SEED)
            X.assign(y=y).to_csv(csv, index=False)
            script.write_text(R_SCRIPT)
            del X, y
        for name in args.arms:
            kind, method = ARMS[name]
            if kind == "R":
                if shutil.which("Rscript") is None:
                    r = {"error": "Rscript not found"}
                else:
                    r = run_r(method, csv, script, args.timeout, env)
                    r_versions = r.pop("versions", r_versions)
            elif kind == "miceforest" and _version("miceforest") == "absent":
                r = {"error": "miceforest not installed"}
            else:
                r = run_python(kind, method, args.n, args.timeout, env)
            results[name] = r
            status = r.get("error") or f"{r['time']:.2f} s"
            print(f"{name:45s} {status}", flush=True)

    table = markdown(results)
    try:
        load_end = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        load_end = "n/a"
    print()
    print(table)
    versions = [
        f"- skmipool tree {ROOT.name} at {tree_commit(ROOT)}; miceforest "
        f"{_version('miceforest')}, lightgbm {_version('lightgbm')}"
    ]
    if r_versions:
        versions.append(f"- R {r_versions['R']}, mice {r_versions['mice']}")
    r_peak = next((r.get("peak_source") for r in results.values() if "peak_source" in r), None)
    text = f"""# skmipool, miceforest and R mice at n = {args.n:,} (issue 18, part 6)

Written by `python benchmarks/bench_peers.py`: one run, every arm in its own process,
one after the other on the same machine, each with a timeout of {args.timeout:.0f} s.
Data: `bench_scale.make_data({args.n}, {P}, {INCOMPLETE}, seed={SEED})`: n = {args.n:,} rows, x0..x8
equicorrelated (rho = 0.5), x9 driving MAR missingness of about 20% in x0, x1, x2,
y = X @ linspace(1, 0.1, 10) + N(0, 1) noise (true coefficient of x0: {TRUE_X0}). Every arm
imputes X and y together, M = {M} imputations with {MAX_ITER} iterations, fits OLS of y on
x0..x9 in each completed dataset and pools with Rubin's rules:

- skmipool: `MIPooledEstimator(LinearRegression(), ChainedImputer(max_iter={MAX_ITER},
  method=...), n_imputations={M}, n_jobs=1, random_state=0).fit(X, y)`;
- miceforest: `ImputationKernel(data, num_datasets={M}, random_state=0).mice({MAX_ITER})` with
  its defaults (LightGBM random forests, mean matching "normal", 5 candidates), then
  statsmodels OLS on each `complete_data(i)` and `skmipool.pool_estimates`;
- R mice: `mice(d, m = {M}, maxit = {MAX_ITER}, method = ..., printFlag = FALSE, seed = 1)`
  on the data read from a CSV, then `pool(with(imp, lm(y ~ x0 + ... + x9)))`.

Single-threaded everywhere (OPENBLAS_NUM_THREADS=1, OMP_NUM_THREADS=1, so LightGBM too).
Wall time: imputation, analyses and pooling, without generating or reading the data
(R: `proc.time()` around `mice()` and around `pool(with(...))`). Peak RSS: the
process's high-water mark, reset (`/proc/self/clear_refs`) once the data are in memory,
so the peak of imputing, analysing and pooling, interpreter and data included (Python
`ru_maxrss`; R: {r_peak or "-"}); "rise": that peak minus the RSS just before the
imputation.

## Machine

{machine_lines}
- load average at the end: {load_end} (a shared machine: other processes may run meanwhile)
{chr(10).join(versions)}

## Results

{table}
"""
    Path(args.out).write_text(text)
    print(f"\nwritten: {args.out}")


if __name__ == "__main__":
    main()
