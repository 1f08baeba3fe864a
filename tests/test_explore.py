"""skmipool.explore against R mice 3.15 (tests/r/make_fixtures_explore.R), and the
convergence diagnostics on chains that have and have not converged."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from skmipool import MIPooledEstimator
from skmipool.datasets import load_boys, load_nhanes, load_popmis
from skmipool.explore import (
    chain_diagnostics,
    convergence,
    flux,
    md_pattern,
    quickpred,
    traces,
)
from skmipool.impute import ChainedImputer

FIXTURES = json.loads((Path(__file__).parent / "fixtures" / "explore_r.json").read_text())
LOADERS = {"nhanes": load_nhanes, "boys": load_boys, "popmis": load_popmis}


def _r(values):
    """R's NA (JSON null) as NaN."""
    return np.array([[np.nan if v in (None, "NA") else float(v) for v in row] for row in values])


@pytest.mark.parametrize("name", LOADERS)
def test_md_pattern_equals_mice(name):
    ref = FIXTURES["explore"][name]["md_pattern"]
    table = md_pattern(LOADERS[name]())
    r = np.array(ref["matrix"])
    assert list(table.columns) == ["count", *ref["columns"], "n_missing"]
    assert table["count"].iloc[:-1].tolist() == ref["counts"]
    # mice's matrix: patterns then the margin row, the last column the missing count
    np.testing.assert_array_equal(table.drop(columns="count").to_numpy(), r)
    assert table.index[-1] == "total" and table.loc["total", "count"] == len(LOADERS[name]())
    bare = md_pattern(LOADERS[name](), margins=False)
    assert list(bare.columns) == ["count", *ref["columns"]]
    assert bare["count"].sum() == len(LOADERS[name]())


def test_md_pattern_of_complete_data_and_arrays():
    table = md_pattern(np.array([[1.0, 2.0], [3.0, 4.0]]))
    assert table.to_dict("list") == {
        "count": [2, 2],
        "x0": [1, 0],
        "x1": [1, 0],
        "n_missing": [0, 0],
    }
    with pytest.raises(ValueError, match="at least two columns"):
        md_pattern(pd.DataFrame({"a": [1.0, np.nan]}))


@pytest.mark.parametrize("name", LOADERS)
def test_flux_equals_mice(name):
    ref = FIXTURES["explore"][name]["flux"]
    got = flux(LOADERS[name]())
    assert list(got.index) == ref["columns"]
    for stat in ("pobs", "influx", "outflux", "ainb", "aout", "fico"):
        np.testing.assert_allclose(got[stat], np.array(ref[stat], dtype=float), rtol=1e-12)


@pytest.mark.parametrize("name", LOADERS)
def test_quickpred_equals_mice(name):
    data = LOADERS[name]()
    for case in FIXTURES["explore"][name]["quickpred"]:
        args = dict(case["args"])
        with pytest.warns(UserWarning, match="const") if name == "popmis" else _no_warning():
            got = quickpred(data, **args)
        assert list(got.index) == list(got.columns) == list(data.columns)
        np.testing.assert_array_equal(got.to_numpy(), np.array(case["matrix"]), err_msg=str(args))


class _no_warning:
    def __enter__(self):
        import warnings

        self._ctx = warnings.catch_warnings()
        self._ctx.__enter__()
        warnings.simplefilter("error")

    def __exit__(self, *exc):
        self._ctx.__exit__(*exc)


def test_quickpred_feeds_chained_imputer_and_checks_its_arguments():
    df = load_nhanes()
    pred = quickpred(df, mincor=0.3)
    imp = ChainedImputer(predictor_matrix=pred, max_iter=2, random_state=0).fit(df)
    assert (imp.predictor_matrix_.astype(int) == pred).all().all()
    with pytest.raises(ValueError, match="exclude"):
        quickpred(df, exclude="weight")
    with pytest.raises(ValueError, match="mincor"):
        quickpred(df, mincor=[0.1, 0.2])
    with pytest.raises(ValueError, match="minpuc"):
        quickpred(df, minpuc=2)
    rows = quickpred(df, mincor=[0, 0, 1, 0])  # per-target threshold: hyp gets nothing
    assert rows.loc["hyp"].sum() == 0 and rows.loc["chl"].sum() == 3


