"""How ChainedImputer and MIPooledEstimator scale in n and in p (issue 18, part 6); not a test.

Data: ``bench_imputer_memory.make_data`` generalised to n rows and p columns: x0..x_{p-2}
equicorrelated (rho = 0.5), x_{p-1} independent and driving MAR missingness (about 20%
each) in the first ``incomplete`` columns, y linear in all; float64, as a DataFrame
(x0, x1, ...) with y a Series. The rows are drawn in chunks straight into the frame's
column-major block, so that generating X costs little more than X itself (760 MB at
n = 10^7, p = 10).

Every measurement runs in a fresh Python process with ``PYTHONPATH`` set to the tree
measured (``--tree``, default this script's repository; the child checks that skmipool
is imported from there) and OPENBLAS_NUM_THREADS=1. The child generates the data
(timed and reported apart), warms up on 500 rows, then measures once:

- ``mi``: wall time of ``MIPooledEstimator(LinearRegression(), ChainedImputer(max_iter=5,
  method=METHOD), n_imputations=M, n_jobs=1, random_state=0).fit(X, y)``, its peak RSS
  above the RSS before it (``ru_maxrss`` minus ``/proc/self/statm`` before, with the
  high-water mark reset after generating the data where ``/proc/self/clear_refs``
  allows it) and the pickle size of the fitted estimator; also the time spent inside the
  M imputers' ``fit_transform`` ("MI imputations s") and the rest of the fit ("MI rest s":
  validation, checks, the M analyses, their covariances and pooling). The M imputations
  impute X *and the outcome column* (mice's default), so they are not M times
  ``imputer`` below, which imputes X alone;
- ``imputer``: the same for ``ChainedImputer(max_iter=5, method=METHOD,
  random_state=0).fit_transform(X)`` alone, and the pickle size of that one fitted
  imputer.

Sizes are in MB and in copies of X (n * p * 8 bytes). After the table come the growth
exponents between consecutive points, log(t2 / t1) / log(x2 / x1), for the two times
and the fit's peak: 1 is linear.

Series:

- ``--series n``: n = 10^4, 10^5, 10^6 (and 10^7 with ``--big``), p = 10, 3 incomplete,
  M = 5;
- ``--series p``: p = 50, 100, 200, n = 20 000, M = 2, with 3 incomplete columns and with
  30% of the columns incomplete.

Methods: lrd (the default), norm and pmm (``--methods``). ``--repeat R`` keeps the fastest of
R runs of each cell (each in its own process: a shared machine is noisy). ``--n-values`` and
``--p-values`` replace a series' sizes (quick checks); ``--out FILE`` also writes the
tables with a description of the machine as markdown.

Run: ``python benchmarks/bench_scale.py --series n [--big] [--tree PATH]``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from _bench_common import machine as _machine  # noqa: E402
from bench_imputer_memory import make_data as _make_arrays  # noqa: E402

MB = 2**20
MAX_ITER = 5
METHODS = ("lrd", "norm", "pmm")
KINDS = ("mi", "imputer")


def make_data(n: int, p: int, n_incomplete: int, seed: int = 0):
    """X as a DataFrame (x0..x{p-1}) wrapping the generated block without a copy; y a Series.

    At n = 10^5, p = 10, 3 incomplete, the values are those of
    ``bench_imputer_memory.make_data(seed)``.
    """
    import pandas as pd

    X, y = _make_arrays(seed, n=n, p=p, n_incomplete=n_incomplete, order="F")
    frame = pd.DataFrame(X, columns=[f"x{j}" for j in range(p)], copy=False)
    return frame, pd.Series(y, name="y", copy=False)


# ----------------------------------------------------------------- child process
def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _max_rss_bytes() -> int:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _reset_peak() -> bool:
    """Reset the process's RSS high-water mark (Linux >= 4.0); False where not allowed."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return True


class _Counter:
    """A file that only counts what is written: pickle sizes without holding the bytes."""

    def __init__(self):
        self.size = 0

    def write(self, data) -> int:
        n = memoryview(data).nbytes
        self.size += n
        return n


def _pickle_size(obj) -> int:
    import pickle

    counter = _Counter()
    pickle.dump(obj, counter, protocol=pickle.HIGHEST_PROTOCOL)
    return counter.size


