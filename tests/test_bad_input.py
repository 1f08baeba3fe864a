"""Bad input gets a specific, actionable error or warning, and nothing is modified.

Each case names what goes wrong (column, imputation or parameter) and what to
do; none ends in a bare numpy/linalg traceback; the input data are unchanged.
"""

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import sparse
from sklearn.base import BaseEstimator, RegressorMixin, TransformerMixin
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.experimental import enable_iterative_imputer  # noqa: F401
from sklearn.impute import IterativeImputer, SimpleImputer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.tree import DecisionTreeRegressor

from skmipool import (
    Estimate,
    ImputationError,
    InconsistentVersionWarning,
    MIPooledEstimator,
    pool,
    pool_estimates,
)
from skmipool._adapters import NoStandardErrorError
from skmipool._estimator import _is_constant


def _data(n=60, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n), "c": rng.normal(size=n)})
    y = pd.Series(X["a"] + 0.5 * X["b"] + rng.normal(size=n), name="y")
    X.loc[rng.random(n) < 0.25, "a"] = np.nan
    return X, y


class _FailsOnSecondFit(RegressorMixin, BaseEstimator):
    """Fits once, then raises: imputations run in order with n_jobs=None."""

    calls = 0

    def fit(self, X, y):
        _FailsOnSecondFit.calls += 1
        if _FailsOnSecondFit.calls >= 2:
            raise RuntimeError("solver exploded")
        self.coef_ = np.zeros(np.shape(X)[1])
        return self


class _WarnsEveryFit(LinearRegression):
    def fit(self, X, y, sample_weight=None):
        warnings.warn("lbfgs failed to converge", ConvergenceWarning, stacklevel=2)
        return super().fit(X, y, sample_weight)


class _DropsAColumn(TransformerMixin, BaseEstimator):
    def __init__(self, random_state=None):
        self.random_state = random_state

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return np.asarray(pd.DataFrame(X).fillna(0.0))[:, 1:]


def _unchanged(X, y, run):
    X0, y0 = X.copy(), y.copy()
    run()
    pd.testing.assert_frame_equal(X, X0)
    pd.testing.assert_series_equal(y, y0)


def _raises(exc, match, X, y, **params):
    def run():
        with pytest.raises(exc, match=match):
            MIPooledEstimator(**{"n_imputations": 2, "random_state": 0, **params}).fit(X, y)

    _unchanged(X, y, run)


# ------------------------------------------------------------------- parameters


@pytest.mark.parametrize("m", [1, 0, -3])
def test_too_few_imputations(m):
    X, y = _data()
    _raises(
        ValueError,
        "'n_imputations' parameter .* int in the range \\[2, inf\\)",
        X,
        y,
        n_imputations=m,
    )


def test_non_integer_imputations():
    X, y = _data()
    _raises(ValueError, "'n_imputations' parameter", X, y, n_imputations=2.5)


@pytest.mark.parametrize("dfcom", [0, -1.0])
def test_non_positive_dfcom(dfcom):
    X, y = _data()
    _raises(ValueError, "'dfcom' parameter", X, y, dfcom=dfcom)


def test_level_outside_unit_interval():
    X, y = _data()
    mi = MIPooledEstimator(n_imputations=2, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="level must lie strictly between 0 and 1"):
        mi.conf_int(1.5)


# ----------------------------------------------------------------------- data


def test_all_missing_column():
    X, y = _data()
    X["d"] = np.nan
    _raises(ValueError, r"columns \['d'\] of X are entirely missing.*Drop them", X, y)


def test_constant_column():
    X, y = _data()
    X["k"] = 3.0
    _raises(ValueError, r"columns \['k'\] of X are constant.*Drop them", X, y)


def _columns_for_the_constant_check():
    nan, na = np.nan, pd.NA
    cols = {
        "float": [1.5, nan, 1.5, 1.5],
        "float varies": [1.5, nan, 1.5, 2.0],
        "signed zeros": [0.0, -0.0, nan, 0.0],
        "int": [3, 3, 3, 3],
        "int varies": [3, 3, 4, 3],
        "bool": [True, True, True, True],
        "bool varies": [True, False, True, True],
        "Int64": pd.array([2, na, 2, 2], dtype="Int64"),
        "Int64 varies": pd.array([2, na, 5, 2], dtype="Int64"),
        "Float64": pd.array([0.5, na, 0.5, na], dtype="Float64"),
        "boolean varies": pd.array([True, na, False, na], dtype="boolean"),
        "category": pd.Categorical(["a", None, "a", "a"], categories=["a", "b"]),
        "category varies": pd.Categorical(["a", None, "b", "a"]),
        "object": ["x", None, "x", nan],
        "object varies": ["x", None, "y", "x"],
        "object mixed": [1, 1.0, nan, 1],
        "string": pd.array(["u", na, "u", "u"], dtype="string"),
        "string varies": pd.array(["u", na, "v", "u"], dtype="string"),
        "datetime": pd.to_datetime(["2020-01-01", None, "2020-01-01", "2020-01-01"]),
        "datetime varies": pd.to_datetime(["2020-01-01", None, "2021-01-01", "2020-01-01"]),
        "all missing": [nan, nan, nan, nan],
    }
    return {name: pd.Series(values) for name, values in cols.items()}


