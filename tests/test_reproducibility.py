"""Same random_state, same numbers: across runs, n_jobs, joblib backends and a dask cluster."""

import io
import sys

import joblib
import numpy as np
import pandas as pd
import pytest

from skmipool import MIPooledEstimator
from skmipool.datasets import load_nhanes


@pytest.fixture(scope="module")
def data():
    df = load_nhanes()
    return df[["age", "bmi", "hyp"]], df["chl"]


def _fit(X, y, **kw):
    return MIPooledEstimator(n_imputations=6, random_state=7, **kw).fit(X, y)


def _assert_identical(a, b, X):
    pd.testing.assert_frame_equal(a.pooled_.to_frame(), b.pooled_.to_frame(), check_exact=True)
    pd.testing.assert_frame_equal(a.estimates_, b.estimates_, check_exact=True)
    np.testing.assert_array_equal(a.covariances_, b.covariances_)
    np.testing.assert_array_equal(a.predict(X), b.predict(X))  # X has NaNs: imputers used


@pytest.fixture(scope="module")
def reference(data):
    return _fit(*data)


def test_repeated_runs_are_bit_identical(data, reference):
    X, _ = data
    _assert_identical(reference, _fit(*data), X)
    np.testing.assert_array_equal(reference.predict(X), reference.predict(X))


@pytest.mark.parametrize("n_jobs", [1, 2, -1])
def test_any_n_jobs(data, reference, n_jobs):
    _assert_identical(reference, _fit(*data, n_jobs=n_jobs), data[0])


@pytest.mark.parametrize("backend", ["loky", "threading"])
def test_joblib_backends(data, reference, backend):
    with joblib.parallel_backend(backend, n_jobs=2):
        other = _fit(*data)
    _assert_identical(reference, other, data[0])


def test_dask_local_cluster(data, reference):
    """Two worker processes of a dask.distributed LocalCluster give the local result."""
    import distributed  # a test dependency (pyproject extra "test")

    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster),
        joblib.parallel_backend("dask"),
    ):
        remote = _fit(*data)
    _assert_identical(reference, remote, data[0])


def test_progress_on_stderr(data, monkeypatch):
    """verbose=1 reports progress on stderr; verbose=0 prints nothing."""
    X, y = data
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    MIPooledEstimator(n_imputations=3, random_state=0, verbose=0).fit(X, y)
    assert err.getvalue() == ""
    monkeypatch.setitem(sys.modules, "tqdm", None)  # the plain counter
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    MIPooledEstimator(n_imputations=3, random_state=0, verbose=1).fit(X, y)
    assert "imputations: 3/3" in err.getvalue()


def test_keep_imputations(data):
    X, y = data
    mi = MIPooledEstimator(n_imputations=3, random_state=0, keep_imputations=True).fit(X, y)
    assert len(mi.imputations_) == 3
    first = mi.imputations_[0]
    assert list(first.columns) == ["age", "bmi", "hyp", "chl"]
    assert not first.isna().any().any()
    observed = X["bmi"].notna()
    np.testing.assert_array_equal(first.loc[observed, "bmi"], X.loc[observed, "bmi"])
    assert not hasattr(MIPooledEstimator(n_imputations=2).fit(X, y), "imputations_")