class _ImputationClock:
    """Adds up the time spent in ChainedImputer.fit_transform (the MI fit's imputations).

    Wraps the method on the class, in the measuring child process only: the imputers that
    MIPooledEstimator clones are new instances of the class.
    """

    def __init__(self):
        from skmipool.impute import ChainedImputer

        self.seconds = 0.0
        inner = ChainedImputer.fit_transform

        def fit_transform(imputer, *args, **kwargs):
            start = time.perf_counter()
            try:
                return inner(imputer, *args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - start

        ChainedImputer.fit_transform = fit_transform


def _fit(kind: str, method: str, m: int, X, y):
    """The measured call; returns the object whose pickle is measured."""
    from sklearn.linear_model import LinearRegression

    from skmipool import MIPooledEstimator
    from skmipool.impute import ChainedImputer

    imputer = ChainedImputer(max_iter=MAX_ITER, method=method, random_state=0)
    if kind == "mi":
        return MIPooledEstimator(
            LinearRegression(), imputer, n_imputations=m, n_jobs=1, random_state=0
        ).fit(X, y)
    imputer.fit_transform(X)
    return imputer


def child(spec: dict) -> None:
    """One measurement in this process; prints its figures as JSON on the last line."""
    import gc
    import warnings

    import skmipool

    tree = Path(spec["tree"]).resolve()
    where = Path(skmipool.__file__).resolve()
    if tree not in where.parents:
        raise RuntimeError(f"skmipool imported from {where}, not from the tree {tree}")
    warnings.simplefilter("ignore")
    n, p, k, m = spec["n"], spec["p"], spec["incomplete"], spec["m"]
    kind, method = spec["kind"], spec["method"]

    Xw, yw = make_data(500, p, k, seed=1)  # warm up: imports and first calls not timed
    _fit(kind, method, m, Xw, yw)
    del Xw, yw
    gc.collect()

    _reset_peak()
    rss0 = _rss_bytes()
    start = time.perf_counter()
    X, y = make_data(n, p, k, seed=spec["seed"])
    gen_time = time.perf_counter() - start
    clock = _ImputationClock() if kind == "mi" else None
    gen_peak = _max_rss_bytes() - rss0
    x_bytes = n * p * 8
    missing = float(X.iloc[:, :k].isna().to_numpy().mean())
    gc.collect()

    reset = _reset_peak()
    before = _rss_bytes()
    start = time.perf_counter()
    fitted = _fit(kind, method, m, X, y)
    elapsed = time.perf_counter() - start
    peak = _max_rss_bytes() - before
    result = {
        **spec,
        "time": elapsed,
        "imputation_time": clock.seconds if clock else None,
        "peak": peak,
        "pickle": _pickle_size(fitted),
        "x": x_bytes,
        "missing": missing,
        "gen_time": gen_time,
        "gen_peak": gen_peak,
        "peak_reset": reset,
    }
    print(json.dumps(result))


# ----------------------------------------------------------------- parent
def measure(spec: dict, timeout: float, repeat: int = 1) -> dict:
    """The fastest of ``repeat`` runs, each in a fresh process (a shared machine's noise)."""
    runs = [_measure_once(spec, timeout) for _ in range(repeat)]
    done = [r for r in runs if "error" not in r]
    if not done:
        return runs[0]
    best = min(done, key=lambda r: r["time"])
    return {**best, "runs": len(done)}


def _measure_once(spec: dict, timeout: float) -> dict:
    env = dict(
        os.environ,
        PYTHONPATH=spec["tree"],
        OPENBLAS_NUM_THREADS="1",
        OMP_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
    )
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(spec)]
    try:
        out = subprocess.run(
            cmd, env=env, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        return {**spec, "error": f"did not finish in {timeout:.0f} s"}
    if out.returncode != 0:
        tail = (out.stderr.strip().splitlines() or ["?"])[-1]
        return {**spec, "error": f"exit {out.returncode}: {tail[:120]}"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def points(args) -> list[tuple[str, int, int, int, int]]:
    """(series, n, p, incomplete, M) in the order measured."""
    out = []
    if "n" in args.series:
        ns = args.n_values or [10_000, 100_000, 1_000_000] + ([10_000_000] if args.big else [])
        out += [("n", n, 10, 3, 5) for n in ns]
    if "p" in args.series:
        for label in ("3", "30%"):
            for p in args.p_values or [50, 100, 200]:
                k = 3 if label == "3" else max(1, round(0.3 * p))
                out.append((f"p, {label} incomplete", 20_000, p, k, 2))
    return out


def _fmt(v, spec=".2f"):
    return "-" if v is None else format(v, spec)


def table(rows: list[dict]) -> str:
    head = [
        "series",
        "method",
        "n",
        "p",
        "incompl.",
        "M",
        "X MB",
        "gen s",
        "MI fit s",
        "MI imputations s",
        "MI rest s",
        "fit_transform s",
        "MI peak MB",
        "copies",
        "imputer peak MB",
        "copies",
        "MI pickle MB",
        "copies",
        "imputer pickle MB",
        "copies",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        mi, imp = r["mi"], r["imputer"]
        x = r["n"] * r["p"] * 8
        cells = [r["series"], r["method"], f"{r['n']:,}", str(r["p"]), str(r["incomplete"])]
        cells += [str(r["m"]), f"{x / MB:.1f}", _fmt(mi.get("gen_time"))]
        cells += [
            mi.get("error") or _fmt(mi["time"], ".3f"),
            _fmt(mi.get("imputation_time"), ".3f"),
            _fmt(_rest(mi), ".3f"),
            imp.get("error") or _fmt(imp["time"], ".3f"),
        ]
        for d, key in ((mi, "peak"), (imp, "peak"), (mi, "pickle"), (imp, "pickle")):
            v = d.get(key)
            cells += [_fmt(None if v is None else v / MB, ".1f")]
            cells += [_fmt(None if v is None else v / x, ".2f")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _rest(mi: dict):
    """The MI fit's time outside its imputations, None where not measured."""
    if mi.get("imputation_time") is None or "time" not in mi:
        return None
    return mi["time"] - mi["imputation_time"]


def _exponent(a, b, xa, xb):
    if a is None or b is None or a <= 0 or b <= 0:
        return None
    return math.log(b / a) / math.log(xb / xa)


def growth(rows: list[dict]) -> str:
    head = ["series", "method", "from", "to", "MI fit time", "MI rest time"]
    head += ["fit_transform time", "MI peak"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for i in range(1, len(rows)):
        a, b = rows[i - 1], rows[i]
        if (a["series"], a["method"]) != (b["series"], b["method"]):
            continue
        var = "n" if b["series"] == "n" else "p"
        xa, xb = a[var], b[var]
        cells = [b["series"], b["method"], f"{var} = {xa:,}", f"{var} = {xb:,}"]
        cells.append(_fmt(_exponent(a["mi"].get("time"), b["mi"].get("time"), xa, xb)))
        cells.append(_fmt(_exponent(_rest(a["mi"]), _rest(b["mi"]), xa, xb)))
        for kind, key in (("imputer", "time"), ("mi", "peak")):
            cells.append(_fmt(_exponent(a[kind].get(key), b[kind].get(key), xa, xb)))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def tree_commit(tree: Path) -> str:
    def git(*a):
        out = subprocess.run(["git", "-C", str(tree), *a], capture_output=True, text=True)
        return out.stdout.strip() if out.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD") or "not a git tree"
    dirty = git("status", "--porcelain", "--untracked-files=no")
    return commit + (" (with uncommitted changes)" if dirty else "")


def machine() -> str:
    """The machine, as every results file describes it (RAM included)."""
    return _machine(("numpy", "scipy", "pandas", "scikit-learn", "statsmodels"), ram=True)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", nargs="+", choices=("n", "p"), default=["n"])
    parser.add_argument("--big", action="store_true", help="add n = 10^7 to the n series")
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument("--tree", default=str(ROOT), help="source tree of skmipool to measure")
    parser.add_argument("--n-values", type=lambda s: [int(float(v)) for v in s.split(",")])
    parser.add_argument("--p-values", type=lambda s: [int(v) for v in s.split(",")])
    parser.add_argument("--timeout", type=float, default=3600, help="per measurement (s)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per cell; fastest kept")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="also write the tables here (markdown)")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(json.loads(args.child))
        return

    tree = Path(args.tree).resolve()
    header = (
        f"tree: {tree} at {tree_commit(tree)}; ChainedImputer(max_iter={MAX_ITER}), "
        f"n_jobs=1, OPENBLAS_NUM_THREADS=1; each cell the fastest of {args.repeat} run(s), "
        f"each in a fresh process\n"
        f"{machine()}"
    )
    print(header, flush=True)
    rows = []
    for series, n, p, k, m in points(args):
        for method in args.methods:
            row = {"series": series, "method": method, "n": n, "p": p, "incomplete": k, "m": m}
            for kind in KINDS:
                spec = {
                    "kind": kind,
                    "method": method,
                    "n": n,
                    "p": p,
                    "incomplete": k,
                    "m": m,
                    "seed": args.seed,
                    "tree": str(tree),
                }
                row[kind] = r = measure(spec, args.timeout, args.repeat)
                inside = r.get("imputation_time")
                status = r.get("error") or (
                    f"{r['time']:.3f} s"
                    + ("" if inside is None else f" ({inside:.3f} s imputing)")
                    + f", peak {r['peak'] / MB:.1f} MB, "
                    f"pickle {r['pickle'] / MB:.1f} MB, missing {r['missing']:.1%}; "
                    f"data {r['gen_time']:.2f} s, {r['gen_peak'] / r['x']:.2f} copies of X"
                    + ("" if r["peak_reset"] else " (peak not reset after generating)")
                )
                print(f"  {series:18s} {method:5s} n={n:<9,} p={p:<4} {kind:8s} {status}")
            rows.append(row)
    rows.sort(key=lambda r: (r["series"], r["method"], r["n"], r["p"]))
    text = (
        f"{header}\n\n{table(rows)}\n\n"
        f"Growth exponents between consecutive points, log(t2/t1) / log(x2/x1):\n\n"
        f"{growth(rows)}\n"
    )
    print()
    print(text)
    if args.out:
        Path(args.out).write_text(f"# Scale benchmark (issue 18, part 6)\n\n{text}")
        print(f"written: {args.out}")


if __name__ == "__main__":
    main()
