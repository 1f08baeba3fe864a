"""The formula language: parsed by skmipool's grammar, never evaluated; design from the terms."""

import json
import pickle
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skmipool import MIPooledEstimator, pool
from skmipool.datasets import load_nhanes2, load_stanford2
from skmipool.impute import ChainedImputer
from skmipool.models import FormulaError, FormulaModel
from skmipool.models._formula_design import learn_design
from skmipool.models._formula_grammar import parse_formula


@pytest.fixture(scope="module")
def nhanes2():
    return load_nhanes2().dropna().reset_index(drop=True)


@pytest.fixture(scope="module")
def frame():
    rng = np.random.default_rng(0)
    n = 60
    d = pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "z": rng.uniform(1, 3, size=n),
            "f": rng.choice(["a", "b", "c"], size=n),
            "g": rng.choice(["x", "y"], size=n),
            "b": rng.random(n) < 0.5,
        }
    )
    d["y"] = 1 + d["x"] + (d["f"] == "b") + rng.normal(size=n)
    return d


# ------------------------------------------------------------ refused, and not run


def test_python_payload_is_refused_and_not_executed(tmp_path, monkeypatch, nhanes2):
    monkeypatch.chdir(tmp_path)
    payloads = [
        "chl ~ age + __import__('os').system('touch pwned')",
        'chl ~ age + __import__("os").system("touch pwned")',
        "chl ~ age + __import__(os).system(touch)",
        "chl ~ age + exec(compile)",
    ]
    for formula in payloads:
        with pytest.raises(FormulaError, match="at position"):
            FormulaModel(formula).fit(nhanes2)
    assert not (tmp_path / "pwned").exists()


REFUSED = [
    # formula, token, position, part of the message
    ("chl ~ eval(bmi)", "eval", 7, "eval() is not an allowed function"),
    ("chl ~ eval('bmi')", "'", 12, "string literals are not part of the formula language"),
    ("chl ~ age +", "end of formula", 12, "expected a term after '+'"),
    ("chl age", "end of formula", 8, "exactly one '~'"),
    ("a ~ b ~ c", "~", 7, "exactly one '~'"),
    ("~ x", "~", 1, "no outcome on the left of '~'"),
    ("y ~ x[0]", "[", 6, "subscripts are not part of the formula language"),
    ("y ~ x$a", "$", 6, "not part of the formula language"),
    ("y ~ x.__class__(x)", "x.__class__", 5, "is not an allowed function"),
    ("y ~ os.system(ls)", "os.system", 5, "is not an allowed function"),
    ("y ~ np.random(x)", "np.random", 5, "is not an allowed function"),
    ("y ~ lambda x: x", "lambda", 5, "reserved word"),
    ("y ~ x if x else z", "if", 7, "unexpected token"),
    ("y ~ Q('odd name')", "'", 7, "backquote an unusual one"),
    ("y ~ f'{x}'", "'", 6, "string literals"),
    ("y ~ {x}", "{", 5, "not part of the formula language"),
    ("y ~ x; z", ";", 6, "not part of the formula language"),
    ("y ~ x | g", "|", 7, "random-effect term in parentheses"),
    ("y ~ C(f, Treatment)", "C", 5, "ref=level"),
    ("y ~ C(f, ref='b')", "'", 14, "string literals"),
    ("y ~ C(x + z)", "C", 5, "C() takes a column name"),
    ("y ~ I(x:z)", ":", 8, "':' is not arithmetic"),
    ("y ~ I(C(f))", "C", 7, "C() cannot be used inside I()"),
    ("y ~ log(x, 2)", "log", 5, "takes 1 positional argument"),
    ("y ~ 2", "2", 5, "a number is a term only as 1"),
    ("y ~ x + 2 * z", "2", 9, "a number is a term only as 1"),
    ("y ~ (x + z)^x", "^", 12, "positive whole number"),
    ("y ~ I(", "end of formula", 7, "expected a term"),
    ("y ~ (x", "end of formula", 7, "expected ')' to close the '(' at position 5"),
    ("y ~ `x", "`", 5, "not closed"),
    ("y ~ x z", "z", 7, "terms are joined with '+'"),
    ("y ~ x + * z", "*", 9, "expected a term"),
    ("y ~ poly(x)", "poly", 5, "poly(x, degree)"),
    ("y ~ poly(x, 1.5)", "1.5", 13, "whole number"),
    ("y ~ .", ".", 5, "list the columns"),
    ("y ~ `f`(x)", "`f`", 5, "cannot be called"),
    ("y ~ x:cluster(g)", ":", 6, "stand alone"),
    ("y ~ cluster(x + z)", "cluster", 5, "single column name"),
    ("y ~ x + cluster(f) + cluster(g)", "cluster", 22, "more than one cluster()"),
    ("y ~ x + Surv(z, b)", "Surv", 9, "put it left of '~'"),
    ("Surv(z) ~ x", "Surv", 1, "Surv(time, event)"),
    ("C(f) ~ x", "C", 1, "cannot be used inside the outcome"),
    ("y ~ x - cluster(g)", "-", 7, "cannot be removed"),
    ("y ~ " + "(" * 150 + "x" + ")" * 150, "(", 104, "nests deeper"),
    ("y ~ (a+b+c+d+e+f+g+h+i+j+k+l+m+n)^14", "^", 34, "more than 2000 terms"),
]


