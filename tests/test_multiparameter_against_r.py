"""D1, D2, D3 and pooled R² against mice 3.15 / mitml (fixtures from tests/r/make_fixtures.R)."""

import numpy as np
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf
from conftest import RTOL, load_completed

from skmipool import Estimate, MITestResult, compare, pool, pool_r_squared


def _completed(name):
    data = load_completed(name)
    return [g.drop(columns=[".imp", ".id"]) for _, g in data.groupby(".imp")]


@pytest.fixture(scope="module")
def lm_fits():
    data = _completed("nhanes_completed.csv")
    full = [smf.ols("chl ~ age + bmi + hyp", d).fit() for d in data]
    null = [smf.ols("chl ~ age", d).fit() for d in data]
    return full, null


@pytest.fixture(scope="module")
def logit_fits():
    full, null = [], []
    for d in _completed("nhanes2_completed.csv"):
        d = d.assign(hyp=(d["hyp"] == "yes").astype(float))
        fam = sm.families.Binomial()
        full.append(smf.glm("hyp ~ bmi + chl", d, family=fam).fit(tol=1e-14))
        null.append(smf.glm("hyp ~ bmi", d, family=fam).fit(tol=1e-14))
    return full, null


def _assert_test(res: MITestResult, expected: dict, rtol=RTOL):
    assert res.df1 == expected["df1"]
    for field in ("statistic", "df2", "p_value", "riv"):
        np.testing.assert_allclose(getattr(res, field), expected[field], rtol=rtol, err_msg=field)


def test_d1_reiter_matches_mice(lm_fits, test_fixtures):
    full, null = lm_fits
    expected = test_fixtures["D1_reiter"]
    res = compare(full, null, method="D1")  # dfcom auto = df.residual of the full model
    assert expected["dfcom"] == 21
    assert res.method == "D1"
    _assert_test(res, expected)


def test_d1_large_sample_matches_mitml(lm_fits, test_fixtures):
    full, null = lm_fits
    res = compare(full, null, method="D1", dfcom=None)
    _assert_test(res, test_fixtures["D1_lrr"])
    assert np.isfinite(res.df2)  # mice's D1 returns NaN here (Inf dfcom); skmipool does not


def test_wald_test_on_pooled_result_equals_compare(lm_fits, test_fixtures):
    full, _ = lm_fits
    res = pool(full).wald_test(["bmi", "hyp"])
    _assert_test(res, test_fixtures["D1_reiter"])
    restriction = np.array([[0, 0, 1, 0], [0, 0, 0, 1.0]])
    res2 = pool(full).wald_test(restriction=restriction)
    assert res2 == res


def test_d1_from_r_arrays(model_fixtures, test_fixtures):
    """Pooling R's own coefficients/vcov through Estimate gives mice's D1."""
    fits = [
        Estimate(f["coef"], np.asarray(f["vcov"]), names=f["names"], dfcom=f["df_residual"])
        for f in model_fixtures["lm"]["fits"]
    ]
    _assert_test(pool(fits).wald_test(["bmi", "hyp"]), test_fixtures["D1_reiter"])


def test_d1_logit_reiter_t_equals_4(logit_fits, test_fixtures):
    """k = 1, M = 5: t = k(M - 1) = 4, where mitml's Reiter df is its limit, 4."""
    full, null = logit_fits
    res = compare(full, null, method="D1")
    _assert_test(res, test_fixtures["logit_D1_reiter"])
    assert res.df2 == 4.0


def test_d2_wald_matches_mice(lm_fits, test_fixtures):
    full, null = lm_fits
    res = compare(full, null, method="D2", use="wald")
    _assert_test(res, test_fixtures["D2_wald"])


def test_d2_likelihood_matches_mice(lm_fits, test_fixtures):
    full, null = lm_fits
    res = compare(full, null, method="D2", use="likelihood")
    _assert_test(res, test_fixtures["D2_likelihood"])


def test_d3_lm_matches_mitml(lm_fits, test_fixtures):
    full, null = lm_fits
    res = compare(full, null, method="D3")
    _assert_test(res, test_fixtures["D3_lm"])


@pytest.mark.parametrize("name", ["D2_wald", "D2_likelihood", "D3"])
def test_logit_d2_d3_match_r(logit_fits, test_fixtures, name):
    full, null = logit_fits
    method, _, use = name.partition("_")
    res = compare(full, null, method=method, use=use or "wald")
    _assert_test(res, test_fixtures[f"logit_{name}"], rtol=1e-7)


def test_discrete_logit_d3_equals_glm(logit_fits):
    """D3 works on statsmodels' discrete Logit too and agrees with GLM(Binomial)."""
    full_glm, null_glm = logit_fits
    full, null = [], []
    for d in _completed("nhanes2_completed.csv"):
        y = (d["hyp"] == "yes").astype(float)
        full.append(
            sm.Logit(y, sm.add_constant(d[["bmi", "chl"]])).fit(disp=0, method="newton", tol=1e-14)
        )
        null.append(
            sm.Logit(y, sm.add_constant(d[["bmi"]])).fit(disp=0, method="newton", tol=1e-14)
        )
    a = compare(full, null, method="D3")
    b = compare(full_glm, null_glm, method="D3")
    assert a.statistic == pytest.approx(b.statistic, rel=1e-7)
    assert a.df2 == pytest.approx(b.df2, rel=1e-6)


