"""Shared helpers: reading the R fixtures written by tests/r/make_fixtures.R."""

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import settings

# CI must not depend on luck: property tests draw the same examples every run there
# (HYPOTHESIS_PROFILE=dev gives fresh random examples locally).
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("dev", derandomize=False)
# local fuzzing (tests/test_fuzz.py): many fresh examples, about ten minutes on one core
settings.register_profile("long", derandomize=False, max_examples=2000, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

FIXTURES = Path(__file__).parent / "fixtures"
RTOL = 1e-8  # the project's bar: R mice 3.15 / mitml to 1e-8 relative


def _decode(obj):
    """JSON from R writes Inf as the string "Inf"."""
    if isinstance(obj, dict):
        return {k: _decode(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_decode(v) for v in obj]
    if obj == "Inf":
        return np.inf
    if obj == "-Inf":
        return -np.inf
    return obj


def load_fixture(name: str):
    with open(FIXTURES / name) as fh:
        return _decode(json.load(fh))


def load_completed(name: str) -> pd.DataFrame:
    """Completed datasets from mice::complete(imp, "long"): columns .imp, .id, variables."""
    return pd.read_csv(FIXTURES / name)


@pytest.fixture(scope="session")
def scalar_cases():
    return load_fixture("pool_scalar.json")["cases"]


@pytest.fixture(scope="session")
def model_fixtures():
    return load_fixture("pool_models.json")["models"]


@pytest.fixture(scope="session")
def test_fixtures():
    return load_fixture("pool_tests.json")["tests"]


# Not applicable, so not run: check_array_api_input (array API namespaces such as CuPy or
# torch; skmipool's estimators work on NumPy arrays and pandas frames). Every other
# scikit-learn estimator check runs.
NOT_APPLICABLE_CHECKS = {"check_array_api_input"}


def sklearn_check_params(estimators, label):
    """pytest params (estimator, check) for every applicable scikit-learn estimator check."""
    from sklearn.utils.estimator_checks import estimator_checks_generator

    return [
        pytest.param(est, check, id=f"{label(est)}-{check.func.__name__}")
        for est in estimators
        for _, check in estimator_checks_generator(est, legacy=True)
        if check.func.__name__ not in NOT_APPLICABLE_CHECKS
    ]
