"""The ``skmipool`` command (also ``python -m skmipool``).

``skmipool`` with no arguments runs the main job on bundled data: it imputes
mice's nhanes data, fits ``chl ~ age + bmi + hyp`` by OLS in each completed
copy and prints the pooled summary with the MI footer.

``skmipool fit DATA.csv --formula "y ~ x1 + x2" --model ols|logit|poisson|cox``
does the same for a CSV file (empty cells are missing values): it imputes every
column with :class:`skmipool.impute.ChainedImputer` (pmm for numbers, logistic
models for text and categories, as mice does), fits the formula in each
completed copy and prints the pooled table, or JSON with ``--json``. Bad input
ends in a one-line error and exit status 2, without a traceback.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import pandas as pd

from skmipool._estimator import MIPooledEstimator
from skmipool.datasets import load_nhanes
from skmipool.impute import ChainedImputer
from skmipool.impute._columns import identifier_like_columns
from skmipool.models import FormulaModel
from skmipool.models._formula import parse_model_formula


def run_demo(n_imputations: int = 20, seed: int = 2026) -> str:
    """Impute nhanes, fit chl ~ age + bmi + hyp, pool; return the printed summary."""
    data = load_nhanes()
    X, y = data[["age", "bmi", "hyp"]], data["chl"]
    model = MIPooledEstimator(n_imputations=n_imputations, random_state=seed).fit(X, y)
    return (
        f"nhanes (mice), {len(data)} rows, {int(data.isna().sum().sum())} missing cells; "
        f"chl ~ age + bmi + hyp by OLS, M = {n_imputations} imputations "
        f"(ChainedImputer(), outcome in the imputation model)\n\n"
        f"{model.summary()}"
    )


class CommandError(Exception):
    """A problem with the user's input, reported in one line."""


MISSING_MARKERS = ("", "NA")  # an empty cell, and R's write.csv


