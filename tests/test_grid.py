"""grid_experiment: one tidy table over a grid of MIPooledEstimator settings."""

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, clone
from sklearn.experimental import enable_iterative_imputer  # noqa: F401
from sklearn.impute import IterativeImputer
from sklearn.model_selection import ParameterGrid

from skmipool import MIPooledEstimator, pool_estimates
from skmipool._grid import grid_experiment
from skmipool.datasets import load_nhanes

GRID = {"imputer__max_iter": [2, 5], "n_imputations": [2, 3]}
TERMS = ["intercept", "age", "bmi", "hyp"]
RESULT_COLUMNS = ["term", "estimate", "std_error", "df", "fmi", "conf_low", "conf_high"]


@pytest.fixture(scope="module")
def data():
    df = load_nhanes()
    return df[["age", "bmi", "hyp"]], df["chl"]


@pytest.fixture
def estimator():
    return MIPooledEstimator(imputer=IterativeImputer(sample_posterior=True), random_state=0)


@pytest.fixture(scope="module")
def table(data):
    est = MIPooledEstimator(imputer=IterativeImputer(sample_posterior=True), random_state=0)
    return grid_experiment(est, GRID, *data)


def test_shape_and_column_order(table):
    assert table.shape == (4 * 4, 2 + 7 + 1)
    assert list(table.columns) == [
        "imputer__max_iter",
        "n_imputations",
        *RESULT_COLUMNS,
        "fit_time",
    ]
    assert list(table["term"]) == TERMS * 4
    assert isinstance(table.index, pd.RangeIndex)


def test_settings_in_parameter_grid_order(table):
    settings = list(ParameterGrid(GRID))
    got = table[["imputer__max_iter", "n_imputations"]].drop_duplicates().to_dict("records")
    assert got == settings
    assert table["imputer__max_iter"].dtype.kind == "i"


def test_rows_equal_fitting_each_setting_separately(table, data, estimator):
    for i, setting in enumerate(ParameterGrid(GRID)):
        expected = clone(estimator).set_params(**setting).fit(*data).pooled_.to_frame()
        rows = table.iloc[4 * i : 4 * i + 4].set_index("term")
        for col in RESULT_COLUMNS[1:]:
            np.testing.assert_allclose(rows[col], expected[col], rtol=1e-12, err_msg=col)


def test_fit_time_is_per_setting_seconds(table):
    per_setting = table.groupby(["imputer__max_iter", "n_imputations"])["fit_time"]
    assert (per_setting.nunique() == 1).all()
    assert (table["fit_time"] > 0).all()
    assert (table["fit_time"] < 60).all()


def test_parallel_equals_serial(table, data, estimator):
    parallel = grid_experiment(estimator, GRID, *data, n_jobs=2)
    pd.testing.assert_frame_equal(parallel.drop(columns="fit_time"), table.drop(columns="fit_time"))


def test_level_sets_the_interval(data, estimator):
    grid = {"n_imputations": [2]}
    got = grid_experiment(estimator, grid, *data, level=0.8).set_index("term")
    ci = clone(estimator).set_params(n_imputations=2).fit(*data).pooled_.conf_int(0.8)
    np.testing.assert_allclose(got["conf_low"], ci["lower"], rtol=1e-12)
    np.testing.assert_allclose(got["conf_high"], ci["upper"], rtol=1e-12)


def test_list_of_grids_fills_in_the_values_used(data, estimator):
    grid = [{"n_imputations": [3]}, {"imputer__max_iter": [4]}]
    got = grid_experiment(estimator.set_params(n_imputations=2), grid, *data)
    assert list(got.columns[:2]) == ["n_imputations", "imputer__max_iter"]
    settings = got[["n_imputations", "imputer__max_iter"]].drop_duplicates()
    # the first grid leaves max_iter at the imputer's own value (10), the second M at 2
    assert settings.to_dict("records") == [
        {"n_imputations": 3, "imputer__max_iter": 10},
        {"n_imputations": 2, "imputer__max_iter": 4},
    ]


def test_accepts_a_parameter_grid_and_estimator_objects(data, estimator):
    imputers = [IterativeImputer(sample_posterior=True, max_iter=3)]
    got = grid_experiment(
        estimator.set_params(n_imputations=2), ParameterGrid({"imputer": imputers}), *data
    )
    assert got.shape == (4, 1 + 7 + 1)
    assert got["imputer"].iloc[0] is imputers[0]


def test_deterministic_with_integer_random_state(data, estimator):
    grid = {"n_imputations": [2]}
    first = grid_experiment(estimator, grid, *data).drop(columns="fit_time")
    second = grid_experiment(estimator, grid, *data).drop(columns="fit_time")
    pd.testing.assert_frame_equal(first, second)


@pytest.mark.parametrize("grid", [[], {}, [{}]])
def test_empty_grid(grid, data, estimator):
    with pytest.raises(ValueError, match="param_grid is empty"):
        grid_experiment(estimator, grid, *data)


def test_not_an_estimator(data):
    res = pool_estimates(np.array([1.0, 1.2]), np.array([0.1, 0.1]))
    with pytest.raises(TypeError, match="MIPooledEstimator"):
        grid_experiment(res, {"n_imputations": [2]}, *data)


class _NoPooled(BaseEstimator):
    def __init__(self, alpha=1.0):
        self.alpha = alpha

    def fit(self, X, y):
        return self


def test_estimator_without_pooled_result(data):
    with pytest.raises(TypeError, match="has no pooled_"):
        grid_experiment(_NoPooled(), {"alpha": [1.0]}, *data)


def test_unknown_parameter_fails_before_fitting(data, estimator):
    with pytest.raises(ValueError, match="param_grid: Invalid parameter 'n_imputation'"):
        grid_experiment(estimator, {"n_imputation": [2]}, *data)


def test_nested_parameter_of_default_imputer(data):
    with pytest.raises(ValueError, match=r"'imputer' is None.*MIPooledEstimator\(imputer="):
        grid_experiment(MIPooledEstimator(), {"imputer__max_iter": [2]}, *data)


def test_bad_level(data, estimator):
    with pytest.raises(ValueError, match="level"):
        grid_experiment(estimator, {"n_imputations": [2]}, *data, level=95)


def test_failing_setting_is_named(data, estimator):
    with pytest.raises(ValueError, match="n_imputations") as info:
        grid_experiment(estimator, {"n_imputations": [2, 1]}, *data)
    notes = getattr(info.value, "__notes__", [])
    if notes:  # Python >= 3.11
        assert notes == ["in grid_experiment, setting 2 of 2: {'n_imputations': 1}"]
