"""Design matrices from parsed formulas, built from the terms without evaluating text.

:func:`learn_design` reads a parsed :class:`~skmipool.models._formula_grammar.Formula`
and the fit's DataFrame and returns a :class:`Design`: what each term needs to
rebuild its columns on new data (the levels of a categorical column, the mean
and SD of ``scale()``, the recurrence coefficients of ``poly()``). A Design
holds only strings, numbers and the parsed tree, so it pickles, and
``design.matrix(new_frame)`` gives the columns the fit saw.

Coding follows R's ``model.matrix`` (Chambers & Hastie 1992, *Statistical
Models in S*, p. 38; R's ``TermCode`` in ``src/library/stats/src/model.c``): a
categorical factor in a term is coded by treatment contrasts (the reference
level dropped) when the term without that factor is a margin already in the
model (the intercept for a main effect), and by one indicator per level
otherwise; without an intercept the first categorical factor gets all its
levels. Column names are patsy's: ``age[T.40-59]`` for a contrast,
``age[40-59]`` for an indicator, ``a:b`` for products, with the first factor
varying fastest.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import pandas as pd

from skmipool.models._formula_grammar import (
    NUMPY_SPELLINGS,
    BinOp,
    Call,
    Categorical,
    Formula,
    Name,
    Number,
    Numeric,
    Paren,
    Poly,
    Response,
    Scale,
    UnaryOp,
    Variable,
)

__all__ = ["INTERCEPT", "Design", "learn_design", "outcome_values"]

INTERCEPT = "Intercept"

_FUNCTIONS = {"log": np.log, "log1p": np.log1p, "exp": np.exp, "sqrt": np.sqrt}
_OPERATORS = {
    "+": np.add,
    "-": np.subtract,
    "*": np.multiply,
    "/": np.true_divide,
    "^": np.power,
}


# ------------------------------------------------------------------ arithmetic


def is_categorical(series: pd.Series) -> bool:
    """Text, categories and booleans enter a formula as levels (as in patsy and R)."""
    dtype = series.dtype
    return (
        isinstance(dtype, pd.CategoricalDtype)
        or pd.api.types.is_bool_dtype(dtype)
        or not pd.api.types.is_numeric_dtype(dtype)
    )


def _column(frame: pd.DataFrame, name: str) -> pd.Series:
    if name not in frame.columns:
        raise ValueError(
            f"the formula uses column {name!r}, which is not in the DataFrame; its columns are "
            f"{list(frame.columns)}."
        )
    return frame[name]


def _numbers(frame: pd.DataFrame, name: str, where: str) -> np.ndarray:
    column = _column(frame, name)
    if is_categorical(column) and not pd.api.types.is_bool_dtype(column.dtype):
        raise ValueError(
            f"column {name!r} in {where} is not numeric (dtype {column.dtype}); arithmetic "
            f"needs numbers. A categorical column enters a formula on its own or as C({name})."
        )
    # contiguous: numpy's transforms take a SIMD path only for contiguous input, and the
    # strided path can differ in the last bit; the design must not depend on the layout
    return np.ascontiguousarray(column.to_numpy(dtype=np.float64))


def _evaluate(node, frame: pd.DataFrame, where: str):
    if isinstance(node, Name):
        return _numbers(frame, node.name, where)
    if isinstance(node, Number):
        return node.value
    if isinstance(node, Paren):
        return _evaluate(node.inner, frame, where)
    if isinstance(node, UnaryOp):
        value = _evaluate(node.operand, frame, where)
        return -value if node.op == "-" else value
    if isinstance(node, BinOp):
        left = _evaluate(node.left, frame, where)
        return _OPERATORS[node.op](left, _evaluate(node.right, frame, where))
    if not isinstance(node, Call):  # the grammar admits nothing else
        raise TypeError(f"not an arithmetic node: {node!r}")
    func = NUMPY_SPELLINGS.get(node.func, node.func)
    value = _evaluate(node.args[0], frame, where)
    return value if func == "I" else _FUNCTIONS[func](value)


def evaluate(node, frame: pd.DataFrame, label: str) -> np.ndarray:
    """Values of an arithmetic node on the rows of ``frame``; non-finite values are an error."""
    with np.errstate(all="ignore"):
        value = _evaluate(node, frame, label)
    value = np.broadcast_to(np.asarray(value, dtype=np.float64), (frame.shape[0],)).copy()
    bad = ~np.isfinite(value)
    if bad.any():
        rows = list(frame.index[bad][:3])
        raise ValueError(
            f"{label} is missing or not finite (NaN or infinite) in {int(bad.sum())} row(s), "
            f"e.g. at index {rows}: the model needs a number in every row. Check the column's "
            f"missing values and the transform's domain (log needs positive values)."
        )
    return value


def outcome_values(response: Response, frame: pd.DataFrame) -> pd.Series:
    """The outcome column (or arithmetic of columns) as floats, named by the formula."""
    values = evaluate(response.expr, frame, f"the outcome {response.label!r}")
    return pd.Series(values, index=frame.index, name=response.label)


# ------------------------------------------------------------------ fitted factors


@dataclass(frozen=True)
class _NumericPart:
    """A column or ``I()``/transform: one column named by its label."""

    label: str
    expr: object

    def names(self, full: bool) -> list[str]:
        return [self.label]

    def block(self, frame: pd.DataFrame, full: bool) -> np.ndarray:
        return evaluate(self.expr, frame, self.label)[:, None]


@dataclass(frozen=True)
class _LevelPart:
    """A categorical factor: its levels (in fit's order) and the reference level."""

    label: str
    column: str
    levels: tuple
    reference: int

    def names(self, full: bool) -> list[str]:
        if full:
            return [f"{self.label}[{lv}]" for lv in self.levels]
        return [f"{self.label}[T.{lv}]" for i, lv in enumerate(self.levels) if i != self.reference]

    def block(self, frame: pd.DataFrame, full: bool) -> np.ndarray:
        values = _column(frame, self.column)
        if values.isna().any():
            raise ValueError(
                f"column {self.column!r} has {int(values.isna().sum())} missing value(s); the "
                f"model needs a level in every row."
            )
        index = pd.Index(list(self.levels), dtype=object).get_indexer(values.astype(object))
        if (index < 0).any():
            unseen = list(dict.fromkeys(values[index < 0].astype(object)))[:3]
            raise ValueError(
                f"column {self.column!r} has level(s) {unseen} that the fit did not see; its "
                f"levels were {list(self.levels)}."
            )
        onehot = (index[:, None] == np.arange(len(self.levels))[None, :]).astype(np.float64)
        if full:
            return onehot
        return np.delete(onehot, self.reference, axis=1)


@dataclass(frozen=True)
class _ScalePart:
    """``scale(x)``: (x - mean) / sd with the fit's mean and SD (n - 1), as R's scale()."""

    label: str
    expr: object
    center: float
    scale: float

    def names(self, full: bool) -> list[str]:
        return [self.label]

    def block(self, frame: pd.DataFrame, full: bool) -> np.ndarray:
        return ((evaluate(self.expr, frame, self.label) - self.center) / self.scale)[:, None]


@dataclass(frozen=True)
class _PolyPart:
    """``poly(x, degree)``: R's orthogonal polynomials through their three-term recurrence.

    R's ``poly`` returns the monic polynomials orthogonal over the fit's x,
    scaled to unit norm; ``predict.poly`` rebuilds them on new x from ``alpha``
    and ``norm2``. Both sides use that recurrence here (Stieltjes procedure),
    so fit and predict agree exactly.
    """

    label: str
    expr: object
    alpha: tuple
    norm2: tuple  # R's norm2: (1, n, |p1|^2, ..., |p_degree|^2)

    def names(self, full: bool) -> list[str]:
        return [f"{self.label}[{k}]" for k in range(1, len(self.alpha) + 1)]

    def block(self, frame: pd.DataFrame, full: bool) -> np.ndarray:
        x = evaluate(self.expr, frame, self.label)
        return _poly_basis(x, self.alpha, self.norm2)


def _poly_basis(x: np.ndarray, alpha, norm2) -> np.ndarray:
    degree = len(alpha)
    z = np.ones((x.shape[0], degree + 1))
    z[:, 1] = x - alpha[0]
    for i in range(1, degree):
        z[:, i + 1] = (x - alpha[i]) * z[:, i] - (norm2[i + 1] / norm2[i]) * z[:, i - 1]
    return z[:, 1:] / np.sqrt(np.asarray(norm2[2:], dtype=float))


def _learn_poly(x: np.ndarray, degree: int, label: str) -> tuple[tuple, tuple]:
    if degree >= np.unique(x).size:
        raise ValueError(
            f"{label}: the degree must be less than the number of distinct values of x "
            f"({np.unique(x).size}), as in R's poly()."
        )
    alpha, norm2 = [], [1.0, float(x.shape[0])]
    previous, current = np.zeros_like(x), np.ones_like(x)
    for k in range(degree):
        a = float(np.sum(x * current**2) / norm2[-1])
        step = (x - a) * current
        if k > 0:
            step = step - (norm2[-1] / norm2[-2]) * previous
        alpha.append(a)
        previous, current = current, step
        norm2.append(float(np.sum(current**2)))
    return tuple(alpha), tuple(norm2)


def _levels(series: pd.Series) -> tuple:
    """Levels present in the data: a category's order, False/True, or sorted values (as R)."""
    present = series.dropna()
    if isinstance(series.dtype, pd.CategoricalDtype):
        values = list(present.cat.remove_unused_categories().cat.categories)
    else:
        values = list(pd.unique(present.astype(object)))
        try:
            values = sorted(values)
        except TypeError:
            values = sorted(values, key=str)
    return tuple(v.item() if isinstance(v, np.generic) else v for v in values)


def _reference(factor: Categorical, levels: tuple) -> int:
    ref = factor.ref
    if ref is None:
        return 0
    for i, level in enumerate(levels):
        if isinstance(ref, Number):
            numeric = isinstance(level, int | float) and not isinstance(level, bool)
            if (numeric and level == ref.value) or str(level) == ref.text:
                return i
        elif str(level) == ref.name:
            return i
    shown = ref.text if isinstance(ref, Number) else ref.name
    raise ValueError(
        f"{factor.label}: the reference level {shown!r} is not a level of column "
        f"{factor.name!r}; its levels are {[str(v) for v in levels]}."
    )


def _learn_factor(factor, frame: pd.DataFrame):
    if isinstance(factor, Variable | Categorical):
        column = _column(frame, factor.name)
        if isinstance(factor, Variable) and not is_categorical(column):
            return _NumericPart(factor.label, Name(factor.name))
        levels = _levels(column)
        reference = _reference(factor, levels) if isinstance(factor, Categorical) else 0
        return _LevelPart(factor.label, factor.name, levels, reference)
    if isinstance(factor, Numeric):
        return _NumericPart(factor.label, factor.expr)
    x = evaluate(factor.expr, frame, factor.label)
    if isinstance(factor, Scale):
        sd = float(np.std(x, ddof=1)) if x.size > 1 else 0.0
        if not sd > 0:
            raise ValueError(f"{factor.label}: the values are constant; scale() divides by the SD.")
        return _ScalePart(factor.label, factor.expr, float(np.mean(x)), sd)
    if not isinstance(factor, Poly):
        raise TypeError(f"not a formula factor: {factor!r}")
    alpha, norm2 = _learn_poly(x, factor.degree, factor.label)
    return _PolyPart(factor.label, factor.expr, alpha, norm2)


# ------------------------------------------------------------------ the design


@dataclass(frozen=True)
class DesignTerm:
    """One model term: its fitted factors, each with its coding (True: all levels)."""

    label: str
    parts: tuple  # ((fitted factor, full coding), ...)

    def names(self) -> list[str]:
        names = [""]
        for part, full in self.parts:
            names = [f"{a}:{b}" if a else b for b in part.names(full) for a in names]
        return names

    def block(self, frame: pd.DataFrame) -> np.ndarray:
        block = None
        for part, full in self.parts:
            columns = part.block(frame, full)
            if block is None:
                block = columns
            else:  # the first factor varies fastest, as in R and patsy
                block = np.column_stack([a * b for b in columns.T for a in block.T])
        return block


@dataclass(frozen=True)
class Design:
    """How to build the design matrix of a fitted formula on any DataFrame.

    Attributes
    ----------
    intercept : bool
        Whether the matrix starts with a column of ones named ``"Intercept"``.
    terms : tuple of DesignTerm
        The model terms in the formula's (R's) order.
    """

    intercept: bool
    terms: tuple

    @property
    def names(self) -> list[str]:
        names = [INTERCEPT] if self.intercept else []
        for term in self.terms:
            names += term.names()
        return names

    @property
    def model_terms(self) -> tuple:
        """``(term label, its column names)`` per term, the intercept left out."""
        return tuple((term.label, tuple(term.names())) for term in self.terms)

    def matrix(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The design matrix of ``frame``'s rows, one named float column per coefficient."""
        n = frame.shape[0]
        blocks = [np.ones((n, 1))] if self.intercept else []
        blocks += [term.block(frame) for term in self.terms]
        values = np.hstack(blocks) if blocks else np.empty((n, 0))
        return pd.DataFrame(values, index=frame.index, columns=self.names)


def learn_design(
    formula: Formula,
    frame: pd.DataFrame,
    *,
    coding_intercept: bool | None = None,
    intercept_column: bool | None = None,
) -> Design:
    """Learn the design of ``formula`` on ``frame`` (levels, scale, polynomial bases).

    Parameters
    ----------
    formula : Formula
        The parsed formula.
    frame : DataFrame
        The fit's data.
    coding_intercept : bool, optional
        Code the categorical factors as if the model had an intercept (default:
        the formula's own). A Cox model codes with one and then drops the
        column, as R's ``coxph`` does.
    intercept_column : bool, optional
        Whether the matrix has the intercept column (default: the formula's).

    Returns
    -------
    Design
    """
    coding_intercept = formula.intercept if coding_intercept is None else coding_intercept
    intercept_column = formula.intercept if intercept_column is None else intercept_column
    factors = list(dict.fromkeys(f for term in formula.terms for f in term.factors))
    fitted = {f: _learn_factor(f, frame) for f in factors}
    categorical = {f for f, part in fitted.items() if isinstance(part, _LevelPart)}
    codings = []
    factor_sets = [set(term.factors) for term in formula.terms]
    for j, term in enumerate(formula.terms):
        coding = []
        for f in term.factors:
            rest = factor_sets[j] - {f}
            # R's TermCode: contrasts when the term without f is a margin already in the model
            margin = not rest or any(rest <= earlier for earlier in factor_sets[:j])
            coding.append(f in categorical and not margin)
        codings.append(coding)
    if not coding_intercept:
        # R's model.matrix: without an intercept the first categorical factor gets all levels
        first = next(
            (
                (j, i)
                for j, term in enumerate(formula.terms)
                for i, f in enumerate(term.factors)
                if f in categorical
            ),
            None,
        )
        if first is not None:
            codings[first[0]][first[1]] = True
    terms = []
    for term, coding in zip(formula.terms, codings, strict=True):
        for f, full in zip(term.factors, coding, strict=True):
            part = fitted[f]
            if isinstance(part, _LevelPart) and not full and len(part.levels) < 2:
                raise ValueError(
                    f"{part.label} has {len(part.levels)} level(s) in the data "
                    f"({[str(v) for v in part.levels]}); a categorical term needs at least two."
                )
        parts = tuple((fitted[f], full) for f, full in zip(term.factors, coding, strict=True))
        terms.append(DesignTerm(term.label, parts))
    design = Design(intercept_column, tuple(terms))
    names = design.names
    twice = sorted(n for n, count in Counter(names).items() if count > 1)
    if twice:
        raise ValueError(
            f"the formula {formula.text!r} gives the design columns {twice} twice; rename the "
            f"column that clashes with a term."
        )
    return design
