"""Constraints on pooled parameters: a small arithmetic grammar, parsed and never evaluated.

A constraint is arithmetic of term names and numbers, ``"ReadDis / MathDis = 1"``
or ``"b1 - b2"`` (``= 0`` implied), as in mitml's ``testConstraints``. The text is
cut into tokens (names, backquoted names, numbers, ``+ - * / ^ ** ( ) =``), parsed
with R's precedence (``+ -`` lowest, then ``* /``, unary minus, ``^``
right-associative, so ``-a^2`` is ``-(a^2)``) into a tree of the frozen records
below, and the tree is evaluated by forward-mode differentiation: each node
gives its value and its exact gradient with respect to the terms, for the delta
method. There are no function calls, no attribute access and no ``eval``.

Names follow R: letters, digits, ``_`` and ``.``; any other term name is
written in backquotes, `` `age[T.40-59]` ``. The text is at most
:data:`MAX_LENGTH` characters and nests at most :data:`MAX_DEPTH` levels.

This module is arithmetic below the result objects, like ``_wald``; it imports
nothing from skmipool.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

import numpy as np

from skmipool._tokens import Token, tokenize

__all__ = ["Constraint", "ConstraintError", "parse_constraint"]

MAX_LENGTH = 1000  # keeps the evaluation recursion shallow (at most ~500 operations)
MAX_DEPTH = 100

_OPERATORS = ("**", "+", "-", "*", "/", "^", "(", ")", "=")


class ConstraintError(ValueError):
    """A constraint outside the grammar, naming the offending token and its position.

    Raised by :meth:`skmipool.PooledResult.wald_test` with ``constraints=``: the
    constraint grammar is arithmetic (``+ - * / ^``, parentheses) of term names
    and numbers with at most one ``=``.

    Attributes
    ----------
    text : str
        The constraint.
    position : int
        1-based character position of the token (``len(text) + 1``: the end).
    token : str
        The token (``"end of constraint"`` at the end).

    Examples
    --------
    >>> import numpy as np
    >>> from skmipool import ConstraintError, pool_estimates
    >>> res = pool_estimates(np.array([[1.0, 2.0], [1.1, 2.2]]), np.full((2, 2), 0.1),
    ...                      names=["a", "b"])
    >>> try:
    ...     res.wald_test(constraints="log(a) = 0")
    ... except ConstraintError as err:
    ...     print(err.token, err.position)
    log 1
    """

    def __init__(self, text: str, position: int, token: str, message: str):
        self.text = text
        self.position = position
        self.token = token
        where = token if token == "end of constraint" else repr(token)
        super().__init__(f"constraints: {text!r}, {where} at position {position}: {message}")


# ------------------------------------------------------------------- tokens


def _bad_character(ch: str) -> str:
    return (
        "a constraint is arithmetic (+ - * / ^) of term names and numbers; write "
        "term names with other characters in backquotes, e.g. `age[T.40-59]`"
    )


def _tokenize(text: str) -> list[Token]:
    """Tokens of a constraint: backquoted names are names, ``**`` is ``^``."""
    tokens = tokenize(
        text,
        _OPERATORS,
        lambda pos, token, message: ConstraintError(text, pos, token, message),
        bad_character=_bad_character,
        end="end of constraint",
    )
    return [
        Token("name", t.text, t.pos, t.source)
        if t.kind == "qname"
        else Token("op", "^", t.pos, t.source)
        if t.kind == "op" and t.text == "**"
        else t
        for t in tokens
    ]


# --------------------------------------------------------------------- tree


@dataclass(frozen=True)
class Number:
    value: float


@dataclass(frozen=True)
class Term:
    name: str
    index: int  # position among the result's terms


@dataclass(frozen=True)
class Negate:
    operand: Node


@dataclass(frozen=True)
class BinOp:
    op: str  # "+", "-", "*", "/", "^"
    left: Node
    right: Node


Node = Union[Number, Term, Negate, BinOp]  # noqa: UP007 (a runtime alias)


class _Parser:
    """Recursive descent over R's precedence: sum > product > unary minus > power."""

    def __init__(self, text: str, names: list[str]):
        self.text = text
        self.names = names
        self.tokens = _tokenize(text)
        self.i = 0
        self.depth = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def fail(self, message: str, tok: Token | None = None):
        tok = tok or self.tok
        raise ConstraintError(self.text, tok.pos, tok.shown(), message)

    def is_op(self, *ops: str) -> bool:
        return self.tok.kind == "op" and self.tok.text in ops

    def nested(self):
        self.depth += 1
        if self.depth > MAX_DEPTH:
            self.fail(f"the expression nests more than {MAX_DEPTH} levels")

    def sum(self) -> Node:
        node = self.product()
        while self.is_op("+", "-"):
            op = self.tok.text
            self.i += 1
            node = BinOp(op, node, self.product())
        return node

    def product(self) -> Node:
        node = self.unary()
        while self.is_op("*", "/"):
            op = self.tok.text
            self.i += 1
            node = BinOp(op, node, self.unary())
        return node

    def unary(self) -> Node:
        if self.is_op("-", "+"):
            op = self.tok.text
            self.i += 1
            self.nested()
            operand = self.unary()
            self.depth -= 1
            return Negate(operand) if op == "-" else operand
        return self.power()

    def power(self) -> Node:
        base = self.atom()
        if self.is_op("^"):
            self.i += 1
            self.nested()
            exponent = self.unary()  # right-associative; 2^-1 allowed, as in R
            self.depth -= 1
            return BinOp("^", base, exponent)
        return base

    def atom(self) -> Node:
        tok = self.tok
        if tok.kind == "number":
            self.i += 1
            return Number(float(tok.text))
        if tok.kind == "name":
            self.i += 1
            if self.is_op("("):
                self.fail("function calls are not part of a constraint (arithmetic only)", tok)
            if tok.text not in self.names:
                self.fail(f"{tok.text!r} is not a term; the terms are {self.names}", tok)
            return Term(tok.text, self.names.index(tok.text))
        if self.is_op("("):
            self.i += 1
            self.nested()
            node = self.sum()
            self.depth -= 1
            if not self.is_op(")"):
                self.fail("expected ')' to close the '(' before it")
            self.i += 1
            return node
        self.fail("expected a term name, a number or '('")


