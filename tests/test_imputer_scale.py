"""The imputer's bookkeeping for large data (issue 18, part 6): running moments, the
distinct-value shortcut, and output that shares the completed array. Fast (< 2 s)."""

import copy
import pickle
import tracemalloc

import numpy as np
import pandas as pd
import pytest

import skmipool._estimator as est_module
import skmipool.impute._workspace as workspace_module
from skmipool import MIPooledEstimator
from skmipool.impute import ChainedImputer
from skmipool.impute._chained import _distinct_upto
from skmipool.impute._columns import ColumnSpec
from skmipool.impute._workspace import Workspace


def _workspace(track):
    rng = np.random.default_rng(1)
    n, p = 400, 5
    values = rng.standard_normal((n, p)) + 3.0
    values[:, 4] = rng.integers(0, 3, n)  # a 3-level categorical: a block of two dummies
    missing = rng.random((n, p)) < 0.3
    missing[:, 3] = False  # one complete column
    specs = [ColumnSpec(f"x{j}", "numeric") for j in range(4)]
    specs.append(ColumnSpec("c", "categorical", np.array(["a", "b", "c"])))
    offsets = np.array([3.0, 3.0, 3.0, 3.0, 0.0])
    work = Workspace(values.copy(order="F"), specs, offsets, missing=missing, track=track)
    return work, missing, rng


@pytest.fixture
def track_narrow(monkeypatch):
    """Keep missing-row moments on these narrow test designs too."""
    monkeypatch.setattr(workspace_module, "tracking_pays", lambda q, tracked: True)


def test_tracked_missing_moments_equal_recomputed_after_updates(track_narrow):
    """After many writes to overlapping missing rows (numeric and dummy blocks), the running
    missing-row moments of every tracked column equal D_mis'D_mis computed afresh."""
    work, missing, rng = _workspace(track=[0, 1, 2, 4])
    assert set(work._track) == {0, 1, 2, 4}
    for _ in range(5):
        for j in (0, 1, 2, 4):
            rows = np.flatnonzero(missing[:, j])
            new = rng.integers(0, 3, rows.size) if j == 4 else rng.standard_normal(rows.size)
            work.update(j, rows, new.astype(float))
    D = work.design
    assert np.allclose(work.gram, D.T @ D, rtol=0, atol=1e-9)
    assert np.allclose(work.sums, D.sum(axis=0), rtol=0, atol=1e-9)
    for j in work._track:
        gram, sums = work.missing_moments(j)
        B = D[missing[:, j]]
        assert np.allclose(gram, B.T @ B, rtol=0, atol=1e-9), j
        assert np.allclose(sums, B.sum(axis=0), rtol=0, atol=1e-9), j


def test_moments_from_tracked_equal_moments_recomputed(track_narrow):
    """ColumnData.moments gives the same observed-row moments with and without tracking."""
    tracked, missing, _ = _workspace(track=[0])
    plain, _, _ = _workspace(track=[])
    assert plain._track == {}
    obs, mis = np.flatnonzero(~missing[:, 0]), np.flatnonzero(missing[:, 0])
    cols = np.array([1, 2, 3, 4, 5])
    a = tracked.column(0, mis, cols).moments()
    b = plain.column(0, mis, cols, obs, plain.values[obs, 0]).moments()
    Xo = tracked.design[np.ix_(obs, cols)]
    Xc = Xo - Xo.mean(axis=0)
    for m in (a, b):
        assert m.n == obs.size
        assert np.allclose(m.sxx, Xc.T @ Xc, atol=1e-9)
        assert np.allclose(m.x_mean, Xo.mean(axis=0), atol=1e-12)


def test_narrow_designs_recompute_instead_of_tracking():
    """Below TRACK_MIN_WIDTH design columns (or 2 (T + 1)) the fits recompute."""
    work, _, _ = _workspace(track=[0, 1, 2, 4])
    assert work._track == {}
    assert workspace_module.tracking_pays(200, 3) and not workspace_module.tracking_pays(10, 3)
    assert not workspace_module.tracking_pays(100, 60)


def test_tracking_is_dropped_when_it_would_outgrow_the_design(track_narrow):
    """q^2 floats per tracked column: more than the design's n q in all and none is kept."""
    rng = np.random.default_rng(0)
    n, p = 20, 8
    values = rng.standard_normal((n, p))
    missing = np.zeros((n, p), dtype=bool)
    missing[:5] = True
    specs = [ColumnSpec(f"x{j}", "numeric") for j in range(p)]
    work = Workspace(values, specs, np.zeros(p), missing=missing, track=range(p))
    assert work._track == {}  # 8 x 64 > 20 x 8


@pytest.mark.parametrize(
    ("x", "expected"),
    [
        (np.array([1.0, 2.0, 1.0, 3.0]), 3),
        (np.r_[np.zeros(1000), np.arange(5.0)], 5),  # few values, the others after the head
        (np.r_[np.zeros(1000), np.arange(7.0)], 7),
        (np.r_[np.nan, 1.0, np.nan, 2.0, 2.0], 2),  # NaN is not a value
    ],
)
def test_distinct_upto_is_exact_up_to_the_limit(x, expected):
    assert _distinct_upto(x, 5) == expected


