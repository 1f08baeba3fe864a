"""The examples of the reliability issue that concern valid data and input formats.

Valid data accepted (uncensored survival, constant columns the analysis does not use,
``dfcom=np.inf``, polars and pyarrow frames), and the inputs that used to fail with an
error nobody could act on (a column named like the internal outcome column, R's ``NA``
cells in the CLI). Each test costs well under a second (M = 2 or 3, small data).
"""

import warnings

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

from skmipool import MIPooledEstimator, pool, pool_estimates
from skmipool.__main__ import main
from skmipool.datasets import load_nhanes2, load_stanford2
from skmipool.impute import ChainedImputer
from skmipool.models import CoxPHRegressor, FormulaModel

COX = "Surv(time, status) ~ age + t5"


@pytest.fixture(scope="module")
def stanford():
    return load_stanford2()[["time", "status", "age", "t5"]]


@pytest.fixture(scope="module")
def nhanes():
    return load_nhanes2()


def _fit(estimator, X, y=None, m=3, **kwargs):
    return MIPooledEstimator(estimator, n_imputations=m, random_state=0, **kwargs).fit(X, y)


# ------------------------------------------------------------ survival data


def test_survival_without_censoring_is_accepted(stanford):
    """Every row an event: the event column is constant, which is valid data."""
    data = stanford.assign(status=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # and not even a warning
        formula = _fit(FormulaModel(COX, model="cox"), data)
        columns = _fit(CoxPHRegressor(time="time", event="status"), data)
    assert list(formula.terms_) == ["age", "t5"]
    assert np.all(np.isfinite(formula.pooled_.std_error))
    # the two ways of naming the outcome fit the same model on the same imputations
    np.testing.assert_allclose(formula.pooled_.estimate, columns.pooled_.estimate, rtol=1e-8)
    assert formula.dfcom_ == len(data) - 2  # events - p, every row an event


@pytest.mark.parametrize(
    "estimator",
    [FormulaModel(COX, model="cox"), CoxPHRegressor(time="time", event="status")],
    ids=["formula", "columns"],
)
def test_survival_without_events_says_so_before_imputing(stanford, estimator):
    data = stanford.assign(status=0)
    with pytest.raises(ValueError, match="event column 'status' has no events") as info:
        _fit(estimator, data)
    assert "imputation" not in str(info.value)  # found before any imputation ran
    assert "collinear" not in str(info.value)


# ---------------------------------------------------------- constant columns


def test_constant_column_the_formula_does_not_use_warns_only(nhanes):
    data = nhanes.assign(const=1.0)
    with pytest.warns(UserWarning, match=r"\['const'\] of X are constant.*does not use them"):
        res = _fit(FormulaModel("chl ~ age + bmi"), data)
    assert list(res.terms_) == ["Intercept", "age[T.40-59]", "age[T.60-99]", "bmi"]
    assert np.all(np.isfinite(res.pooled_.std_error))


def test_constant_predictor_is_refused_by_name(nhanes):
    data = nhanes.assign(const=1.0)
    with pytest.raises(ValueError, match=r"\['const'\] of X are constant: they are predictors"):
        _fit(FormulaModel("chl ~ age + const"), data)
    with pytest.raises(ValueError, match=r"\['const'\] of X are constant: they are predictors"):
        _fit(None, data[["age", "bmi", "const"]], data["chl"])


# ----------------------------------------------------------- dfcom = np.inf


def test_dfcom_inf_is_a_large_sample_everywhere(nhanes):
    """``np.inf`` and None mean the same large-sample analysis in every entry point."""
    res = _fit(None, nhanes[["age", "bmi"]], nhanes["chl"], dfcom=np.inf)
    assert res.dfcom_ == np.inf
    fits = [e.get_estimate() for e in _fit(FormulaModel("chl ~ bmi"), nhanes).estimators_]
    a, b = pool(fits, dfcom=np.inf), pool(fits, dfcom=None)
    np.testing.assert_array_equal(a.df, b.df)
    q, u = np.array([1.0, 1.2, 0.9]), np.array([0.04, 0.05, 0.04])
    np.testing.assert_array_equal(
        pool_estimates(q, u, dfcom=np.inf).df, pool_estimates(q, u, dfcom=None).df
    )


# ---------------------------------------------------- polars and pyarrow input


@pytest.mark.parametrize("convert", [pl.from_pandas, pa.Table.from_pandas], ids=["polars", "arrow"])
def test_polars_and_arrow_frames_keep_their_column_names(nhanes, convert):
    X, y = nhanes[["age", "bmi", "hyp"]], nhanes["chl"].to_numpy()
    from_pandas = _fit(None, X, y)
    other = _fit(None, convert(X.reset_index(drop=True)), y)
    assert list(other.terms_) == list(from_pandas.terms_)
    assert "age[T.40-59]" in other.terms_
    pd.testing.assert_series_equal(other.pooled_.estimate, from_pandas.pooled_.estimate)
    # predictions on the other library's frame with missing cells
    np.testing.assert_allclose(
        other.predict(convert(X.reset_index(drop=True))), from_pandas.predict(X)
    )


def test_polars_in_formula_model_imputer_and_pool_estimates(nhanes):
    frame = pl.from_pandas(nhanes)
    res = _fit(FormulaModel("chl ~ age + bmi"), frame)
    assert list(res.terms_) == ["Intercept", "age[T.40-59]", "age[T.60-99]", "bmi"]
    completed = ChainedImputer(random_state=0).fit_transform(frame)
    expected = ChainedImputer(random_state=0).fit_transform(nhanes)
    assert isinstance(completed, pd.DataFrame)
    pd.testing.assert_frame_equal(completed, expected, check_index_type=False)
    est = pl.DataFrame({"a": [1.0, 1.2, 0.9], "b": [2.0, 2.1, 1.8]})
    var = pl.DataFrame({"a": [0.04, 0.05, 0.04], "b": [0.09, 0.08, 0.10]})
    assert list(pool_estimates(est, var).terms) == ["a", "b"]


# --------------------------------------------- names the estimator uses itself


def test_column_named_like_the_internal_outcome_column(nhanes):
    """Used to fail with an IndexError inside the imputer."""
    X = nhanes[["age", "bmi"]].rename(columns={"bmi": "__skmipool_target__"})
    res = _fit(None, X, nhanes["chl"].to_numpy())
    plain = _fit(None, nhanes[["age", "bmi"]], nhanes["chl"].to_numpy())
    assert "__skmipool_target__" in res.terms_
    np.testing.assert_allclose(res.pooled_.estimate.to_numpy(), plain.pooled_.estimate.to_numpy())


# ------------------------------------------------------------------ the CLI


def _cli(capsys, *args):
    code = main(["fit", *args, "-m", "3", "--json"])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_reads_r_exported_csv(tmp_path, capsys, nhanes):
    """R's write.csv writes missing cells as NA; they are missing, not text."""
    r_file, blank_file = tmp_path / "r.csv", tmp_path / "blank.csv"
    nhanes.to_csv(r_file, index=False, na_rep="NA")
    nhanes.to_csv(blank_file, index=False, na_rep="")
    code_r, out_r, _ = _cli(capsys, str(r_file), "--formula", "chl ~ age + bmi")
    code_b, out_b, _ = _cli(capsys, str(blank_file), "--formula", "chl ~ age + bmi")
    assert code_r == code_b == 0
    assert out_r.replace(str(r_file), "") == out_b.replace(str(blank_file), "")


def test_cli_names_an_unknown_missing_value_marker(tmp_path, capsys, nhanes):
    path = tmp_path / "dot.csv"
    nhanes.to_csv(path, index=False, na_rep=".")
    code, _, err = _cli(capsys, str(path), "--formula", "chl ~ age + bmi")
    assert code != 0
    assert "column 'bmi' holds numbers but also the text ['.']" in err
    assert "--na" in err and "identifier" not in err
    code, out, _ = _cli(capsys, str(path), "--formula", "chl ~ age + bmi", "--na", "", "NA", ".")
    assert code == 0 and '"term": "bmi"' in out


def test_cluster_columns_of_every_kind_must_be_complete(stanford):
    """Cluster ids are never imputed: robust-SE clusters, frailty groups, mixed-model groups."""
    data = stanford.assign(cid=(np.arange(len(stanford)) // 4).astype(float))
    data.loc[data.index[:3], "cid"] = np.nan
    for estimator in (
        CoxPHRegressor(time="time", event="status", cov_type="cluster", cluster="cid"),
        CoxPHRegressor(time="time", event="status", frailty="gaussian", groups="cid"),
        FormulaModel("Surv(time, status) ~ age + t5 + frailty(cid)", model="cox"),
        FormulaModel("log(time) ~ age + t5 + (1 | cid)"),
    ):
        with pytest.raises(ValueError, match=r"the cluster column 'cid' .* has 3 missing values"):
            _fit(estimator, data)