@pytest.mark.parametrize("name", list(_columns_for_the_constant_check()))
def test_the_constant_check_agrees_with_nunique(name):
    column = _columns_for_the_constant_check()[name]
    expected = column.nunique(dropna=True) == 1
    assert _is_constant(column) == expected
    assert expected == (name in {
        "float", "signed zeros", "int", "bool", "Int64", "Float64", "category", "object",
        "object mixed", "string", "datetime",
    })  # fmt: skip
    # a second value after the first 1000 rows is still seen
    for lead in (0, 1):  # 1200 copies of the first row (mostly observed) or the second (mostly NaN)
        long = pd.concat([column.iloc[[lead]]] * 1200 + [column], ignore_index=True)
        assert _is_constant(long) == expected


def test_string_column_with_numeric_imputer():
    X, y = _data()
    X["s"] = ["u", "v"] * 30
    _raises(
        ValueError,
        r"columns \['s'\] are not numeric.*IterativeImputer imputes numbers",
        X,
        y,
        imputer=IterativeImputer(sample_posterior=True),
    )


@pytest.mark.parametrize("value", [np.inf, -np.inf])
def test_infinite_values(value):
    X, y = _data()
    X.loc[3, "b"] = value
    _raises(ValueError, r"infinite values in columns \['b'\].*NaN", X, y)


def test_infinite_outcome():
    X, y = _data()
    y.iloc[2] = np.inf
    _raises(ValueError, "Input y contains infinity", X, y)


def test_x_and_y_lengths_differ():
    X, y = _data()
    _raises(ValueError, "inconsistent numbers of samples", X, y.iloc[:-5])


def test_y_entirely_missing():
    X, y = _data()
    _raises(ValueError, "y is entirely missing", X, y * np.nan)


def test_empty_x():
    X, y = _data()
    _raises(ValueError, "X has no columns", X[[]], y)
    _raises(ValueError, "X has 0 sample", X.iloc[:0], y.iloc[:0])


def test_sparse_x():
    X, y = _data()
    with pytest.raises(TypeError, match=r"sparse input is not supported.*toarray"):
        MIPooledEstimator().fit(sparse.csr_matrix(X.fillna(0).to_numpy()), y)


def test_missing_outcome_without_imputing_it():
    X, y = _data()
    y.iloc[:4] = np.nan
    _raises(ValueError, "y has 4 missing values and impute_target=False", X, y, impute_target=False)


def test_missing_class_labels():
    X, y = _data()
    labels = pd.Series(np.where(y > 0, "pos", "neg"), dtype=object)
    labels.iloc[:3] = None
    _raises(
        ValueError,
        "y has 3 missing class labels",
        X,
        labels,
        estimator=LogisticRegression(C=np.inf),
    )


# ------------------------------------------------------------------ estimators


def test_estimator_without_standard_errors():
    X, y = _data()
    _raises(
        NoStandardErrorError,
        r"DecisionTreeRegressor.*variance=\"bootstrap\"",
        X,
        y,
        estimator=DecisionTreeRegressor(),
    )


def test_penalized_logistic_regression():
    X, y = _data()
    _raises(
        ImputationError,
        r"imputation 1: .*penalized \(C=1.0\).*C=np.inf",
        X,
        (y > 0) * 1,
        estimator=LogisticRegression(),
    )


def test_perfect_separation():
    X, _ = _data()
    _raises(
        ImputationError,
        "imputation 1: .*perfect separation",
        X,
        (X["b"] > 0) * 1,
        estimator=LogisticRegression(C=np.inf),
    )


def test_collinear_columns():
    X, y = _data()
    X["bc"] = X["b"] + X["c"]
    # found before imputing, in the complete cases (b, c and bc are complete; a is not)
    match = r"columns \['b', 'c', 'bc'\] of X are collinear in the \d+ rows.*Drop one of them"
    _raises(ValueError, match, X, y)


def test_inner_fit_raises_in_imputation_m():
    X, y = _data()
    _FailsOnSecondFit.calls = 0
    est = MIPooledEstimator(
        _FailsOnSecondFit(),
        estimand=lambda e, X, y: Estimate([0.0], [1.0]),
        n_imputations=3,
        random_state=0,
    )
    with pytest.raises(ImputationError, match="imputation 2: fitting the estimator failed") as info:
        est.fit(X, y)
    assert isinstance(info.value.__cause__, RuntimeError)
    assert "solver exploded" in str(info.value.__cause__)


