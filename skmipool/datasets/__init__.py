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
    for col, levels in (categories or {}).items():  # a list of levels or a CategoricalDtype
        dtype = levels if isinstance(levels, pd.CategoricalDtype) else pd.CategoricalDtype(levels)
        frame[col] = pd.Categorical(frame[col], dtype=dtype)
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

    age (years), hgt (cm), wgt (kg), bmi, hc (head circumference, cm), gen
    (genital Tanner stage) and phb (pubic hair Tanner stage), tv (testicular
    volume, ml), reg (region). As in mice, ``gen`` and ``phb`` are ordered
    categoricals with levels G1 < ... < G5 and P1 < ... < P6 (``ChainedImputer``
    imputes them with ``polr``), and ``reg`` is an unordered categorical with
    levels "north", "east", "west", "south", "city". Typical analysis:
    ``hgt ~ age + wgt + hc``.

    Returns
    -------
    DataFrame

    Examples
    --------
    >>> from skmipool.datasets import load_boys
    >>> boys = load_boys()
    >>> boys.shape
    (748, 9)
    >>> boys["gen"].cat.ordered, list(boys["gen"].cat.categories)
    (True, ['G1', 'G2', 'G3', 'G4', 'G5'])
    """
    levels = {
        "gen": pd.CategoricalDtype([f"G{k}" for k in range(1, 6)], ordered=True),
        "phb": pd.CategoricalDtype([f"P{k}" for k in range(1, 7)], ordered=True),
        "reg": ["north", "east", "west", "south", "city"],
    }
    return _read("boys.csv", levels)


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
