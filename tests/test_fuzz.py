"""Fuzzing the public entry points with random frames and arguments (hypothesis).

The property, for every target (``MIPooledEstimator.fit``, ``ChainedImputer.fit_transform``,
``pool_estimates``, ``pool``, ``compare`` and the ``skmipool fit`` command): either a
finite result of the right shape, labelled with the right term names, or an exception of a
documented type (ValueError, TypeError and skmipool's own subclasses of them) whose message
names the offending argument or column; and the inputs are left unchanged. Raw IndexError,
KeyError, ZeroDivisionError, LinAlgError or AttributeError, or an error that names nothing,
is a failure. Warnings are allowed (RuntimeWarnings from skmipool are errors, pyproject.toml).

Frames mix float, int, bool, nullable Float64/Int64/boolean, categorical (ordered too) and
text columns, with no, some, most or all cells missing, all-missing rows, columns with one
or two distinct values, tiny n, scales from 1e-8 to 1e9 and odd column names.
Column names include the estimator's internal outcome column ("__skmipool_target__...").

Cost: the "ci" profile (derandomized, the default: 100 examples per test, 150 for the
estimator and the CLI) ran this file in 47 s wall time (19 s CPU) on one shared core
(``taskset -c 0``). The "long" profile (2000 fresh examples per test, about 10 minutes)
is for local runs: ``HYPOTHESIS_PROFILE=long python -m pytest tests/test_fuzz.py -n 0``
(user guide, "Reliability").
"""

from __future__ import annotations

import copy
import json
import os
import re
import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from skmipool import Estimate, MIPooledEstimator, compare, pool, pool_estimates
from skmipool.__main__ import main
from skmipool.impute import ChainedImputer

# examples per test under the "ci" and "dev" profiles; the "long" profile's (2000) otherwise
# (the estimator and CLI examples are the ones most often refused early, so they get more)
LONG = os.environ.get("HYPOTHESIS_PROFILE") == "long"
FAST = settings.default.max_examples if LONG else 100
SLOW = settings.default.max_examples if LONG else 150

# column names a user may have: spaces, unicode, digits first, brackets, names that look
# like the term names skmipool makes, and names like the estimator's internal outcome column
NAMES = [
    "x",
    "y",
    "a b",
    "größe",
    "1st",
    "_TARGET",
    "__skmipool_target__",
    "__skmipool_target__0",
    "intercept",
    "Intercept",
    "x0",
    "g[T.b]",
    "x.y",
    "-",
    "日本",
]
KINDS = ["float", "int", "bool", "category", "ordered", "object", "ids", "Float64", "Int64"]
SCALES = [1e-8, 1e-3, 1.0, 1e3, 1e9]
LEVELS = ["lo", "mid", "hi"]

# skmipool's documented errors are ValueError or TypeError subclasses; these are not
# documented even though numpy's LinAlgError is a ValueError
RAW = (IndexError, KeyError, ZeroDivisionError, np.linalg.LinAlgError, AttributeError)
# words by which a message names an argument (besides the columns and the term names)
ARGUMENTS = [
    "X",
    "y",
    "n_imputations",
    "random_state",
    "dfcom",
    "level",
    "names",
    "estimates",
    "covariances",
    "covariance",
    "variances",
    "fits",
    "imputation",
    "imputations",
    "column",
    "columns",
    "formula",
    "file",
    "method",
    "null model",
    "full model",
    "terms",
]

_settings = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
}


# --------------------------------------------------------------------- strategies


@st.composite
def column_specs(draw, n_max=4):
    """(name, kind, distinct, scale, missing) per column; names unique."""
    k = draw(st.integers(1, n_max))
    names = draw(st.lists(st.sampled_from(NAMES), min_size=k, max_size=k, unique=True))
    return [
        (
            name,
            draw(st.sampled_from(KINDS)),
            draw(st.sampled_from([None, None, None, 2, 1])),  # None: many distinct values
            draw(st.sampled_from(SCALES)),
            draw(st.sampled_from(["none", "some", "some", "some", "most", "all"])),
        )
        for name in names
    ]


