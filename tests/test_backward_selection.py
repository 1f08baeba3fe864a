"""Backward elimination by pooled D1 over the same imputations (each test ~1-3 s)."""

import numpy as np
import pandas as pd
import pytest

from skmipool import MIPooledEstimator, pool
from skmipool.datasets import load_nhanes2
from skmipool.model_selection import backward_selection
from skmipool.models import FormulaModel


def _fit(formula, data, m=6):
    mi = MIPooledEstimator(
        FormulaModel(formula), n_imputations=m, keep_imputations=True, random_state=2
    )
    return mi.fit(data)


@pytest.fixture(scope="module")
def noisy():
    rng = np.random.default_rng(4)
    n = 150
    x, z, w = rng.normal(size=(3, n))
    y = 1.0 + 0.8 * x + 0.3 * w + rng.normal(size=n)
    df = pd.DataFrame({"y": y, "x": x, "z": z, "w": w})
    df.loc[rng.uniform(size=n) < 0.2, "x"] = np.nan
    df.loc[rng.uniform(size=n) < 0.2, "w"] = np.nan
    return df


def test_each_step_is_the_pooled_d1_of_the_refitted_model(noisy):
    mi = _fit("y ~ x + z + w", noisy)
    sel = backward_selection(mi, p_remove=0.157)
    first = sel.path.iloc[0]
    assert first["removed"] == "z"  # the noise variable goes first
    assert first["p_value"] == pytest.approx(mi.pooled_.wald_test_terms().loc["z", "p_value"])
    # by hand: the model without z on the same completed data, pooled, tested term by term
    fits = [FormulaModel("y ~ x + z + w - z").fit(d) for d in mi.imputations_]
    by_hand = pool(fits).wald_test_terms()
    last = sel.path.iloc[-1]
    assert last["removed"] is None  # the largest remaining p-value is below p_remove
    assert last["p_value"] == pytest.approx(by_hand["p_value"].max(), rel=1e-12)
    assert list(sel.pooled.terms) == ["Intercept", "x", "w"]
    assert sel.formula == "y ~ x + z + w - z"


def test_marginality_and_keep(noisy):
    mi = _fit("y ~ x * z + w", noisy)
    sel = backward_selection(mi, p_remove=0.001)
    removed = sel.path["removed"].dropna().tolist()
    # z (p 0.29) waits until the interaction x:z (p 0.285) has gone
    assert removed[:2] == ["x:z", "z"]
    assert "w" in removed  # p 0.0025 > 0.001
    kept = backward_selection(mi, p_remove=0.001, keep=["w"])
    assert "w" in kept.pooled.model_terms and "w" not in kept.path["removed"].tolist()


def test_bad_input(noisy):
    data = load_nhanes2()
    with pytest.raises(TypeError, match="needs a fitted MIPooledEstimator"):
        backward_selection(MIPooledEstimator(FormulaModel("chl ~ bmi")))
    plain = MIPooledEstimator(n_imputations=2, random_state=0).fit(data[["bmi"]], data["chl"])
    with pytest.raises(TypeError, match=r"removes terms from a formula; the analysis is"):
        backward_selection(plain)
    no_keep = MIPooledEstimator(FormulaModel("chl ~ bmi"), n_imputations=2, random_state=0)
    with pytest.raises(ValueError, match="keep_imputations=True"):
        backward_selection(no_keep.fit(data))
    with pytest.raises(ValueError, match=r"keep names \['age'\]"):
        backward_selection(_fit("y ~ x + z", noisy, m=2), keep=["age"])
    with pytest.raises(ValueError, match="p_remove must lie in"):
        backward_selection(_fit("y ~ x + z", noisy, m=2), p_remove=1.5)