def _read_csv(path: str, na=MISSING_MARKERS):
    file = Path(path)
    if not file.is_file():
        raise CommandError(f"no such file: {path}")
    try:
        # only the given markers are missing: "N/A", "null" or "None" stay text and are
        # reported by _check_text_columns, never silently taken for missing values
        frame = pd.read_csv(file, na_values=list(na), keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise CommandError(f"cannot read {path} as CSV: {exc}") from None
    _check_numbers_with_text(frame, na)
    return frame


def _check_numbers_with_text(frame, na) -> None:
    """A column of numbers with a few text cells: most likely an unknown missing-value marker."""
    for col in frame.columns:
        values = frame[col].dropna()
        if values.empty or pd.api.types.is_numeric_dtype(values):
            continue
        numbers = pd.to_numeric(values.astype(str), errors="coerce")
        text = values[numbers.isna()].astype(str)
        if numbers.notna().mean() >= 0.5 and len(text):
            tokens = sorted(set(text))[:5]
            raise CommandError(
                f"column {col!r} holds numbers but also the text {tokens} in {len(text)} "
                f"row(s); missing values are only the cells {list(na)}. If {tokens[0]!r} marks "
                f"a missing value, add it: --na {' '.join(repr(t) for t in (*na, tokens[0]))}"
            )


def _formula_columns(formula: str, model: str, columns) -> list[str]:
    """Columns the formula uses, from the grammar FormulaModel parses with.

    A formula outside the grammar (or with a term the model does not support)
    is a FormulaError naming the token and its position; unknown columns are an
    error naming them. Both come before any imputation runs.
    """
    names = list(parse_model_formula(formula, model).columns)
    unknown = [t for t in names if t not in columns]
    if unknown:
        raise CommandError(
            f"unknown column(s) {unknown} in the formula; the file has {list(columns)}"
        )
    return names


def _check_text_columns(frame) -> None:
    """Text columns are imputed as categories, but not identifiers (a value per row)."""
    bad = identifier_like_columns(frame)
    if bad:
        raise CommandError(
            f"column(s) {bad} are text with a different value in (almost) every row, like "
            f"names or ids; they cannot be imputed or predict anything: remove them from the "
            f"file"
        )


def _json_value(value):
    """Exact floats; inf and NaN (e.g. df with B = 0) as null, which JSON can hold."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def fit_command(args) -> str:
    """Run ``skmipool fit``; return the text to print."""
    frame = _read_csv(args.data, args.na)
    _formula_columns(args.formula, args.model, frame.columns)
    _check_text_columns(frame)
    if not 0 < args.level < 1:
        raise CommandError(f"--level must lie between 0 and 1 (e.g. 0.95); got {args.level}")
    if args.imputations < 2:
        raise CommandError(f"-m must be at least 2; got {args.imputations}")
    model = FormulaModel(args.formula, model=args.model)
    verbose = 1 if (args.progress or (args.progress is None and sys.stderr.isatty())) else 0
    mi = MIPooledEstimator(
        model,
        ChainedImputer(),
        n_imputations=args.imputations,
        random_state=args.seed,
        verbose=verbose,
    ).fit(frame)
    table = mi.pooled_.to_frame(level=args.level, exponentiate=args.exponentiate)
    if args.json:
        return json.dumps(
            {
                "data": args.data,
                "formula": args.formula,
                "model": args.model,
                "n_imputations": mi.n_imputations_,
                "dfcom": None if math.isinf(mi.dfcom_) else mi.dfcom_,
                "level": args.level,
                "exponentiate": args.exponentiate,
                "terms": [
                    {k: _json_value(v) for k, v in row.items()}
                    for row in table.reset_index().to_dict(orient="records")
                ],
            },
            indent=2,
        )
    header = (
        f"{args.data}: {len(frame)} rows, {int(frame.isna().sum().sum())} missing cells; "
        f"{args.formula} ({args.model}), M = {args.imputations}; chained equations "
        f"(ChainedImputer's defaults: local residual draws for numbers, logistic models for "
        f"categories) on all columns\n\n"
    )
    return header + str(mi.summary(level=args.level, exponentiate=args.exponentiate))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="skmipool",
        description="Multiple imputation with Rubin's rules. Without a command: the main job "
        "on bundled data (nhanes, chl ~ age + bmi + hyp).",
    )
    parser.add_argument("-m", "--imputations", type=int, default=20, help="number of imputations")
    parser.add_argument("--seed", type=int, default=2026, help="random seed")
    sub = parser.add_subparsers(dest="command")
    fit = sub.add_parser("fit", help="impute a CSV file, fit a formula, pool")
    fit.add_argument("data", help="CSV file; empty cells and NA are missing values")
    fit.add_argument(
        "--na",
        nargs="*",
        default=list(MISSING_MARKERS),
        metavar="MARKER",
        help='cell values that mean "missing" (default: empty cells and NA, as R writes them)',
    )
    fit.add_argument("--formula", required=True, help='e.g. "y ~ x1 + x2"')
    fit.add_argument(
        "--model",
        choices=["ols", "mixed", "logit", "poisson", "cox"],
        default="ols",
        help="ols (with a (1 | g) term: a linear mixed model), mixed, logit, poisson or cox",
    )
    fit.add_argument("-m", "--imputations", type=int, default=20, help="number of imputations")
    fit.add_argument("--seed", type=int, default=2026, help="random seed")
    fit.add_argument("--level", type=float, default=0.95, help="confidence level")
    fit.add_argument("--exponentiate", action="store_true", help="report exp(estimate)")
    fit.add_argument("--json", action="store_true", help="print JSON instead of a table")
    fit.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar on stderr (default: when stderr is a terminal)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``skmipool`` console script."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "fit":
            print(fit_command(args))
        else:
            print(run_demo(args.imputations, args.seed))
    except CommandError as exc:
        print(f"skmipool: error: {exc}", file=sys.stderr)
        return 2
    except (ValueError, TypeError, KeyError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"skmipool: error: {first}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