def _column(kind, n, distinct, scale, missing, rng, blank_row):
    d = distinct or n
    mask = {
        "none": np.zeros(n, bool),
        "some": rng.random(n) < 0.3,
        "most": rng.random(n) < 0.85,
        "all": np.ones(n, bool),
    }[missing]
    if blank_row is not None:
        mask[blank_row] = True
    pick = rng.integers(0, d, size=n)
    if kind in ("float", "Float64"):
        values = (rng.normal(size=d) * scale + rng.choice([0.0, scale]))[pick]
    elif kind in ("int", "Int64"):
        values = (rng.integers(-20, 20, size=d) * max(int(scale), 1))[pick]
    elif kind == "bool":
        values = np.array([True, False])[pick % 2]
    else:  # text: a few levels, or a different value in every row ("ids")
        labels = [f"id{i}" for i in range(n)] if kind == "ids" else LEVELS[:d]
        values = np.array(labels, dtype=object)[pick % len(labels)]
    if kind == "float":
        return pd.Series(np.where(mask, np.nan, values), dtype=float)
    if kind == "int":
        return pd.Series(values) if not mask.any() else pd.Series(np.where(mask, np.nan, values))
    if kind in ("Float64", "Int64", "bool"):
        dtype = {"Float64": "Float64", "Int64": "Int64", "bool": "boolean"}[kind]
        if kind == "bool" and not mask.any():
            return pd.Series(values, dtype=bool)
        s = pd.Series(values, dtype=dtype)
        s[mask] = pd.NA
        return s
    values = np.where(mask, None, values)
    if kind in ("object", "ids"):
        return pd.Series(values, dtype=object)
    cats = LEVELS[: max(d, 2)]  # with one distinct value, a category that occurs in no row
    return pd.Series(pd.Categorical(values, categories=cats, ordered=kind == "ordered"))


def _make_frame(specs, n, rng, blank_row=None):
    return pd.DataFrame(
        {name: _column(kind, n, d, s, m, rng, blank_row) for name, kind, d, s, m in specs}
    )


@st.composite
def data_sets(draw, n_min=1, n_max=25, k_max=4, outcome=True):
    """X (a DataFrame) and, when asked, an outcome Series named like a column may be."""
    n = draw(st.integers(n_min, n_max))
    specs = draw(column_specs(k_max))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    # sometimes a row missing in every column
    blank_row = draw(st.one_of(st.none(), st.integers(0, n - 1))) if n > 2 else None
    X = _make_frame(specs, n, rng, blank_row)
    if not outcome:
        return X, None
    scale = draw(st.sampled_from(SCALES))
    y = pd.Series(
        X.select_dtypes("number").astype(float).fillna(0).sum(axis=1).to_numpy()
        + rng.normal(size=n) * scale,
        name=draw(st.one_of(st.none(), st.sampled_from(NAMES))),
    )
    missing = draw(st.sampled_from(["none", "some", "all"]))
    if missing == "some":
        y[rng.random(n) < 0.3] = np.nan
    elif missing == "all":
        y[:] = np.nan
    return X, y


dfcoms = st.one_of(
    st.just("auto"),
    st.none(),
    st.just(np.inf),
    st.floats(0.5, 1e6),
    st.sampled_from([0.0, -3.0, np.nan]),
)


# --------------------------------------------------------------------- the property


def _names_something(message: str, subjects) -> bool:
    """Whether the message names an argument, a column or a term."""
    for word in [*ARGUMENTS, *map(str, subjects)]:
        if re.search(rf"(?<![\w]){re.escape(word)}(?![\w])", message):
            return True
    return False


def _check_error(exc: BaseException, subjects) -> None:
    """A documented error type whose message names what is wrong."""
    event(f"{type(exc).__name__}: {str(exc)[:60]}")
    chain, e = [], exc
    while e is not None:
        chain.append(e)
        e = e.__cause__
    raw = [e for e in chain if isinstance(e, RAW)]
    assert not raw, f"undocumented {type(raw[0]).__name__} raised: {exc!r}"
    assert isinstance(exc, ValueError | TypeError), f"undocumented error {exc!r}"
    assert _names_something(str(exc), subjects), f"the error names nothing actionable: {exc}"