@pytest.mark.parametrize("name", ["nhanes", "slow"])
@pytest.mark.parametrize("parameter", ["mean", "sd"])
def test_psrf_and_ac_equal_mice_convergence(name, parameter):
    ref = FIXTURES["convergence"][name]
    table = pd.DataFrame(ref[f"convergence_{parameter}"])
    for column in ref["columns"]:
        chain = _r(ref["mean"][column]) if parameter == "mean" else np.sqrt(_r(ref["var"][column]))
        got = chain_diagnostics(chain, column)
        want = table[table["vrb"] == column]
        ac = want["ac"].astype(float).to_numpy()
        np.testing.assert_allclose(got["ac"], ac, rtol=1e-9, err_msg=column)
        psrf = want["psrf"].astype(float).to_numpy()
        # the tail R-hat ranks |theta - median|: with an even count the two middle values
        # tie or not by the last bit of R's long-double median, so the chains are stored
        # with 17 digits and R's median is reproduced
        np.testing.assert_allclose(got["psrf"], psrf, rtol=1e-9, err_msg=column)


def test_slow_chain_fixture_shows_what_the_test_below_relies_on():
    ref = pd.DataFrame(FIXTURES["convergence"]["slow"]["convergence_mean"])
    x = ref[ref["vrb"] == "x"].set_index(".it")["psrf"]
    assert x[30] < x[5]


@pytest.fixture(scope="module")
def far_start():
    """x is missing where y is high and is imputed from y, but its chains start from draws
    of the observed (low) x: the chain means climb for a few sweeps (about 0.4 s)."""
    rng = np.random.default_rng(1)
    n = 300
    x = rng.normal(size=n)
    df = pd.DataFrame({"x": x, "y": x + rng.normal(scale=0.4, size=n), "z": rng.normal(size=n)})
    df.loc[df["y"] > 0.0, "x"] = np.nan
    df.loc[rng.random(n) < 0.3, "y"] = np.nan
    imputer = ChainedImputer(method="norm", keep_trace=True, max_iter=100)
    mi = MIPooledEstimator(imputer=imputer, n_imputations=5, random_state=3)
    return mi.fit(df[["x", "z"]], df["y"])


def test_rhat_drops_toward_one_for_a_chain_started_far_away(far_start):
    t = traces(far_start)["mean"]["x"]
    assert (t.loc[1] < t.loc[50:].mean().mean() - 0.2).all()  # every chain starts low
    diag = convergence(far_start).set_index(["column", "iteration"])["psrf"]
    early, late = diag[("x", 6)], diag[("x", 100)]
    assert early > 1.2 and late < 1.1


def test_traces_collect_the_m_chains(far_start):
    t = traces(far_start)
    assert t.index.tolist() == list(range(1, 101))
    assert t.columns.names == ["statistic", "column", "imputation"]
    assert t["mean"]["x"].shape == (100, 5)
    np.testing.assert_array_equal(t["sd"]["y"][2], far_start.imputers_[1].trace_["sd"]["y"])
    sd = convergence(far_start, parameter="sd")
    assert sd["psrf"].notna().any() and len(sd) == 2 * 100


@pytest.mark.filterwarnings("ignore:the fraction of missing information")
def test_traces_need_keep_trace():
    df = load_nhanes()
    mi = MIPooledEstimator(n_imputations=2, random_state=0).fit(df[["age", "bmi"]], df["chl"])
    with pytest.raises(ValueError, match="keep_trace=True"):
        traces(mi)
    with pytest.raises(TypeError, match="MIPooledEstimator"):
        convergence("not an estimator")
    with pytest.raises(ValueError, match='"mean" or "sd"'):
        convergence(mi, parameter="var")