@pytest.mark.parametrize(("formula", "token", "position", "message"), REFUSED)
def test_outside_the_grammar_is_an_error_naming_token_and_position(
    formula, token, position, message
):
    with pytest.raises(FormulaError) as info:
        parse_formula(formula)
    err = info.value
    assert isinstance(err, ValueError)
    assert (err.token, err.position) == (token, position), str(err)
    assert message in str(err)
    assert f"at position {position}" in str(err)


def _sum(prefix, n):
    return " + ".join(f"{prefix}{i}" for i in range(n))


@pytest.mark.parametrize("op", [" + ", " - ", ":", " * ", " / "])
def test_long_formulas_parse_or_raise_formula_error_not_recursion_error(op):
    """``a + b + c`` leans left, one tree level per operator: the reader folds it in a loop.

    ``y ~ x1 + ... + x5000`` (a formula pasted together for wide data) raised
    RecursionError; long chains of the other operators end in a FormulaError
    from the size caps, quickly.
    """
    text = "y ~ " + op.join(f"x{i}" for i in range(5000))
    try:
        parsed = parse_formula(text)
    except FormulaError as err:
        assert op.strip() in ("*", "/", ":")
        assert "more than" in str(err)
    else:
        assert op.strip() in ("+", "-")
        assert [t.label for t in parsed.terms][-1:] == (["x4999"] if op == " + " else ["x0"])
        assert len(parsed.columns) == 5001


def test_long_formulas_fit_and_keep_every_column():
    parsed = parse_formula(f"y ~ {_sum('x', 3000)} - x7 + (1 + {_sum('x', 3000)} | g)")
    assert [t.label for t in parsed.terms] == [f"x{i}" for i in range(3000) if i != 7]
    assert parsed.random[0].label.startswith("1 + x0 + x1 + ")
    assert parsed.columns[:3] == ("y", "x0", "x1") and parsed.columns[-1] == "g"
    rng = np.random.default_rng(1)
    data = pd.DataFrame(rng.normal(size=(400, 300)), columns=[f"x{i}" for i in range(300)])
    data["y"] = data["x0"] + rng.normal(size=400)
    fit = FormulaModel(f"y ~ {_sum('x', 300)}").fit(data)
    assert list(fit.params_.index) == ["Intercept", *(f"x{i}" for i in range(300))]
    assert len(pickle.loads(pickle.dumps(fit))._model_terms) == 300


TOO_BIG = [
    # formula, token, message: each refused at once, before any large expansion
    ("y ~ I(" + " + ".join(["x"] * 150) + ")", "I", "I() nests or chains more than 100 levels"),
    ("y ~ scale(" + " * ".join(["x"] * 150) + ")", "scale", "scale() nests or chains"),
    ("y ~ log(" + "-" * 150 + "x)", "-", "the formula nests deeper than 100 levels"),
    (" + ".join(["x"] * 150) + " ~ z", "+", "the outcome nests or chains more than 100"),
    ("y ~ C(" + " + ".join(["x"] * 150) + ")", "C", "C() nests or chains"),
    ("y ~ " + ":".join(f"x{i}" for i in range(150)), ":", "more than 100 factors"),
    ("y ~ " + "/".join(f"x{i}" for i in range(3000)), "/", "more than 100 factors"),
    (f"y ~ ({_sum('x', 5000)}):({_sum('z', 5000)})", ":", "more than 2000 terms (5000 x 5000)"),
    (f"y ~ ({_sum('x', 5000)})^3", "^", "more than 2000 terms"),
    ("y ~ " + "*".join(f"x{i}" for i in range(3000)), "*", "more than 2000 terms"),
]