def _check_finite(table: pd.DataFrame, terms, dfcom_infinite: bool) -> None:
    event("finite result")
    assert list(table.index) == list(terms)
    for col in ("estimate", "std_error"):
        assert np.isfinite(table[col].to_numpy(float)).all(), f"non-finite {col}:\n{table}"
    df = table["df"].to_numpy(float)
    assert not np.isnan(df).any() and (df > 0).all(), f"bad df:\n{table}"
    if not dfcom_infinite:
        assert np.isfinite(df).all(), f"infinite df with a finite dfcom:\n{table}"


def _expected_terms(X: pd.DataFrame) -> list[str]:
    """intercept, then one term per numeric column and level-1 per categorical column."""
    terms = ["intercept"]
    for c in X.columns:
        s = X[c]
        if pd.api.types.is_bool_dtype(s) or not pd.api.types.is_numeric_dtype(s):
            levels = list(s.cat.categories) if isinstance(s.dtype, pd.CategoricalDtype) else None
            if levels is None:
                levels = sorted(s.dropna().unique(), key=str)
            terms += [f"{c}[T.{v}]" for v in levels[1:]]
        else:
            terms.append(str(c))
    return terms


def _unchanged(before, after) -> None:
    if isinstance(before, pd.DataFrame):
        pd.testing.assert_frame_equal(before, after)
    elif isinstance(before, pd.Series):
        pd.testing.assert_series_equal(before, after)
    else:
        np.testing.assert_array_equal(before, after)


# --------------------------------------------------------------------- targets


@settings(max_examples=SLOW, **_settings)
@given(
    data_sets(),
    st.integers(2, 3),
    st.integers(0, 2**31 - 1),
    dfcoms,
    st.sampled_from([0.5, 0.95, 0.999]),
)
def test_estimator_fit(data, m, seed, dfcom, level):
    X, y = data
    X0, y0 = copy.deepcopy(X), copy.deepcopy(y)
    mi = MIPooledEstimator(
        imputer=ChainedImputer(max_iter=2),
        n_imputations=m,
        random_state=seed,
        dfcom=dfcom,
    )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            mi.fit(X, y)
            table = mi.pooled_.to_frame(level=level)
    except Exception as exc:
        _check_error(exc, [*X.columns, y.name])
    else:
        terms = _expected_terms(X)
        assert list(mi.terms_) == terms
        _check_finite(table, terms, dfcom is None or dfcom == np.inf)
    _unchanged(X0, X)
    _unchanged(y0, y)


@settings(max_examples=FAST, **_settings)
@given(data_sets(outcome=False), st.integers(0, 2**31 - 1))
def test_chained_imputer(data, seed):
    X, _ = data
    X0 = copy.deepcopy(X)
    try:
        out = ChainedImputer(max_iter=2, random_state=seed).fit_transform(X)
    except Exception as exc:
        _check_error(exc, X.columns)
    else:
        event("completed")
        assert out.shape == X.shape
        assert list(out.columns) == list(X.columns) and out.index.equals(X.index)
        for c in X.columns:  # dtypes kept; integers made non-integer (lrd, norm) become float
            if out[c].dtype != X[c].dtype:
                assert pd.api.types.is_integer_dtype(X[c]) and out[c].dtype == float, c
                assert (out[c] % 1 != 0).any(), c
        assert not out.isna().any().any()
        observed = X.notna()
        for c in X.columns:
            pd.testing.assert_series_equal(
                out[c][observed[c]], X[c][observed[c]], check_dtype=out[c].dtype == X[c].dtype
            )
            if pd.api.types.is_numeric_dtype(X[c]) and not pd.api.types.is_bool_dtype(X[c]):
                assert np.isfinite(out[c].to_numpy(float)).all()
            else:  # imputed categories are observed ones (or the dtype's categories)
                allowed = set(X[c].dropna())
                if isinstance(X[c].dtype, pd.CategoricalDtype):
                    allowed |= set(X[c].cat.categories)
                assert set(out[c]) <= allowed
    _unchanged(X0, X)