@pytest.mark.parametrize("adjusted", [False, True])
def test_pool_r_squared_matches_mice(lm_fits, test_fixtures, adjusted):
    full, _ = lm_fits
    expected = test_fixtures["adj_r_squared" if adjusted else "r_squared"]
    res = pool_r_squared(full, adjusted=adjusted)
    row = res.iloc[0]
    assert res.index[0] == ("adj R^2" if adjusted else "R^2")
    np.testing.assert_allclose(row["estimate"], expected["estimate"], rtol=RTOL)
    np.testing.assert_allclose(row["fmi"], expected["fmi"], rtol=RTOL)
    np.testing.assert_allclose(row["conf_low"], expected["conf_low"], rtol=RTOL)
    np.testing.assert_allclose(row["conf_high"], expected["conf_high"], rtol=RTOL)
    # t-based interval is a little wider than mice's 1.96 one
    assert row["conf_low"] < expected["mice_lo"] and row["conf_high"] > expected["mice_hi"]


def test_pool_r_squared_clamps_lower_limit_at_zero():
    """A weak fit: mice squares a negative limit of R; skmipool clamps R at 0 first."""
    rng = np.random.default_rng(5)
    fits = []
    for _ in range(5):
        X = sm.add_constant(rng.normal(size=(25, 1)))
        fits.append(sm.OLS(rng.normal(size=25), X).fit())
    res = pool_r_squared(fits)
    assert res["conf_low"].iloc[0] == 0.0
    assert 0 <= res["estimate"].iloc[0] <= res["conf_high"].iloc[0] <= 1


@pytest.fixture(scope="module")
def nhanes2_lm():
    data = _completed("nhanes2_completed.csv")
    return data, [smf.ols("chl ~ age + bmi + hyp", d).fit() for d in data]


def test_wald_test_terms_equals_compare_on_the_nested_fits(nhanes2_lm):
    """One D1 per formula term: age's two dummies jointly, as compare() on chl ~ bmi + hyp."""
    data, full = nhanes2_lm
    table = pool(full).wald_test_terms()
    assert list(table.index) == ["age", "hyp", "bmi"]  # the design's order (patsy: factors first)
    assert table["df1"].tolist() == [2, 1, 1]
    for term, others in {"age": "bmi + hyp", "bmi": "age + hyp", "hyp": "age + bmi"}.items():
        null = [smf.ols(f"chl ~ {others}", d).fit() for d in data]
        expected = compare(full, null, method="D1")
        row = table.loc[term]
        np.testing.assert_allclose(
            [row["statistic"], row["df2"], row["p_value"], row["riv"]],
            [expected.statistic, expected.df2, expected.p_value, expected.riv],
            rtol=1e-12,
            err_msg=term,
        )


def test_model_terms_follow_the_formula_and_survive_renaming(nhanes2_lm):
    _, full = nhanes2_lm
    res = pool(full)
    assert res.model_terms == {
        "age": ["age[T.40-59]", "age[T.60-99]"],
        "hyp": ["hyp[T.yes]"],
        "bmi": ["bmi"],
    }
    renamed = pool(full, names=["b0", "a1", "a2", "h", "b"])
    assert renamed.model_terms == {"age": ["a1", "a2"], "hyp": ["h"], "bmi": ["b"]}


def test_model_terms_of_array_fits_and_sklearn_adapters(lm_fits):
    from sklearn.linear_model import LinearRegression

    X = sm.add_constant(np.random.default_rng(0).normal(size=(30, 2)))
    y = X @ [1.0, 2.0, 0.0] + np.random.default_rng(1).normal(size=30)
    arrays = pool([sm.OLS(y, X).fit(), sm.OLS(y + 0.1, X).fit()])
    assert arrays.model_terms == {"const": ["const"], "x1": ["x1"], "x2": ["x2"]}  # no formula
    fits = [(LinearRegression().fit(X[:, 1:], y + s), X[:, 1:], y + s) for s in (0.0, 0.1)]
    assert pool(fits).model_terms == {"x0": ["x0"], "x1": ["x1"]}  # the intercept is no term


def test_model_terms_must_agree_and_name_known_coefficients():
    est = [Estimate([1.0, 2.0], [0.1, 0.1], names=["a", "b"], model_terms={"ab": ["a", "b"]})]
    other = Estimate([1.0, 2.0], [0.1, 0.1], names=["a", "b"])
    with pytest.raises(ValueError, match="imputation 2 groups its coefficients"):
        pool([est[0], other])
    with pytest.raises(ValueError, match=r"not among the estimates' names"):
        Estimate([1.0], [0.1], names=["a"], model_terms={"z": ["zz"]})
    with pytest.raises(ValueError, match="more than one model term"):
        Estimate([1.0, 2.0], [0.1, 0.1], names=["a", "b"], model_terms={"p": "a", "q": ["a"]})