@pytest.mark.parametrize(("formula", "token", "message"), TOO_BIG)
def test_formulas_beyond_the_size_caps_are_formula_errors(formula, token, message):
    with pytest.raises(FormulaError, match=r"at position \d+") as info:
        parse_formula(formula)
    assert info.value.token == token
    assert message in str(info.value)


# ------------------------------------------------------------ what valid formulas mean

PARSED = [
    # formula, term labels (R's order), intercept, specials, columns
    ("chl ~ age + bmi", ["age", "bmi"], True, {}, ["chl", "age", "bmi"]),
    ("y ~ a*b", ["a", "b", "a:b"], True, {}, ["y", "a", "b"]),
    ("y ~ a*b - a:b", ["a", "b"], True, {}, ["y", "a", "b"]),
    ("y ~ a:b + a", ["a", "a:b"], True, {}, ["y", "a", "b"]),
    ("y ~ b:a + a", ["a", "b:a"], True, {}, ["y", "b", "a"]),
    ("y ~ a + b:a", ["a", "a:b"], True, {}, ["y", "a", "b"]),
    ("y ~ (a + b + c)^2", ["a", "b", "c", "a:b", "a:c", "b:c"], True, {}, ["y", "a", "b", "c"]),
    ("y ~ a*b*c - a:b:c", ["a", "b", "c", "a:b", "a:c", "b:c"], True, {}, ["y", "a", "b", "c"]),
    ("y ~ a/b", ["a", "a:b"], True, {}, ["y", "a", "b"]),
    ("y ~ (a + b)/c", ["a", "b", "a:b:c"], True, {}, ["y", "a", "b", "c"]),
    ("y ~ x - 1", ["x"], False, {}, ["y", "x"]),
    ("y ~ -1 + x", ["x"], False, {}, ["y", "x"]),
    ("y ~ 0 + x", ["x"], False, {}, ["y", "x"]),
    ("y ~ x + 0", ["x"], False, {}, ["y", "x"]),
    ("y ~ x - 1 + 1", ["x"], True, {}, ["y", "x"]),
    ("y ~ x + x", ["x"], True, {}, ["y", "x"]),
    ("y ~ a**2 + (a + b)**2", ["a", "b", "a:b"], True, {}, ["y", "a", "b"]),
    ("y ~ I(x^2) + I(x**2)", ["I(x^2)"], True, {}, ["y", "x"]),
    ("y ~ I((x + z) / 2) + I(-x)", ["I((x + z)/2)", "I(-x)"], True, {}, ["y", "x", "z"]),
    (
        "y ~ log(x + 1) + np.log(z) + sqrt(x)",
        ["log(x + 1)", "np.log(z)", "sqrt(x)"],
        True,
        {},
        ["y", "x", "z"],
    ),
    (
        "y ~ exp(x) + log1p(x) + I(log(z))",
        ["exp(x)", "log1p(x)", "I(log(z))"],
        True,
        {},
        ["y", "x", "z"],
    ),
    (
        "y ~ C(f) + C(g, ref=y) + C(age, ref=`40-59`)",
        ["C(f)", "C(g, ref=y)", "C(age, ref=`40-59`)"],
        True,
        {},
        ["y", "f", "g", "age"],
    ),
    (
        "y ~ scale(x) + poly(z, 2) + poly(x, degree = 3)",
        ["scale(x)", "poly(z, 2)", "poly(x, degree=3)"],
        True,
        {},
        ["y", "x", "z"],
    ),
    ("np.log(time) ~ age + t5", ["age", "t5"], True, {}, ["time", "age", "t5"]),
    ("I(y / 2) ~ x", ["x"], True, {}, ["y", "x"]),
    (
        "`odd name` ~ `a b` + log.bmi + `x\\`y`",
        ["a b", "log.bmi", "x`y"],
        True,
        {},
        ["odd name", "a b", "log.bmi", "x`y"],
    ),
    ("y ~ `if` + âge", ["if", "âge"], True, {}, ["y", "if", "âge"]),
    (
        "Surv(time, status) ~ age + t5 + cluster(cid) + strata(old)",
        ["age", "t5"],
        True,
        {"cluster": "cid", "strata": "old"},
        ["time", "status", "age", "t5", "cid", "old"],
    ),
    ("y ~ 1", [], True, {}, ["y"]),
]