def test_distinct_upto_above_the_limit_from_the_head():
    x = np.random.default_rng(0).standard_normal(10_000)
    assert _distinct_upto(x, 5) > 5


def test_float_frame_output_wraps_the_completed_array_and_input_is_unchanged():
    """A frame of float64 columns comes back without a copy of the completed data; the
    input frame is untouched; index, columns and attrs survive."""
    rng = np.random.default_rng(2)
    X = pd.DataFrame(rng.standard_normal((300, 4)), columns=list("abcd"), index=range(5, 305))
    X.iloc[rng.random(300) < 0.3, 0] = np.nan
    X.attrs["source"] = "test"
    before = X.copy()
    out = ChainedImputer(random_state=0, max_iter=2).fit_transform(X)
    pd.testing.assert_frame_equal(X, before)
    assert out.notna().all().all() and list(out.columns) == list("abcd")
    assert out.index.equals(X.index) and out.attrs == {"source": "test"}
    assert out._mgr.nblocks == 1  # one float block: the completed array itself
    assert np.array_equal(out.loc[X["a"].notna(), "b"], X.loc[X["a"].notna(), "b"])


def test_task_plan_carries_no_row_arrays(monkeypatch):
    """What MIPooledEstimator pickles with every imputation task besides the data and y is
    small: the masks of the missing cells are recomputed in the worker, so a cluster backend
    ships the n-long arrays once per fit (joblib's dask backend scatters data and y)."""
    seen = []
    original = est_module._impute_and_fit

    def spy(m, imputer, estimator, data, y, n_x, plan, seed, resample=None):
        seen.append(len(pickle.dumps(plan)))
        return original(m, imputer, estimator, data, y, n_x, plan, seed, resample)

    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.standard_normal((20_000, 3)), columns=list("abc"))
    X.loc[rng.random(20_000) < 0.3, "a"] = np.nan
    y = X["b"] + rng.standard_normal(20_000)
    monkeypatch.setattr(est_module, "_impute_and_fit", spy)
    MIPooledEstimator(n_imputations=2, random_state=0).fit(X, y)
    assert len(seen) == 2 and max(seen) < 2_000  # 20 000 rows: a mask alone pickles to 20 kB


@pytest.mark.parametrize("method", ["pmm", "lrd", "norm"])
def test_working_set_of_one_imputation_is_at_most_three_copies_of_x(method):
    """Issue 18's bar: one imputation holds at most 3 copies of X besides the model it
    keeps. Counted exactly by tracemalloc (NumPy reports its arrays to it), not by RSS:
    n = 200 000 x 10 (16 MB), 3 columns with about 20% missing, five sweeps; the peak
    includes the completed frame returned (1 copy: it wraps the chain's values). pmm and
    lrd visits reuse the workspace's scratch arrays and the model's own arrays; before
    they did (c7067fb) this measured 3.22 (pmm) and 3.17 (lrd) copies, now 2.92 and
    2.87 (norm 2.69). About 1 s each."""
    rng = np.random.default_rng(7)
    n, p = 200_000, 10
    X = pd.DataFrame(rng.standard_normal((n, p)), columns=[f"x{j}" for j in range(p)])
    X.iloc[:, :3] = X.iloc[:, :3].mask(rng.random((n, 3)) < 0.2)
    imputer = ChainedImputer(method=method, max_iter=5, random_state=0)
    tracemalloc.start()
    try:
        out = imputer.fit_transform(X)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    size = X.to_numpy().nbytes
    models = len(pickle.dumps(imputer._models))  # the fitted model kept (its arrays)
    assert out.notna().all().all()
    working = (peak - models) / size
    print(f"{method}: peak {peak / size:.2f} copies of X, model {models / size:.2f}")
    assert working <= 3.0, working


def test_transform_draws_as_at_fit_whatever_sample_posterior_says_now():
    """A pmm model keeps the donor blocks of its fit (5 donors with draws, the nearest
    without): transform follows the setting at fit, so changing ``sample_posterior``
    afterwards changes nothing until the imputer is refitted."""
    rng = np.random.default_rng(3)
    X = pd.DataFrame(rng.standard_normal((500, 3)), columns=list("abc"))
    X.loc[rng.random(500) < 0.3, "a"] = np.nan
    imputer = ChainedImputer(method="pmm", max_iter=2, random_state=0).fit(X)
    changed = copy.deepcopy(imputer).set_params(sample_posterior=False)  # same random state
    before = imputer.transform(X)
    pd.testing.assert_frame_equal(changed.transform(X), before)
    refitted = changed.fit(X)  # now without draws: the same imputations at every transform
    pd.testing.assert_frame_equal(refitted.transform(X), refitted.transform(X))
    assert not refitted.transform(X).equals(before)