def test_estimand_returning_something_else():
    X, y = _data()
    _raises(
        ImputationError,
        r"must return a skmipool\.Estimate",
        X,
        y,
        estimand=lambda e, X, y: (1.0, 2.0),
    )


def test_imputer_that_drops_a_column():
    X, y = _data()
    _raises(
        ImputationError,
        r"the imputer returned shape \(60, 3\) for input of shape \(60, 4\)",
        X,
        y,
        imputer=_DropsAColumn(),
    )


# -------------------------------------------------------------------- warnings


def test_deterministic_imputer_warns():
    X, y = _data()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        MIPooledEstimator(imputer=SimpleImputer(), n_imputations=2).fit(X, y)
    text = [str(w.message) for w in caught]
    assert any("B = 0" in t and "stochastic imputer" in t for t in text)
    assert any("SimpleImputer has no random_state parameter" in t for t in text)


def test_convergence_warnings_are_collected():
    X, y = _data()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        MIPooledEstimator(_WarnsEveryFit(), n_imputations=4, random_state=0).fit(X, y)
    conv = [w for w in caught if issubclass(w.category, ConvergenceWarning)]
    assert len(conv) == 1
    assert "[in all imputations of 4]" in str(conv[0].message)


# ---------------------------------------------------------------- functional


def test_pool_with_different_terms():
    fits = [
        Estimate([1.0, 2.0], np.eye(2), names=["a", "b"]),
        Estimate([1.0], [[1.0]], names=["a"]),
    ]
    with pytest.raises(ValueError, match=r"imputation 2 reports other terms .*missing \['b'\]"):
        pool(fits, dfcom=None)


def test_non_finite_estimates_and_variances():
    with pytest.raises(ValueError, match="imputation 2: the estimate of term 'x0' is inf"):
        pool_estimates(np.array([1.0, np.inf]), np.array([1.0, 1.0]))
    with pytest.raises(ValueError, match=r"imputation 1: the variance of term 'x0' is -1\.0"):
        pool_estimates(np.array([1.0, 2.0]), np.array([-1.0, 1.0]))


# ------------------------------------------------------------------ prediction


def test_predict_before_fit():
    X, _ = _data()
    with pytest.raises(NotFittedError, match="not fitted yet"):
        MIPooledEstimator().predict(X)


def test_predict_on_other_columns():
    X, y = _data()
    mi = MIPooledEstimator(n_imputations=2, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="feature names"):
        mi.predict(X.rename(columns={"c": "z"}))
    with pytest.raises(ValueError, match="X has 2 features, but MIPooledEstimator is expecting 3"):
        mi.predict(X.to_numpy()[:, :2])


def test_pickle_across_versions():
    X, y = _data()
    mi = MIPooledEstimator(n_imputations=2, random_state=0).fit(X, y)
    blob = pickle.dumps(mi)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = pickle.loads(blob)  # same version: silent
    np.testing.assert_array_equal(again.predict(X), mi.predict(X))
    state = mi.__getstate__()
    state["_skmipool_version"] = "0.0.1"
    clone_ = MIPooledEstimator.__new__(MIPooledEstimator)
    with pytest.warns(InconsistentVersionWarning, match="pickled with skmipool 0.0.1"):
        clone_.__setstate__(state)


def test_array_inputs_not_modified():
    X, y = _data()
    Xa, ya = X.to_numpy(), y.to_numpy()
    X0, y0 = Xa.copy(), ya.copy()
    MIPooledEstimator(n_imputations=2, random_state=0).fit(Xa, ya)
    np.testing.assert_array_equal(Xa, X0)
    np.testing.assert_array_equal(ya, y0)


def test_identifier_column_is_refused_before_imputation():
    X, y = _data()
    X["name"] = [f"person {i}" for i in range(len(X))]
    _raises(ValueError, r"columns \['name'\] of X are text with a different value in", X, y)


def test_within_variance_lost_in_rounding_with_finite_dfcom():
    """Found by the fuzzer: Ū = 1e-16 next to B = 25 gave df = 0 and a NaN p-value and CI."""
    q, u = np.array([0.0, 0.0, 0.0, 10.0]), np.full(4, 1e-16)
    with pytest.raises(ValueError, match=r"within-imputation variance of term 'x0' .* lost"):
        pool_estimates(q, u, dfcom=10)
    res = pool_estimates(q, u, dfcom=None)  # Rubin's large-sample df is finite at lambda = 1
    assert res.df.iloc[0] == q.size - 1
    assert np.isfinite(res.conf_int().to_numpy()).all()