@pytest.mark.parametrize(("formula", "labels", "intercept", "specials", "columns"), PARSED)
def test_valid_formulas_and_their_terms(formula, labels, intercept, specials, columns):
    parsed = parse_formula(formula)
    assert [t.label for t in parsed.terms] == labels
    assert parsed.intercept is intercept
    assert {s.role: s.column for s in parsed.specials} == specials
    assert list(parsed.columns) == columns
    assert all(
        formula[p - 1] in "`" + c[0] for c, p in zip(parsed.columns, parsed.positions, strict=True)
    )


R_FORMULAS = json.loads((Path(__file__).parent / "fixtures" / "formula_r.json").read_text())


@pytest.mark.parametrize("case", R_FORMULAS["terms"], ids=lambda c: c["formula"])
def test_terms_and_intercept_equal_r_terms_formula(case):
    """R's terms.formula (tests/r/make_fixtures_formula.R): labels, their order, intercept."""
    parsed = parse_formula(case["formula"])
    assert [t.label for t in parsed.terms] == case["labels"]
    assert parsed.intercept is case["intercept"]


def _r_name(name):
    """patsy's names as R's model.matrix writes them: age[T.40-59] -> age40-59."""
    return "(Intercept)" if name == "Intercept" else re.sub(r"\[(?:T\.)?([^\]]*)\]", r"\1", name)


@pytest.mark.parametrize("case", R_FORMULAS["model_matrix"], ids=lambda c: c["rhs"])
def test_design_equals_r_model_matrix(case):
    """R's contrast rule, column order and values (model.matrix, make_fixtures_formula.R)."""
    data = pd.DataFrame(R_FORMULAS["data"])
    design = learn_design(parse_formula(f"y ~ {case['rhs']}"), data)
    matrix = design.matrix(data)
    assert [_r_name(c) for c in matrix.columns] == case["columns"]
    # 0/1 codes and products are exact; scale, poly and the transforms agree to rounding
    np.testing.assert_allclose(
        matrix.to_numpy(), np.asarray(case["values"], dtype=float), rtol=1e-13, atol=1e-14
    )


def test_random_effect_terms_are_parsed_into_nodes_and_read_by_the_mixed_model(nhanes2):
    parsed = parse_formula("chl ~ bmi + (1 | age) + (1 + bmi || hyp)")
    assert [t.label for t in parsed.terms] == ["bmi"]
    assert [(r.label, r.uncorrelated, r.pos) for r in parsed.random] == [
        ("1 | age", False, 13),
        ("1 + bmi || hyp", True, 25),
    ]
    assert parsed.columns == ("chl", "bmi", "age", "hyp")
    with pytest.raises(FormulaError, match=r"only one random-effect term is supported"):
        FormulaModel("chl ~ bmi + (1 | age) + (1 + bmi | hyp)").fit(nhanes2)
    with pytest.raises(FormulaError, match=r"\(1 \| age\) make a linear mixed model"):
        FormulaModel("hyp ~ bmi + (1 | age)", model="logit").fit(nhanes2)
    fit = FormulaModel("chl ~ bmi + (1 | age)").fit(nhanes2)  # lmer(chl ~ bmi + (1 | age))
    assert list(fit.params_.index) == ["Intercept", "bmi"]
    assert fit.dfcom_ == 1  # max(G - p, 1) with G = 3 age groups


# ------------------------------------------------------------ the design


def _patsy_design(formula, data):
    patsy = pytest.importorskip("patsy")
    return patsy.dmatrix(formula, data, return_type="dataframe")


@pytest.mark.parametrize(
    "rhs",
    [
        "x + z",
        "f",
        "x + f + g",
        "f + g + f:g",
        "f*x",
        "x + x:f",
        "0 + f + g",
        "b",
        "x:z",
        "I(x**2) + np.log(z) + np.exp(x) + np.sqrt(z)",
        "f/x",
        "x/f",
        "C(f) + g*b",
        "f*g*x",
    ],
)
def test_design_equals_patsy_where_r_and_patsy_agree(frame, rhs):
    """Same columns, names and values as patsy (names of I() differ only in spacing)."""
    ours = FormulaModel(f"y ~ {rhs}").fit(frame)
    theirs = _patsy_design(rhs, frame)
    theirs.columns = [c.replace("x ** 2", "x^2") for c in theirs.columns]
    matrix = ours._design.matrix(frame)
    assert sorted(matrix.columns) == sorted(theirs.columns)
    pd.testing.assert_frame_equal(matrix, theirs[matrix.columns], check_exact=True)


