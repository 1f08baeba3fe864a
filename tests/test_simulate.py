"""skmipool.simulate.ampute: the proportion, the mechanism, agreement with R mice's ampute
(Monte Carlo summaries in tests/fixtures/explore_r.json), and bad input."""

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from skmipool.datasets import load_boys
from skmipool.simulate import ampute

FIXTURE = json.loads((Path(__file__).parent / "fixtures" / "explore_r.json").read_text())["ampute"]


def _normal_data(n=4000, seed=0):
    rng = np.random.default_rng(seed)
    cov = np.array([[1.0, 0.5, 0.3], [0.5, 1.0, 0.4], [0.3, 0.4, 1.0]])
    return pd.DataFrame(rng.multivariate_normal(np.zeros(3), cov, size=n), columns=["a", "b", "c"])


@pytest.mark.parametrize("setting", list(FIXTURE["settings"]))
def test_agrees_with_mice_ampute_over_many_seeds(setting):
    """200 seeds here against R's 400: every summary within 4 Monte Carlo SEs (~1 s)."""
    ref = FIXTURE["settings"][setting]
    data = load_boys()[FIXTURE["columns"]].dropna().reset_index(drop=True)
    assert len(data) == FIXTURE["n_rows"]
    args = dict(ref["args"])
    args["mechanism"] = args.pop("mech", "MAR")
    runs = []
    for seed in range(200):
        amp = ampute(data, random_state=seed, **args)
        miss = amp.isna()
        runs.append([miss.any(axis=1).mean(), *miss.mean(), *amp.mean(), *amp.std()])
    runs = np.array(runs)
    keys = list(ref["mean"])
    r_mean = np.array([ref["mean"][k] for k in keys])
    r_sd = np.array([ref["sd"][k] for k in keys])
    se = np.sqrt(r_sd**2 / ref["n_seeds"] + runs.var(axis=0, ddof=1) / len(runs))
    diff = np.abs(runs.mean(axis=0) - r_mean)
    assert (diff <= 4 * se + 1e-12).all(), dict(
        zip(keys, (diff / (se + 1e-300)).round(1), strict=True)
    )


@pytest.mark.parametrize("kind", ["RIGHT", "LEFT", "MID", "TAIL"])
def test_proportion_of_incomplete_rows_matches_prop(kind):
    data = _normal_data()
    amp = ampute(data, prop=0.3, type=kind, random_state=1)
    share = amp.isna().any(axis=1).mean()
    assert abs(share - 0.3) < 4 * np.sqrt(0.3 * 0.7 / len(data))
    assert (amp.isna().sum(axis=1) <= 1).all()  # the default patterns remove one column each
    assert amp.notna().equals(amp.notna() | data.isna())  # observed cells keep their values
    kept = amp.notna().to_numpy()
    np.testing.assert_array_equal(amp.to_numpy()[kept], data.to_numpy()[kept])


def _logistic_z(data, missing):
    fit = sm.Logit(missing.astype(float), sm.add_constant(data)).fit(disp=0)
    return (fit.params / fit.bse).drop("const")


def test_mar_missingness_depends_only_on_the_observed_columns():
    data = _normal_data()
    amp = ampute(data, prop=0.4, patterns=[0, 1, 1], weights=[0, 1, 1], random_state=2)
    z = _logistic_z(data, amp["a"].isna())
    assert abs(z["a"]) < 3.5 and z["b"] > 6 and z["c"] > 6
    mnar = ampute(data, prop=0.4, patterns=[0, 1, 1], mechanism="MNAR", random_state=2)
    z = _logistic_z(data, mnar["a"].isna())
    assert z["a"] > 6 and abs(z["b"]) < 3.5 and abs(z["c"]) < 3.5
    mcar = ampute(data, prop=0.4, patterns=[0, 1, 1], mechanism="MCAR", random_state=2)
    assert (_logistic_z(data, mcar["a"].isna()).abs() < 3.5).all()