# arrays for pool_estimates: ordinary, tiny and huge values, zeros, negative, NaN and inf
_values = st.one_of(
    st.floats(-10, 10),
    st.sampled_from([0.0, 1e-8, -1e-8, 1e9, -1e9, 1e300, np.nan, np.inf, -np.inf]),
)


@st.composite
def pooling_inputs(draw):
    m = draw(st.integers(1, 4))
    k = draw(st.integers(1, 3))
    scale = draw(st.sampled_from(SCALES))
    q = np.array(draw(st.lists(_values, min_size=m * k, max_size=m * k))).reshape(m, k) * scale
    shape = draw(st.sampled_from(["var", "cov", "vector"]))
    if shape == "vector":
        u = np.abs(np.array(draw(st.lists(_values, min_size=m, max_size=m)))) * scale**2
        q = q[:, 0]
    elif shape == "var":
        u = np.array(draw(st.lists(_values, min_size=m * k, max_size=m * k))).reshape(m, k)
        u = np.abs(u) * scale**2 if draw(st.booleans()) else u
    else:
        a = np.array(draw(st.lists(_values, min_size=m * k * k, max_size=m * k * k)))
        a = a.reshape(m, k, k)
        u = a @ a.transpose(0, 2, 1) if draw(st.booleans()) else a
    names = draw(
        st.one_of(
            st.none(),
            st.lists(st.sampled_from(NAMES), min_size=k, max_size=k, unique=True),
            st.lists(st.sampled_from(NAMES), min_size=0, max_size=k + 1),
            st.sampled_from(NAMES),
        )
    )
    if draw(st.booleans()) and q.ndim == 2:  # estimates as a DataFrame, terms from its columns
        q = pd.DataFrame(q, columns=[f"c{i}" for i in range(k)])
    return q, u, names


@settings(max_examples=FAST if LONG else FAST * 4, **_settings)
@given(
    pooling_inputs(),
    st.one_of(st.none(), st.just(np.inf), st.floats(0.5, 1e6), st.sampled_from([0.0, np.nan])),
    st.sampled_from([0.9, 0.95]),
)
def test_pool_estimates(inputs, dfcom, level):
    q, u, names = inputs
    q0, u0 = copy.deepcopy(q), copy.deepcopy(u)
    try:
        res = pool_estimates(q, u, dfcom=dfcom, names=names)
        table = res.to_frame(level=level)
    except Exception as exc:
        _check_error(exc, [])
    else:
        k = 1 if np.ndim(q) == 1 else np.shape(q)[1]
        if names is not None:
            terms = list(names)
        elif isinstance(q, pd.DataFrame):
            terms = list(q.columns)
        else:
            terms = [f"x{i}" for i in range(k)]
        _check_finite(table, terms, dfcom is None or dfcom == np.inf)
    _unchanged(q0, q)
    _unchanged(u0, u)


@st.composite
def completed_fits(draw):
    """M statsmodels OLS fits of y on X in M random 'completed' datasets (and null fits)."""
    m = draw(st.integers(1, 4))
    n = draw(st.integers(2, 12))
    k = draw(st.integers(1, 3))
    scale = draw(st.sampled_from(SCALES))
    collinear = draw(st.booleans())
    same = draw(st.booleans())  # identical imputations: B = 0
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    names = draw(st.lists(st.sampled_from(NAMES), min_size=k, max_size=k, unique=True))
    base = rng.normal(size=(n, k)) * scale
    full, null = [], []
    for _ in range(m):
        X = base if same else base + rng.normal(size=(n, k)) * scale * 0.1
        if collinear:
            X = np.column_stack([X[:, :1]] * k)
        X = pd.DataFrame(X, columns=names)
        y = X.sum(axis=1) + rng.normal(size=n) * scale
        Xc = sm.add_constant(X, has_constant="add")
        full.append(sm.OLS(y, Xc).fit())
        null.append(sm.OLS(y, Xc.iloc[:, :1]).fit())
    return full, null


