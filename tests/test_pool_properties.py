"""Property tests of Rubin's rules (hypothesis)."""

import os

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from skmipool import pool_estimates

finite = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)
positive = st.floats(1e-3, 1e3, allow_nan=False, allow_infinity=False)


@st.composite
def imputations(draw):
    m = draw(st.integers(2, 12))
    k = draw(st.integers(1, 4))
    q = draw(arrays(float, (m, k), elements=finite))
    u = draw(arrays(float, (m, k), elements=positive))
    dfcom = draw(st.one_of(st.none(), st.floats(1.0, 1e4)))
    return q, u, dfcom


def _frame(res):
    return res.to_frame().to_numpy()


@settings(max_examples=int(os.environ.get("HYPOTHESIS_EXAMPLES", 200)), deadline=None)
@given(imputations(), st.randoms(use_true_random=False))
def test_permuting_imputations_changes_nothing(data, rnd):
    q, u, dfcom = data
    order = list(range(q.shape[0]))
    rnd.shuffle(order)
    a = pool_estimates(q, u, dfcom=dfcom)
    b = pool_estimates(q[order], u[order], dfcom=dfcom)
    np.testing.assert_allclose(_frame(a), _frame(b), rtol=1e-9, atol=1e-12)


@settings(max_examples=int(os.environ.get("HYPOTHESIS_EXAMPLES", 200)), deadline=None)
@given(imputations())
def test_identical_imputations_give_zero_between_variance(data):
    q, u, dfcom = data
    q_same = np.repeat(q[:1], q.shape[0], axis=0)
    res = pool_estimates(q_same, u, dfcom=dfcom)
    assert np.all(res.between.to_numpy() == 0.0)
    np.testing.assert_array_equal(res.total.to_numpy(), res.within.to_numpy())
    assert np.all(res.fmi.to_numpy() >= 0) and np.all(np.isfinite(res.fmi.to_numpy()))
    if dfcom is not None:
        np.testing.assert_allclose(res.df.to_numpy(), dfcom * (dfcom + 1) / (dfcom + 3))


@settings(max_examples=int(os.environ.get("HYPOTHESIS_EXAMPLES", 200)), deadline=None)
@given(imputations(), st.floats(-100, 100).filter(lambda c: abs(c) > 1e-2))
def test_scaling_estimates_scales_se_only(data, c):
    q, u, dfcom = data
    a = pool_estimates(q, u, dfcom=dfcom)
    b = pool_estimates(c * q, c**2 * u, dfcom=dfcom)
    np.testing.assert_allclose(b.std_error, abs(c) * a.std_error, rtol=1e-9)
    np.testing.assert_allclose(b.estimate, c * a.estimate, rtol=1e-9, atol=1e-9)
    for attr in ("df", "fmi", "riv", "lambda_"):
        np.testing.assert_allclose(getattr(b, attr), getattr(a, attr), rtol=1e-7, atol=1e-12)
    np.testing.assert_allclose(b.p_value, a.p_value, rtol=1e-6, atol=1e-12)


@settings(max_examples=int(os.environ.get("HYPOTHESIS_EXAMPLES", 200)), deadline=None)
@given(imputations(), st.floats(1.0, 1e3), st.floats(1.0, 1e3))
def test_df_rises_with_dfcom(data, d1, d2):
    q, u, _ = data
    lo, hi = sorted([d1, d2])
    df_lo = pool_estimates(q, u, dfcom=lo).df.to_numpy()
    df_hi = pool_estimates(q, u, dfcom=hi).df.to_numpy()
    df_inf = pool_estimates(q, u, dfcom=None).df.to_numpy()
    assert np.all(df_lo <= df_hi * (1 + 1e-12))
    assert np.all(df_hi <= df_inf * (1 + 1e-12))
    # Barnard & Rubin df never exceed the complete-data df
    assert np.all(df_hi <= hi * (1 + 1e-12))