def test_term_order_and_names_follow_r(nhanes2):
    """R orders terms by degree, then as written; patsy puts factors first."""
    fit = FormulaModel("chl ~ hyp:bmi + age + bmi + hyp").fit(nhanes2)
    assert list(fit.params_.index) == [
        "Intercept",
        "age[T.40-59]",
        "age[T.60-99]",
        "bmi",
        "hyp[T.yes]",
        "hyp[T.yes]:bmi",
    ]
    assert fit._model_terms == (
        ("age", ("age[T.40-59]", "age[T.60-99]")),
        ("bmi", ("bmi",)),
        ("hyp", ("hyp[T.yes]",)),
        ("hyp:bmi", ("hyp[T.yes]:bmi",)),
    )


def test_reference_level_and_no_intercept_coding(nhanes2):
    fit = FormulaModel("chl ~ C(age, ref=`40-59`) + bmi").fit(nhanes2)
    assert list(fit.params_.index) == [
        "Intercept",
        "C(age, ref=`40-59`)[T.20-39]",
        "C(age, ref=`40-59`)[T.60-99]",
        "bmi",
    ]
    default = FormulaModel("chl ~ age + bmi").fit(nhanes2)
    np.testing.assert_allclose(fit.predict(nhanes2), default.predict(nhanes2), rtol=1e-12)
    hyp = FormulaModel("chl ~ C(hyp, ref=yes)").fit(nhanes2)
    assert list(hyp.params_.index) == ["Intercept", "C(hyp, ref=yes)[T.no]"]
    # R's model.matrix: without an intercept the first factor has all its levels
    none = FormulaModel("chl ~ 0 + bmi + age + hyp").fit(nhanes2)
    assert list(none.params_.index) == [
        "bmi",
        "age[20-39]",
        "age[40-59]",
        "age[60-99]",
        "hyp[T.yes]",
    ]
    with pytest.raises(ValueError, match="reference level 'old' is not a level"):
        FormulaModel("chl ~ C(age, ref=old)").fit(nhanes2)


def test_numeric_column_as_categories_and_booleans(frame):
    d = frame.assign(k=np.arange(len(frame)) % 3 + 1)
    fit = FormulaModel("y ~ C(k, ref=2) + b").fit(d)
    assert list(fit.params_.index) == [
        "Intercept",
        "C(k, ref=2)[T.1]",
        "C(k, ref=2)[T.3]",
        "b[T.True]",
    ]


def test_scale_and_poly_learn_at_fit_and_reuse_at_predict(frame):
    fit = FormulaModel("y ~ scale(x) + poly(z, 2)").fit(frame)
    design = fit._design.matrix(frame)
    x, z = frame["x"], frame["z"]
    np.testing.assert_allclose(design["scale(x)"], (x - x.mean()) / x.std(ddof=1), rtol=1e-12)
    # R's poly: orthonormal over the fit's x, monic before scaling (QR with diag(R))
    X = np.vander(z - z.mean(), 3, increasing=True)
    q, r = np.linalg.qr(X)
    basis = (q * np.diag(r))[:, 1:]
    basis /= np.sqrt((basis**2).sum(axis=0))
    np.testing.assert_allclose(design[["poly(z, 2)[1]", "poly(z, 2)[2]"]], basis, atol=1e-12)
    # predicting on a subset uses the fit's centre, SD and polynomial basis
    head = frame.iloc[:7]
    np.testing.assert_array_equal(fit._design.matrix(head), design.iloc[:7])
    np.testing.assert_allclose(fit.predict(head), fit.predict(frame)[:7], rtol=1e-14)


def test_poly_matches_r_values():
    """R: poly(1:5, 2) = cbind((x - 3) / sqrt(10), ((x - 3)^2 - 2) / sqrt(14))."""
    d = pd.DataFrame({"x": np.arange(1.0, 6.0), "y": [1.0, 3.0, 2.0, 5.0, 4.0]})
    design = FormulaModel("y ~ poly(x, 2)").fit(d)._design.matrix(d)
    x = d["x"].to_numpy()
    expected = np.column_stack([(x - 3) / np.sqrt(10), ((x - 3) ** 2 - 2) / np.sqrt(14)])
    np.testing.assert_allclose(design.iloc[:, 1:], expected, atol=1e-15)