def _frozen(fits):
    """Copies of what a fit holds (statsmodels results or Estimate objects)."""
    return [
        (np.array(f.estimate), np.array(f.covariance))
        if isinstance(f, Estimate)
        else (f.params.to_numpy(copy=True), f.cov_params().to_numpy(copy=True))
        for f in fits
    ]


def _assert_same(before, after) -> None:
    for (a, b), (c, d) in zip(before, after, strict=True):
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(b, d)


@settings(max_examples=FAST, **_settings)
@given(
    completed_fits(),
    dfcoms,
    st.one_of(st.none(), st.lists(st.sampled_from(NAMES), min_size=1, max_size=5, unique=True)),
    st.booleans(),
)
def test_pool_fits(fits, dfcom, names, as_estimates):
    full, _ = fits
    if as_estimates:
        full = [Estimate(f.params, f.cov_params(), dfcom=f.df_resid or None) for f in full]
    before = _frozen(full)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            res = pool(full, dfcom=dfcom, names=names)
            table = res.to_frame()
    except Exception as exc:
        _check_error(exc, [])
    else:
        terms = names if names is not None else _names_of(full[0])
        _check_finite(table, terms, np.isinf(res.dfcom))
    _assert_same(before, _frozen(full))


def _names_of(fit) -> list[str]:
    return list(fit.names) if isinstance(fit, Estimate) else list(fit.params.index)


@settings(max_examples=FAST, **_settings)
@given(completed_fits(), st.sampled_from(["D1", "D2", "D3"]), dfcoms)
def test_compare(fits, method, dfcom):
    full, null = fits
    before = _frozen(full + null)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            res = compare(full, null, method=method, dfcom=dfcom)
    except Exception as exc:
        _check_error(exc, [])
    else:
        # D2 and D3 can be negative (mitml and mice do not truncate them); D1 cannot
        assert np.isfinite(res.statistic) and (method != "D1" or res.statistic >= 0)
        assert res.df1 >= 1 and res.df2 > 0 and not np.isnan(res.df2)
        assert 0 <= res.p_value <= 1
    _assert_same(before, _frozen(full + null))


@settings(max_examples=SLOW, **_settings)
@given(
    data_sets(n_min=2, k_max=3),
    st.sampled_from(["ols", "logit", "poisson"]),
    st.sampled_from([0.9, 0.95, 1.5]),
    st.integers(2, 3),
)
def test_cli_fit(tmp_path_factory, data, model, level, m):
    X, y = data
    frame = X.copy()
    name = y.name if y.name is not None and y.name not in X.columns else "outcome"
    frame[name] = y
    path = tmp_path_factory.mktemp("fuzz") / "data.csv"
    frame.to_csv(path, index=False)
    text = path.read_bytes()
    rhs = " + ".join(f"`{c}`" for c in X.columns)
    args = ["fit", str(path), "--formula", f"`{name}` ~ {rhs}", "--model", model]
    args += ["-m", str(m), "--level", str(level), "--json", "--no-progress"]
    out, err = _run_main(args)
    code, stdout, stderr = out, *err
    event(f"exit {code}: {stderr[:70]}")
    if code == 0:
        result = json.loads(stdout)
        for row in result["terms"]:
            for key in ("estimate", "std_error", "df"):
                if key == "df" and result["dfcom"] is None and row["df"] is None:
                    continue  # df = inf (JSON null): large sample and B = 0
                assert isinstance(row[key], float) and np.isfinite(row[key]), row
    else:
        assert code == 2, stderr
        lines = stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("skmipool: error: "), stderr
        message = lines[0].removeprefix("skmipool: error: ")
        assert _names_something(message, [*frame.columns, "--level", "-m"]), message
        assert "Error:" not in message.split(":")[0], message  # not a raw exception name
    assert path.read_bytes() == text


def _run_main(args):
    import contextlib
    import io

    out, err = io.StringIO(), io.StringIO()
    with (
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore", UserWarning)
        code = main(args)
    return code, (out.getvalue(), err.getvalue())


if __name__ == "__main__":  # pragma: no cover
    pytest.main([__file__, "-n", "0"])