def test_types_choose_which_scores_go_missing():
    data = _normal_data()
    score = data["b"] + data["c"]
    for kind, check in [
        ("RIGHT", lambda s, m: s[m].mean() > s[~m].mean() + 0.5),
        ("LEFT", lambda s, m: s[m].mean() < s[~m].mean() - 0.5),
        ("TAIL", lambda s, m: s[m].abs().mean() > s[~m].abs().mean() + 0.3),
        ("MID", lambda s, m: s[m].abs().mean() < s[~m].abs().mean() - 0.3),
    ]:
        amp = ampute(data, prop=0.5, patterns=[0, 1, 1], type=kind, random_state=3)
        assert check(score, amp["a"].isna()), kind


def test_reproducible_and_keeps_index_and_dtypes():
    data = _normal_data(200)
    data.index = data.index + 100
    data["n"] = np.arange(200)
    one = ampute(data, random_state=5)
    assert one.equals(ampute(data, random_state=np.random.RandomState(5)))
    assert not one.equals(ampute(data, random_state=6))
    assert one.index.equals(data.index) and list(one.columns) == list(data.columns)
    arr = ampute(data.to_numpy(), random_state=5)
    assert list(arr.columns) == ["x0", "x1", "x2", "x3"]
    np.testing.assert_array_equal(arr.isna().to_numpy(), one.isna().to_numpy())


def test_patterns_and_frequencies():
    data = _normal_data(3000)
    amp = ampute(data, prop=0.5, patterns=[[0, 0, 1], [1, 1, 0]], freq=[3, 1], random_state=4)
    ab = (amp["a"].isna() & amp["b"].isna()).mean()
    c = amp["c"].isna().mean()
    assert abs(ab - 0.375) < 0.04 and abs(c - 0.125) < 0.03
    assert not (amp["a"].isna() & amp["c"].isna()).any()


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"prop": -0.1}, "prop"),
        ({"prop": 1.5}, "prop"),
        ({"prop": "half"}, "prop"),
        ({"patterns": [0, 0, 0]}, "patterns row 0 is all zeros"),
        ({"patterns": [[1, 1, 1], [0, 1, 1]]}, "patterns row 0 is all ones"),
        ({"patterns": [0, 2, 1]}, "patterns must hold only 0"),
        ({"patterns": [0, 1]}, "patterns"),
        ({"weights": [1, 1]}, "weights"),
        ({"patterns": [0, 1, 1], "weights": [[0, 1, 1], [0, 1, 1]]}, "weights"),
        ({"patterns": [0, 1, 1], "weights": [1, 1, 0]}, "weights give weight"),
        ({"freq": [0.5, 0.5]}, "freq"),
        ({"type": "UP"}, "type"),
        ({"type": ["LEFT", "MID"]}, "type"),
        ({"mechanism": "NMAR"}, "mechanism"),
    ],
)
def test_bad_input_names_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=name):
        ampute(_normal_data(50), **kwargs)


def test_bad_data():
    data = _normal_data(50)
    data.iloc[0, 0] = np.nan
    with pytest.raises(ValueError, match="data must be complete"):
        ampute(data)
    with pytest.raises(ValueError, match="two columns"):
        ampute(pd.DataFrame({"a": [1.0, 2.0]}))
    text = _normal_data(50).assign(t=["x"] * 50)
    with pytest.raises(TypeError, match="'t'"):
        ampute(text, patterns=[0, 1, 1, 1])  # default MAR weights put weight on t
    out = ampute(text, patterns=[0, 1, 1, 1], weights=[0, 1, 1, 0], random_state=0)
    assert out["a"].isna().any()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ampute(_normal_data(50), mechanism="MCAR", random_state=0)
    with pytest.warns(UserWarning, match="not used"):
        ampute(_normal_data(50), mechanism="MCAR", weights=[1, 1, 1] * 3)
