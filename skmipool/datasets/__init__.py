"""Small public data sets with missing values, shipped with skmipool.

Each loader returns a fresh pandas DataFrame read from a CSV inside the package
(empty cells are missing values). Nothing is downloaded.
"""

from __future__ import annotations

from importlib import resources

import pandas as pd

__all__ = [
    "load_boys",
    "load_mammalsleep",
    "load_nhanes",
    "load_nhanes2",
    "load_popmis",
    "load_stanford2",
]


def _read(name: str, categories: dict | None = None) -> pd.DataFrame:
    with resources.files("skmipool.datasets").joinpath("data", name).open("rb") as fh:
        frame = pd.read_csv(fh, na_values=[""], keep_default_na=False)
    for col, levels in (categories or {}).items():
        frame[col] = pd.Categorical(frame[col], categories=levels)
    return frame


def load_nhanes() -> pd.DataFrame:
    """NHANES example of R package mice (``nhanes``): 25 rows, 4 columns.

    From the US National Health and Nutrition Examination Survey, as shipped
    with mice (van Buuren & Groothuis-Oudshoorn 2011). ``age`` (1: 20-39,
    2: 40-59, 3: 60-99 years), ``bmi`` (kg/m²), ``hyp`` (1 no, 2 yes
    hypertensive), ``chl`` (total serum cholesterol, mg/dL). bmi, hyp and chl
    have missing values. Typical analysis: ``chl ~ age + bmi + hyp`` (OLS).

    Returns
    -------
    DataFrame

    Examples
    --------
    >>> from skmipool.datasets import load_nhanes
    >>> df = load_nhanes()
    >>> df.shape, int(df["chl"].isna().sum())
    ((25, 4), 10)
    """
    return _read("nhanes.csv")


def load_nhanes2() -> pd.DataFrame:
    """mice's ``nhanes2``: the nhanes rows with ``age`` and ``hyp`` as categories.

    ``age`` has levels "20-39", "40-59", "60-99"; ``hyp`` "no", "yes".
    Typical analysis: ``hyp ~ bmi + chl`` (logistic).

    Returns
    -------
    DataFrame

    Examples
    --------
    >>> from skmipool.datasets import load_nhanes2
    >>> list(load_nhanes2()["hyp"].cat.categories)
    ['no', 'yes']
    """
    return _read("nhanes2.csv", {"age": ["20-39", "40-59", "60-99"], "hyp": ["no", "yes"]})


def load_boys() -> pd.DataFrame:
    """mice's ``boys``: Fourth Dutch Growth Study (Fredriks et al. 2000), 748 rows.

    age (years), hgt (cm), wgt (kg), bmi, hc (head circumference, cm), gen and
    phb (Tanner stages), tv (testicular volume), reg (region). Typical analysis:
    ``hgt ~ age + wgt + hc``.

    Returns
    -------
    DataFrame

    Examples
    --------
    >>> from skmipool.datasets import load_boys
    >>> load_boys().shape
    (748, 9)
    """
    return _read("boys.csv")


def load_stanford2() -> pd.DataFrame:
    """Stanford heart transplant data, R package survival's ``stanford2`` (184 rows).

    Miller & Halpern (1982). ``id``, ``time`` (survival days), ``status``
    (1 = dead), ``age`` (years), ``t5`` (T5 mismatch score, with missing
    values). Typical analysis: Cox model ``Surv(time, status) ~ age + t5``.

    Returns
    -------
    DataFrame

    Examples
    --------
    >>> from skmipool.datasets import load_stanford2
    >>> df = load_stanford2()
    >>> df.shape, int(df["t5"].isna().sum())
    ((184, 5), 27)
    """
    return _read("stanford2.csv")


def load_mammalsleep() -> pd.DataFrame:
    """mice's ``mammalsleep``: sleep of 62 mammal species (Allison & Cicchetti 1976).

    Typical analysis: ``log(sws) ~ log(bw) + odi``.

    Returns
    -------
    DataFrame

    Examples
    --------
    >>> from skmipool.datasets import load_mammalsleep
    >>> load_mammalsleep().shape
    (62, 11)
    """
    return _read("mammalsleep.csv")


def load_popmis() -> pd.DataFrame:
    """mice's ``popmis``: 2000 simulated pupils in 100 schools (Hox 2010).

    ``popular`` has missing values. Typical analysis (multilevel):
    ``popular ~ sex + texp + (1 | school)``.

    Returns
    -------
    DataFrame

    Examples
    --------
    >>> from skmipool.datasets import load_popmis
    >>> load_popmis().shape
    (2000, 7)
    """
    return _read("popmis.csv")
