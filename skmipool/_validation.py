"""Argument checks shared by the public functions: each error names the argument.

The bottom of the layering beside ``_pool``: it imports nothing from skmipool.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from numbers import Integral, Real

import numpy as np
import pandas as pd
from pandas.api import types as pdt

__all__ = ["as_pandas", "check_integer", "check_names", "check_real", "real_array"]


def copy_on_write() -> bool:
    """Whether pandas copies on write (always from pandas 3): a frame may then share its
    columns with another, since neither can change the other's."""
    return int(pd.__version__.split(".")[0]) >= 3 or pd.get_option("mode.copy_on_write") is True


def as_pandas(data):
    """A polars or pyarrow frame (or series) as pandas, column names kept; else unchanged.

    Frames with a ``to_pandas`` method (polars, pyarrow) use it; other frames that
    speak the DataFrame interchange protocol (``__dataframe__``) go through
    :func:`pandas.api.interchange.from_dataframe`. pandas objects, numpy arrays
    and lists are returned as they are.
    """
    if isinstance(data, pd.DataFrame | pd.Series | np.ndarray) or data is None:
        return data
    if callable(getattr(data, "to_pandas", None)):
        out = data.to_pandas()
        if isinstance(out, pd.DataFrame | pd.Series):
            return out
    if hasattr(data, "__dataframe__"):
        return pd.api.interchange.from_dataframe(data)
    return data


def check_integer(name: str, value, minimum: int) -> int:
    """An integer (not a bool or a float) of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{name} must be an integer >= {minimum}; got {value!r}.")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}.")
    return int(value)


def check_real(
    name: str, value, *, low=-math.inf, high=math.inf, low_open=False, high_open=False
) -> float:
    """A finite-or-bounded real number in the given interval (NaN refused)."""
    if isinstance(value, bool) or not isinstance(value, Real | np.floating | np.integer):
        raise TypeError(f"{name} must be a real number; got {value!r}.")
    x = float(value)
    below = x <= low if low_open else x < low
    above = x >= high if high_open else x > high
    if math.isnan(x) or below or above:
        left, right = "(" if low_open else "[", ")" if high_open else "]"
        raise ValueError(f"{name} must lie in {left}{low:g}, {high:g}{right}; got {value!r}.")
    return x


def real_array(name: str, values) -> np.ndarray:
    """Values as a float array; generators, complex, text and object input refused."""
    if isinstance(values, Iterator):
        raise TypeError(
            f"{name} is a generator or iterator; pass a list, array or DataFrame (it is read "
            f"more than once)."
        )
    if isinstance(values, str | bytes):
        raise TypeError(f"{name} must be numbers; got the text {values!r}.")
    if isinstance(values, pd.DataFrame | pd.Series):
        dtypes = [values.dtype] if isinstance(values, pd.Series) else list(values.dtypes)
        # pandas' extension dtypes (Float64, Int64, boolean) count as their numpy kind
        kinds = {
            "c"
            if pdt.is_complex_dtype(d)
            else "f"
            if pdt.is_numeric_dtype(d) or pdt.is_bool_dtype(d)
            else "O"
            for d in dtypes
        }
    else:
        kinds = {np.asarray(values).dtype.kind}
    if kinds & {"c"}:
        raise TypeError(f"{name} has complex values; skmipool pools real numbers only.")
    if not kinds <= {"f", "i", "u", "b"}:
        raise TypeError(
            f"{name} must hold real numbers; got values of dtype kind {sorted(kinds)} "
            f"(text or objects)."
        )
    return np.asarray(values, dtype=float)


def check_names(names, k: int) -> list[str]:
    """k unique term names; a single string is refused (it would split into letters)."""
    if isinstance(names, str | bytes):
        raise TypeError(
            f"names must be a sequence of {k} term names, not the single string {names!r}; "
            f"write names=[{names!r}] for one term."
        )
    names = [str(n) for n in names]
    if len(names) != k:
        raise ValueError(f"names has {len(names)} entries but the estimates have {k} terms.")
    if len(set(names)) != k:
        dup = pd.Index(names)[pd.Index(names).duplicated()].tolist()
        raise ValueError(f"term names must be unique; duplicated: {dup}.")
    return names
