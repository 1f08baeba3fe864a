"""n_imputations="auto": von Hippel's (2020) two-stage rule (each test about a second)."""

import warnings

import numpy as np
import pandas as pd
import pytest

from skmipool import MIPooledEstimator, how_many_imputations
from skmipool.datasets import load_nhanes2


@pytest.fixture(scope="module")
def nhanes():
    df = load_nhanes2()
    return df[["age", "bmi", "hyp"]], df["chl"]


def _fit(X, y, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the FMI-versus-M warning of small M
        return MIPooledEstimator(random_state=4, **kwargs).fit(X, y)


def test_auto_follows_the_two_stage_rule_and_equals_asking_for_m(nhanes):
    X, y = nhanes
    auto = _fit(X, y, n_imputations="auto", pilot_imputations=5, target_cv=0.2)
    pilot = _fit(X, y, n_imputations=5)
    # the pilot is the first five imputations of the same seed sequence
    assert auto.pilot_fmi_ == pytest.approx(pilot.fmi_.max(), rel=1e-12)
    expected = max(how_many_imputations(pilot.fmi_.max(), 5, cv=0.2), 5)
    assert auto.n_imputations_ == expected > 5
    direct = _fit(X, y, n_imputations=expected)
    pd.testing.assert_frame_equal(auto.pooled_.to_frame(), direct.pooled_.to_frame())
    footer = auto.summary().footer
    assert footer["Imputations (M)"] == expected
    assert "two-stage rule: pilot of 5" in footer["M chosen by"]
    assert "M chosen by" not in direct.summary().footer


def test_auto_keeps_the_pilot_when_it_is_enough(nhanes):
    X, y = nhanes
    auto = _fit(X, y, n_imputations="auto", pilot_imputations=4, target_cv=10.0)
    assert auto.n_imputations_ == 4
    assert len(auto.estimators_) == 4


def test_auto_needs_missing_values(nhanes):
    X, y = nhanes
    rows = X.notna().all(axis=1) & y.notna()
    with pytest.raises(ValueError, match='n_imputations="auto" sets M from the fraction'):
        _fit(X[rows], y[rows], n_imputations="auto")


@pytest.mark.parametrize(
    ("param", "value"),
    [("n_imputations", "many"), ("pilot_imputations", 1), ("target_cv", 0.0)],
)
def test_auto_parameters_are_checked(nhanes, param, value):
    X, y = nhanes
    with pytest.raises(ValueError, match=param):
        MIPooledEstimator(**{param: value}).fit(X, y)


def test_pilot_fmi_is_finite(nhanes):
    X, y = nhanes
    auto = _fit(X, y, n_imputations="auto", pilot_imputations=3, target_cv=0.3)
    assert np.isfinite(auto.pilot_fmi_) and 0 <= auto.pilot_fmi_ <= 1
