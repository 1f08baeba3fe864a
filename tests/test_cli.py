"""The skmipool command: main job, fit subcommand, one-line errors."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from skmipool.__main__ import main

DATA = "skmipool/datasets/data"


def test_main_job_runs_as_a_module():
    out = subprocess.run(
        [sys.executable, "-m", "skmipool", "-m", "5"], capture_output=True, text=True, check=True
    )
    assert "chl ~ age + bmi + hyp by OLS, M = 5 imputations" in out.stdout
    assert "Recommended M (von Hippel 2020)" in out.stdout
    assert out.stderr == ""


def test_fit_prints_the_pooled_table(capsys):
    assert (
        main(
            ["fit", f"{DATA}/nhanes.csv", "--formula", "chl ~ age + bmi", "-m", "4", "--seed", "3"]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "nhanes.csv: 25 rows, 27 missing cells" in out
    for term in ("Intercept", "age", "bmi"):
        assert term in out


def test_fit_json_matches_the_estimator(capsys):
    from skmipool import MIPooledEstimator
    from skmipool.datasets import load_nhanes
    from skmipool.impute import ChainedImputer
    from skmipool.models import FormulaModel

    assert (
        main(
            [
                "fit",
                f"{DATA}/nhanes.csv",
                "--formula",
                "chl ~ age + bmi",
                "-m",
                "4",
                "--seed",
                "3",
                "--json",
                "--level",
                "0.9",
            ]
        )
        == 0
    )
    payload = json.loads(capsys.readouterr().out)
    mi = MIPooledEstimator(
        FormulaModel("chl ~ age + bmi"), ChainedImputer(), n_imputations=4, random_state=3
    ).fit(load_nhanes())
    ref = mi.pooled_.to_frame(level=0.9)
    got = pd.DataFrame(payload["terms"]).set_index("term")
    np.testing.assert_allclose(got["estimate"], ref["estimate"], rtol=1e-12)
    np.testing.assert_allclose(got["conf_low"], ref["conf_low"], rtol=1e-12)
    assert payload["dfcom"] == 22 and payload["n_imputations"] == 4


def test_fit_cox_exponentiated(capsys):
    assert (
        main(
            [
                "fit",
                f"{DATA}/stanford2.csv",
                "--formula",
                "Surv(time, status) ~ age + t5",
                "--model",
                "cox",
                "-m",
                "3",
                "--exponentiate",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "estimate and interval exponentiated" in out and "t5" in out


def test_fit_categorical_data(capsys):
    """nhanes2: text categories are imputed as categories and enter the formula as levels."""
    assert (
        main(
            [
                "fit",
                f"{DATA}/nhanes2.csv",
                "--formula",
                "hyp ~ age + bmi",
                "--model",
                "logit",
                "-m",
                "3",
                "--json",
            ]
        )
        == 0
    )
    terms = [t["term"] for t in json.loads(capsys.readouterr().out)["terms"]]
    assert terms == ["Intercept", "age[T.40-59]", "age[T.60-99]", "bmi"]


def test_fit_logit(tmp_path, capsys):
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"x": rng.normal(size=200), "z": rng.normal(size=200)})
    df["y"] = (rng.random(200) < 1 / (1 + np.exp(-df["x"]))).astype(int)
    df.loc[:30, "z"] = np.nan
    path = tmp_path / "d.csv"
    df.to_csv(path, index=False)
    assert (
        main(["fit", str(path), "--formula", "y ~ x + z", "--model", "logit", "-m", "3", "--json"])
        == 0
    )
    terms = {t["term"]: t for t in json.loads(capsys.readouterr().out)["terms"]}
    assert 0.5 < terms["x"]["estimate"] < 1.6


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["fit", "missing.csv", "--formula", "y ~ x"], "no such file: missing.csv"),
        (
            ["fit", f"{DATA}/nhanes.csv", "--formula", "chl ~ age + zz"],
            "unknown column(s) ['zz'] in the formula",
        ),
        (
            ["fit", f"{DATA}/mammalsleep.csv", "--formula", "sws ~ bw"],
            "column(s) ['species'] are text with a different value in (almost) every row",
        ),
        (
            ["fit", f"{DATA}/nhanes.csv", "--formula", "hyp ~ age + bmi", "--model", "logit"],
            "the Binomial family needs y between 0 and 1",
        ),
        (["fit", f"{DATA}/nhanes.csv", "--formula", "chl age"], "needs exactly one '~'"),
        (
            ["fit", f"{DATA}/nhanes.csv", "--formula", "chl ~ eval(bmi)"],
            "'eval' at position 7: eval() is not an allowed function",
        ),
        (
            ["fit", f"{DATA}/nhanes.csv", "--formula", "chl ~ age +"],
            "end of formula at position 12: expected a term after '+'",
        ),
        (
            ["fit", f"{DATA}/nhanes.csv", "--formula", "chl ~ age + (1 | hyp)"],
            "the cluster column 'hyp' of FormulaModel has 8 missing values",
        ),
        (
            ["fit", f"{DATA}/nhanes.csv", "--formula", "hyp ~ age + (1 | age)", "--model", "logit"],
            "generalized linear mixed models are not supported for model='logit'",
        ),
        (
            ["fit", f"{DATA}/nhanes.csv", "--formula", "chl ~ age + cluster(hyp)"],
            "is Cox-formula syntax",
        ),
        (
            ["fit", f"{DATA}/nhanes.csv", "--formula", "chl ~ age", "--model", "cox"],
            "a Cox formula needs the outcome as Surv(time, event)",
        ),
        (
            ["fit", f"{DATA}/nhanes.csv", "--formula", "chl ~ age", "--level", "95"],
            "--level must lie between 0 and 1",
        ),
        (
            ["fit", f"{DATA}/nhanes.csv", "--formula", "chl ~ age", "-m", "1"],
            "-m must be at least 2",
        ),
    ],
)
def test_bad_input_is_one_line(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("skmipool: error: ")
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def test_console_script_error_exit_code():
    out = subprocess.run(
        [sys.executable, "-m", "skmipool", "fit", "nope.csv", "--formula", "y ~ x"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 2
    assert out.stderr.strip() == "skmipool: error: no such file: nope.csv"


def test_formula_text_is_never_run(tmp_path, monkeypatch, capsys):
    """The formula is parsed by skmipool's grammar: a Python payload is refused, not run."""
    data = str((Path(DATA) / "nhanes.csv").resolve())
    monkeypatch.chdir(tmp_path)
    for formula in (
        "chl ~ age + __import__('os').system('touch pwned')",
        "chl ~ age + __import__(os).system(touch)",
    ):
        assert main(["fit", data, "--formula", formula, "-m", "2"]) == 2
        err = capsys.readouterr().err
        assert "at position" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "pwned").exists()


def test_fit_mixed_model_equals_the_estimator(capsys):
    """lme4 syntax from the shell: the pooled fixed effects equal FormulaModel's (~3 s)."""
    from skmipool import MIPooledEstimator
    from skmipool.datasets import load_popmis
    from skmipool.impute import ChainedImputer
    from skmipool.models import FormulaModel

    formula = "popular ~ sex + texp + (1 | school)"
    args = ["fit", f"{DATA}/popmis.csv", "--formula", formula, "--model", "mixed"]
    assert main([*args, "-m", "3", "--seed", "5", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    data = load_popmis()
    mi = MIPooledEstimator(
        FormulaModel(formula, model="mixed"), ChainedImputer(), n_imputations=3, random_state=5
    ).fit(data)
    got = pd.DataFrame(payload["terms"]).set_index("term")
    np.testing.assert_allclose(got["estimate"], mi.pooled_.estimate, rtol=1e-10)
    assert payload["dfcom"] == 100 - 3  # clusters - fixed effects