@dataclass(frozen=True)
class Constraint:
    """A parsed constraint ``g(theta) = 0`` (``lhs = rhs`` is read as ``lhs - rhs``)."""

    text: str
    tree: Node

    def evaluate(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Value and exact gradient at each row of ``theta`` (shape (M, p)).

        Returns arrays of shape (M,) and (M, p).
        """
        theta = np.asarray(theta, dtype=float)
        with np.errstate(all="ignore"):
            return _evaluate(self.tree, theta)


def _evaluate(node: Node, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Forward-mode differentiation: (value, gradient) of the node at each row of theta."""
    m, p = theta.shape
    if isinstance(node, Number):
        return np.full(m, node.value), np.zeros((m, p))
    if isinstance(node, Term):
        grad = np.zeros((m, p))
        grad[:, node.index] = 1.0
        return theta[:, node.index].copy(), grad
    if isinstance(node, Negate):
        v, g = _evaluate(node.operand, theta)
        return -v, -g
    a, da = _evaluate(node.left, theta)
    b, db = _evaluate(node.right, theta)
    if node.op == "+":
        return a + b, da + db
    if node.op == "-":
        return a - b, da - db
    if node.op == "*":
        return a * b, da * b[:, None] + a[:, None] * db  # product rule
    if node.op == "/":
        return a / b, (da * b[:, None] - a[:, None] * db) / (b**2)[:, None]  # quotient rule
    value = a**b
    grad = (b * a ** (b - 1.0))[:, None] * da  # d(a^b)/da
    if np.any(db != 0):  # an exponent that depends on the terms: + a^b log(a) db
        grad = grad + (value * np.log(a))[:, None] * db
    return value, grad


def parse_constraint(text, names) -> Constraint:
    """Parse one constraint over the term ``names``; ``a = b`` becomes ``a - b``.

    Raises
    ------
    ConstraintError
        A token outside the grammar, an unknown term, a function call, more than
        one ``=``, or a constraint that names no term; the message gives the
        token and its 1-based position.
    """
    if not isinstance(text, str):
        raise TypeError(
            f"constraints must be a string or a list of strings such as 'a / b = 1'; got "
            f"{type(text).__name__}."
        )
    if len(text) > MAX_LENGTH:
        raise ConstraintError(
            text[:40] + "...", 1, text[:1], f"a constraint has at most {MAX_LENGTH} characters"
        )
    names = [str(n) for n in names]
    parser = _Parser(text, names)
    if parser.tok.kind == "end":
        parser.fail("the constraint is empty")
    tree = parser.sum()
    if parser.is_op("="):
        parser.i += 1
        if parser.tok.kind == "end":
            parser.fail("expected an expression after '='")
        tree = BinOp("-", tree, parser.sum())
    if parser.tok.kind != "end":
        if parser.is_op("="):
            parser.fail("a constraint has at most one '='")
        parser.fail("expected an operator or the end of the constraint")
    if not _names_a_term(tree):
        raise ConstraintError(text, 1, text.strip()[:1] or text, "the constraint names no term")
    return Constraint(text, tree)


def _names_a_term(node: Node) -> bool:
    if isinstance(node, Term):
        return True
    if isinstance(node, Negate):
        return _names_a_term(node.operand)
    if isinstance(node, BinOp):
        return _names_a_term(node.left) or _names_a_term(node.right)
    return False