def test_design_errors_name_the_problem(frame, nhanes2):
    with pytest.raises(FormulaError, match=r"'zz' at position 9: column 'zz' is not in"):
        FormulaModel("y ~ x + zz").fit(frame)
    with pytest.raises(ValueError, match=r"log\(x\) is missing or not finite"):
        FormulaModel("y ~ log(x)").fit(frame)
    with pytest.raises(ValueError, match="column 'f' in I"):
        FormulaModel("y ~ I(f * 2)").fit(frame)
    with pytest.raises(ValueError, match="column 'f' in the outcome 'f' is not numeric"):
        FormulaModel("f ~ x").fit(frame)
    with pytest.raises(ValueError, match="rank"):
        FormulaModel("y ~ x + I(2 * x)").fit(frame)
    fit = FormulaModel("chl ~ age + bmi").fit(nhanes2)
    new = nhanes2.assign(age=nhanes2["age"].astype(str).replace("20-39", "0-19"))
    with pytest.raises(ValueError, match=r"level\(s\) \['0-19'\] that the fit did not see"):
        fit.predict(new)


def test_design_does_not_depend_on_the_frames_memory_layout():
    """numpy's exp/log on a strided column (a reversed frame) may differ in the last bit."""
    fit = FormulaModel("y ~ exp(x) + log(z) + sqrt(z) + log1p(z) + I(x / z) + poly(z, 2)").fit(
        _FUZZ_FRAME
    )
    reversed_rows = _FUZZ_FRAME.iloc[::-1]
    np.testing.assert_array_equal(
        fit._design.matrix(reversed_rows).to_numpy()[::-1],
        fit._design.matrix(_FUZZ_FRAME).to_numpy(),
    )


def test_predict_needs_only_the_right_hand_side(nhanes2):
    fit = FormulaModel("chl ~ age * bmi + hyp").fit(nhanes2)
    rhs = nhanes2[["hyp", "bmi", "age"]]
    np.testing.assert_array_equal(fit.predict(rhs), fit.predict(nhanes2))
    np.testing.assert_allclose(fit.predict(nhanes2), fit.results_.fittedvalues, rtol=1e-12)


def test_wald_test_terms_of_formula_fits(nhanes2):
    """A factor's dummies are one term; a Cox formula's terms too (no intercept)."""
    fits = [
        FormulaModel("chl ~ age + bmi + hyp").fit(
            nhanes2.sample(frac=1.0, replace=True, random_state=s)
        )
        for s in range(4)
    ]
    res = pool(fits)
    assert res.model_terms == {
        "age": ["age[T.40-59]", "age[T.60-99]"],
        "bmi": ["bmi"],
        "hyp": ["hyp[T.yes]"],
    }
    assert res.wald_test_terms()["df1"].tolist() == [2, 1, 1]
    d = load_stanford2().dropna().assign(old=lambda f: np.where(f["age"] > 45, "yes", "no"))
    cox = FormulaModel("Surv(time, status) ~ old + t5", model="cox").fit(d)
    assert list(cox.params_.index) == ["old[T.yes]", "t5"]
    assert cox._model_terms == (("old", ("old[T.yes]",)), ("t5", ("t5",)))


# ------------------------------------------------------------ pickling


FRESH = textwrap.dedent(
    """
    import pickle, sys
    import numpy as np

    with open(sys.argv[1], "rb") as fh:
        fitted = pickle.load(fh)  # at module level, in a new interpreter
    np.save(sys.argv[2], np.concatenate([model.predict(X) for model, X in fitted]))
    """
)


def test_fitted_formula_models_pickle_and_predict_identically_in_a_fresh_process(tmp_path, nhanes2):
    mi = MIPooledEstimator(
        FormulaModel("chl ~ C(age, ref=`40-59`) + poly(bmi, 2) + hyp + I(log(bmi)):hyp"),
        ChainedImputer(),
        n_imputations=3,
        random_state=0,
    ).fit(load_nhanes2())
    stanford = load_stanford2().dropna()
    cox = FormulaModel(
        "Surv(time, status) ~ scale(age) + log(t5 + 1) + cluster(id)", model="cox"
    ).fit(stanford)
    fitted = [(mi, nhanes2), (mi.estimators_[0], nhanes2), (cox, stanford)]
    expected = np.concatenate([model.predict(X) for model, X in fitted])
    blob, out, script = tmp_path / "fit.pkl", tmp_path / "pred.npy", tmp_path / "load.py"
    blob.write_bytes(pickle.dumps(fitted))
    script.write_text(FRESH)
    subprocess.run([sys.executable, str(script), str(blob), str(out)], check=True, timeout=120)
    np.testing.assert_array_equal(np.load(out), expected)


# ------------------------------------------------------------ fuzz

PIECES = [
    *"abxyz01 .~+-*/:^()|,=`'\"[]$_\\é9e\t",
    "**",
    "||",
    "log",
    "np.log",
    "I(",
    "C(",
    "poly(",
    "scale(",
    "Surv(",
    "cluster(",
    "strata(",
    "ref=",
    "lambda",
    "1e5",
    ".5",
    "__import__",
    "y ~ ",
]


def _parses_or_formula_error(text):
    try:
        parsed = parse_formula(text)
    except FormulaError as err:
        assert 1 <= err.position <= len(text) + 1
        assert err.token
        return
    assert parsed.response is not None
    for term in parsed.terms:
        assert term.label


@settings(max_examples=1000, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=30).map("".join))
def test_fuzz_formula_pieces_parse_or_raise_formula_error(text):
    _parses_or_formula_error(text)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_fuzz_any_text_parses_or_raises_formula_error(text):
    _parses_or_formula_error(text)


LEAVES = ["x", "z", "f", "g", "b", "1", "0", "I(x^2)", "log(z)", "C(f, ref=b)", "scale(x)"]
LEAVES += ["poly(z, 2)", "`x`", "np.sqrt(z)", "I(-x / z)"]
RHS = st.recursive(
    st.sampled_from(LEAVES),
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from([" + ", " - ", " * ", ":", " / "]), inner).map("".join),
        inner.map(lambda e: f"({e})"),
        inner.map(lambda e: f"({e})^2"),
    ),
    max_leaves=8,
)


@settings(max_examples=150, deadline=None)
@given(RHS)
def test_fuzz_generated_formulas_fit_or_raise_value_error(rhs):
    """Any formula of the grammar either fits or raises a ValueError that explains why."""
    data = _FUZZ_FRAME
    try:
        fit = FormulaModel(f"y ~ {rhs}").fit(data)
    except ValueError:
        return
    assert list(fit.params_.index) == fit._design.names
    np.testing.assert_array_equal(fit.predict(data.iloc[::-1])[::-1], fit.predict(data))


_FUZZ_FRAME = pd.DataFrame(
    {
        "x": np.linspace(-1, 1, 40),
        "z": np.linspace(1, 3, 40) ** 1.5,
        "f": ["a", "b", "c", "b"] * 10,
        "g": ["x"] * 17 + ["y"] * 23,
        "b": [True, False, False, True, True] * 8,
        "y": np.sin(np.arange(40.0)),
    }
)


@pytest.mark.parametrize(
    "text, distribution",
    [
        ("Surv(time, status) ~ age + frailty(cid)", "gamma"),  # R's default
        ('Surv(time, status) ~ age + frailty(cid, distribution = "gaussian")', "gaussian"),
        ("Surv(time, status) ~ age + frailty(cid, distribution='gamma')", "gamma"),
    ],
)
def test_frailty_special_and_its_distribution(text, distribution):
    from skmipool.models._formula_grammar import parse_formula

    formula = parse_formula(text)
    assert formula.special("frailty").column == "cid"
    assert formula.special("frailty").distribution == distribution


@pytest.mark.parametrize(
    "text, token, message",
    [
        ('Surv(t, s) ~ a + frailty(g, distribution = "t")', '"t"', 'gamma" or "gaussian'),
        ("Surv(t, s) ~ a + frailty(g, distribution = gaussian)", "gaussian", 'is "gamma"'),
        ("Surv(t, s) ~ a + frailty(g, theta = 1)", "theta", "no argument 'theta'"),
        ('Surv(t, s) ~ a + frailty(g, distribution = "gaussian)', '"', "not closed"),
        ('y ~ C(a, distribution = "x")', '"', "string literals"),
    ],
)
def test_frailty_arguments_outside_the_grammar(text, token, message):
    from skmipool.models._formula_grammar import FormulaError, parse_formula

    with pytest.raises(FormulaError, match=message) as info:
        parse_formula(text)
    assert info.value.token == token
