"""The formula language of FormulaModel and ``skmipool fit``: tokens, parser and terms.

A formula is parsed, never evaluated. The text is cut into tokens (names,
backquoted names, numbers, the operators ``~ + - * / : ^ ** | ||``,
parentheses, commas and ``=`` for a keyword argument), parsed with R's operator
precedence into a small tree (``~`` lowest, then ``|``, ``+ -``, ``* /``,
``:``, unary minus, ``^``; see R's ``?Syntax``) and the tree is read as R's
``terms.formula`` reads it: ``a*b`` is ``a + b + a:b``, ``a/b`` is
``a + a:b``, ``(a + b)^2`` is ``a + b + a:b``, ``- x`` removes a term, ``- 1``
and ``+ 0`` remove the intercept. Terms are ordered as in R: main effects
first, then two-way interactions, and so on, each group in the order written;
the factors of an interaction in the order the formula first names them.

Only these calls exist: ``I(...)`` over arithmetic (``+ - * / ^ **``, unary
minus, numbers, columns and the transforms), ``C(col)`` and
``C(col, ref=level)``, the transforms ``log log1p exp sqrt`` (``np.log`` etc.
are accepted spellings of the same functions), the stateful ``scale(x)`` and
``poly(x, degree)``, the specials ``Surv(time, event)`` (outcome of a Cox
model), ``cluster(col)``, ``strata(col)`` and ``frailty(col)`` or
``frailty(col, distribution = "gaussian")`` (a shared frailty of a Cox model, R's
``frailty()``; its ``distribution`` is the grammar's only string), and random-effect terms
``(1 | g)``, ``(1 + x | g)``, which are parsed into :class:`RandomEffect` nodes
so that a model that supports them can read them. Anything else -- another
call, a string literal, a subscript, a reserved word such as ``lambda`` -- is
a :class:`FormulaError` that names the token and its 1-based position.

Sizes are bounded so that no formula costs more than a moment or a deep
recursion: a sum of thousands of terms is read in a loop, but the parts that
are evaluated (the arguments of a call, the outcome) nest or chain at most
100 operations, an interaction has at most 100 factors, and ``*``, ``:``,
``/`` and ``^`` expand to at most 2000 terms.

Names follow R: letters, digits, ``_`` and ``.`` (``log.bmi`` is one column
name; there is no attribute access, so ``x.y`` is simply a name that must be a
column). Other column names are written in backquotes: `` `age group` ``.

Why the design is built here and not by patsy or formulaic
----------------------------------------------------------
Both patsy and formulaic evaluate each factor of a formula as Python code in
a namespace captured from the caller. Emitting a sanitised formula for them
(every column as ``Q("name")``, an explicit function table) would close the
injection, but predict would still go back to the engine, which evaluates the
factors again: with patsy a fitted ``FormulaModel`` unpickled in a new process
failed in ``EvalEnvironment.capture`` when ``predict`` ran at module level,
and the numbers would depend on which engine statsmodels uses (patsy under
statsmodels 0.14, patsy or formulaic under 0.15). So skmipool builds the
design matrix itself from the parsed terms
(``skmipool.models._formula_design``): numeric columns, treatment-coded
categories named as patsy names them (``age[T.40-59]``), interactions,
``I()`` arithmetic, and the learnt state of ``scale`` and ``poly`` stored at
fit for predict. statsmodels then fits the matrix with its column names. That
is the matrix patsy built (equal entries, so the R fixtures hold to the
last digits), it pickles as plain data, and it is the same under either
engine.
"""

from __future__ import annotations

import keyword
from dataclasses import dataclass, field
from typing import Union

from skmipool._tokens import NAME, Token, tokenize

__all__ = [
    "ALLOWED_FUNCTIONS",
    "BinOp",
    "Call",
    "Categorical",
    "Formula",
    "FormulaError",
    "Name",
    "Number",
    "Numeric",
    "Paren",
    "Poly",
    "RandomEffect",
    "RandomPart",
    "Response",
    "Scale",
    "Special",
    "SurvResponse",
    "Term",
    "UnaryOp",
    "Variable",
    "deparse",
    "parse_formula",
    "read_random_effect",
]

# ------------------------------------------------------------------ vocabulary

TRANSFORMS = ("log", "log1p", "exp", "sqrt")  # elementwise: also inside I()
NUMPY_SPELLINGS = {f"np.{f}": f for f in TRANSFORMS} | {f"numpy.{f}": f for f in TRANSFORMS}
STATEFUL = ("scale", "poly")  # learn a centre / polynomial basis at fit
SPECIALS = ("Surv", "cluster", "strata", "frailty")
FRAILTY_DISTRIBUTIONS = ("gamma", "gaussian")  # R's frailty(distribution = ), "t" not supported
ALLOWED_FUNCTIONS = ("I", "C", *TRANSFORMS, *STATEFUL, *SPECIALS)
_ALLOWED_TEXT = (
    "I(...), C(col) or C(col, ref=level), log, log1p, exp, sqrt (also np.log, ...), "
    "scale, poly(x, degree), and the specials Surv(time, event), cluster(col), strata(col), "
    'frailty(col, distribution = "gamma" or "gaussian")'
)

# R's reserved words and Python's keywords: not column names unless backquoted
RESERVED = frozenset(keyword.kwlist) | {
    "if",
    "else",
    "repeat",
    "while",
    "function",
    "for",
    "next",
    "break",
    "TRUE",
    "FALSE",
    "NULL",
    "Inf",
    "NaN",
    "NA",
    "NA_integer_",
    "NA_real_",
    "NA_character_",
    "in",
}

MAX_DEPTH = 100  # nesting of parentheses and operators
MAX_TERMS = 2000  # terms after expanding *, ^ and :
MAX_FACTORS = 100  # factors of one interaction term
MAX_PRODUCTS = 100 * MAX_TERMS  # products formed by one '*', ':', '/' or '^' step

_OPERATORS = ("**", "||", "~", "+", "-", "*", "/", ":", "^", "|", "(", ")", ",", "=")
_TERM_OPERATORS = ("+", "-", "*", "/", ":")  # left-associative operators of the term algebra


class FormulaError(ValueError):
    """A formula outside the grammar, with the offending token and its position.

    Attributes
    ----------
    formula : str
        The formula text.
    position : int
        1-based character position of the token (``len(formula) + 1``: the end).
    token : str
        The token (``"end of formula"`` at the end).
    """

    def __init__(self, formula: str, position: int, token: str, message: str):
        self.formula = formula
        self.position = position
        self.token = token
        where = token if token == "end of formula" else repr(token)
        super().__init__(f"formula {formula!r}, {where} at position {position}: {message}")


# ------------------------------------------------------------------ tokens


def _after_distribution(tokens: list[Token]) -> bool:
    """The one string of the language: frailty's ``distribution = "gaussian"``."""
    return len(tokens) >= 2 and tokens[-1].text == "=" and tokens[-2].text == "distribution"


def _tokenize(text: str) -> list[Token]:
    return tokenize(
        text,
        _OPERATORS,
        lambda pos, token, message: FormulaError(text, pos, token, message),
        bad_character=_bad_character,
        end="end of formula",
        string_allowed=_after_distribution,
    )


def _bad_character(ch: str) -> str:
    if ch in "'\"":
        return (
            "string literals are not part of the formula language; write a column name as "
            "it is, backquote an unusual one (`my column`), and a level as C(col, ref=`level`)"
        )
    if ch in "[]":
        return "subscripts are not part of the formula language; use a column name"
    if ch == "$":
        return "'$' is not part of the formula language; use the column name"
    return (
        "this character is not part of the formula language (names, numbers, backquoted "
        "names and the operators ~ + - * / : ^ ( ) | , =); backquote a column name that "
        "contains it"
    )


# ------------------------------------------------------------------ the tree


@dataclass(frozen=True)
class Name:
    """A column name (a bare name or a backquoted one)."""

    name: str
    pos: int = field(default=0, compare=False)
    quoted: bool = field(default=False, compare=False)


@dataclass(frozen=True)
class Number:
    value: float
    text: str = field(default="", compare=False)
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class String:
    """A quoted string: only as ``frailty(col, distribution = "gaussian")``."""

    value: str
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Call:
    """A call of a whitelisted function; ``kwargs`` holds ``(name, value)`` pairs."""

    func: str
    args: tuple
    kwargs: tuple = ()
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class BinOp:
    op: str  # ``**`` is stored as ``^``
    left: object
    right: object
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class UnaryOp:
    op: str
    operand: object
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Paren:
    inner: object
    pos: int = field(default=0, compare=False)


Node = Union[Name, Number, Call, BinOp, UnaryOp, Paren]  # noqa: UP007 (3.10 at runtime)


def _plain(name: str) -> bool:
    return NAME.fullmatch(name) is not None and name not in RESERVED and name != "."


def deparse(node) -> str:
    """R-style text of a node: ``I(x^2)``, ``log(bmi + 1)``, ``C(age, ref=`40-59`)``."""
    if isinstance(node, Name):
        if _plain(node.name):
            return node.name
        return "`" + node.name.replace("\\", "\\\\").replace("`", "\\`") + "`"
    if isinstance(node, Number):
        return node.text or repr(node.value)
    if isinstance(node, String):
        return f'"{node.value}"'
    if isinstance(node, Paren):
        return f"({deparse(node.inner)})"
    if isinstance(node, UnaryOp):
        return f"{node.op}{deparse(node.operand)}"
    if isinstance(node, BinOp):
        chain = []  # a + b + c leans left: walk it in a loop, thousands of terms deep
        while isinstance(node, BinOp):
            chain.append(node)
            node = node.left
        pieces = [deparse(node)]
        for binop in reversed(chain):
            sep = f" {binop.op} " if binop.op in ("+", "-", "*", "|", "||", "~") else binop.op
            pieces += [sep, deparse(binop.right)]
        return "".join(pieces)
    args = [deparse(a) for a in node.args] + [f"{k}={deparse(v)}" for k, v in node.kwargs]
    return f"{node.func}({', '.join(args)})"


# R's ?Syntax, lowest first: ~, | ||, + -, * /, :, unary + -, ^ (right-associative)
_INFIX = {
    "~": (10, 11),
    "|": (20, 21),
    "||": (20, 21),
    "+": (30, 31),
    "-": (30, 31),
    "*": (40, 41),
    "/": (40, 41),
    ":": (50, 51),
    "^": (71, 70),
    "**": (71, 70),
}
_PREFIX = {"-": 60, "+": 60, "~": 11}


class _Parser:
    """Pratt parser over the token list; every node keeps its token's position."""

    def __init__(self, text: str):
        self.text = text
        self.tokens = _tokenize(text)
        self.i = 0
        self.depth = 0

    def error(self, token: Token, message: str) -> FormulaError:
        return FormulaError(self.text, token.pos, token.shown(), message)

    @property
    def peek(self) -> Token:
        return self.tokens[self.i]

    def take(self) -> Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def expect(self, op: str, context: str) -> Token:
        token = self.take()
        if token.kind != "op" or token.text != op:
            raise self.error(token, f"expected '{op}' {context}")
        return token

    def parse(self):
        tildes = [t for t in self.tokens if t.kind == "op" and t.text == "~"]
        if not tildes:
            raise self.error(
                self.tokens[-1],
                "a formula needs exactly one '~' separating the outcome from the predictors, "
                "e.g. 'chl ~ age + bmi'",
            )
        if len(tildes) > 1:
            raise self.error(tildes[1], "a formula has exactly one '~'")
        tree = self.expression(0)
        token = self.peek
        if token.kind != "end":
            hint = (
                "terms are joined with '+'"
                if token.kind in ("name", "qname", "number") or token.text == "("
                else "it does not continue the formula here"
            )
            raise self.error(token, f"unexpected token; {hint}")
        return tree

    def expression(self, min_bp: int):
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(self.peek, f"the formula nests deeper than {MAX_DEPTH} levels")
        left = self.prefix()
        while True:
            token = self.peek
            if token.kind != "op" or token.text not in _INFIX:
                break
            lbp, rbp = _INFIX[token.text]
            if lbp <= min_bp:
                break
            self.take()
            if self.peek.kind == "end":
                raise self.error(self.peek, f"expected a term after '{token.text}'")
            right = self.expression(rbp)
            op = "^" if token.text == "**" else token.text
            left = BinOp(op, left, right, token.pos)
        self.depth -= 1
        return left

    def prefix(self):
        token = self.take()
        if token.kind == "end":
            raise self.error(token, "expected a term")
        if token.kind == "number":
            return Number(float(token.text), token.text, token.pos)
        if token.kind == "string":
            quote = token.source[0]
            raise FormulaError(self.text, token.pos, quote, _bad_character(quote))
        if token.kind == "qname":
            if self.peek.kind == "op" and self.peek.text == "(":
                raise self.error(token, "a backquoted name is a column and cannot be called")
            return Name(token.text, token.pos, quoted=True)
        if token.kind == "name":
            if self.peek.kind == "op" and self.peek.text == "(":
                return self.call(token)
            if token.text in RESERVED:
                raise self.error(
                    token,
                    f"{token.text!r} is a reserved word, not a column name; backquote a column "
                    f"of that name (`{token.text}`)",
                )
            if token.text == ".":
                raise self.error(
                    token, "'.' (all other columns) is not supported; list the columns"
                )
            return Name(token.text, token.pos)
        if token.text == "(":
            inner = self.expression(0)
            self.expect(")", f"to close the '(' at position {token.pos}")
            return Paren(inner, token.pos)
        if token.text in _PREFIX:
            operand = self.expression(_PREFIX[token.text])
            return UnaryOp(token.text, operand, token.pos)
        raise self.error(token, "expected a term (a column name, a number, '(' or a function)")

    def call(self, name: Token) -> Call:
        func = name.text
        if func not in ALLOWED_FUNCTIONS and func not in NUMPY_SPELLINGS:
            raise self.error(name, f"{func}() is not an allowed function; allowed: {_ALLOWED_TEXT}")
        opening = self.take()
        args, kwargs = [], []
        if not (self.peek.kind == "op" and self.peek.text == ")"):
            while True:
                token = self.peek
                following = self.tokens[min(self.i + 1, len(self.tokens) - 1)]
                if token.kind in ("name", "qname") and following.text == "=":
                    self.take()
                    self.take()
                    if any(k == token.text for k, _ in kwargs):
                        raise self.error(token, f"argument {token.text!r} is given twice")
                    if (func, token.text) == ("frailty", "distribution") and (
                        self.peek.kind == "string"
                    ):
                        value = self.take()
                        kwargs.append((token.text, String(value.text, value.pos)))
                    else:
                        kwargs.append((token.text, self.expression(0)))
                else:
                    if kwargs:
                        raise self.error(token, "a positional argument follows a named one")
                    args.append(self.expression(0))
                if self.peek.kind == "op" and self.peek.text == ",":
                    self.take()
                    continue
                break
        self.expect(")", f"to close {func}( at position {opening.pos}")
        return Call(func, tuple(args), tuple(kwargs), name.pos)


# ------------------------------------------------------------------ terms


@dataclass(frozen=True)
class Variable:
    """A bare column: numeric, or categorical if the column holds text, categories or bools."""

    name: str
    pos: int = field(default=0, compare=False)

    @property
    def label(self) -> str:
        return self.name

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.name,)


@dataclass(frozen=True)
class Categorical:
    """``C(col)`` or ``C(col, ref=level)``: treatment coding against the reference level."""

    name: str
    ref: Name | Number | None = None
    label: str = field(default="", compare=False)
    pos: int = field(default=0, compare=False)

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.name,)


@dataclass(frozen=True)
class Numeric:
    """``I(expr)`` or a transform such as ``log(x)``: one numeric column computed from columns."""

    expr: object
    label: str = field(default="", compare=False)
    pos: int = field(default=0, compare=False)

    @property
    def columns(self) -> tuple[str, ...]:
        return _names_in(self.expr)


@dataclass(frozen=True)
class Scale:
    """``scale(expr)``: centred by the mean and divided by the SD (n - 1) learnt at fit, as R."""

    expr: object
    label: str = field(default="", compare=False)
    pos: int = field(default=0, compare=False)

    @property
    def columns(self) -> tuple[str, ...]:
        return _names_in(self.expr)


@dataclass(frozen=True)
class Poly:
    """``poly(expr, degree)``: R's orthogonal polynomials, the basis learnt at fit."""

    expr: object
    degree: int
    label: str = field(default="", compare=False)
    pos: int = field(default=0, compare=False)

    @property
    def columns(self) -> tuple[str, ...]:
        return _names_in(self.expr)


Factor = Union[Variable, Categorical, Numeric, Scale, Poly]  # noqa: UP007


@dataclass(frozen=True)
class Term:
    """A model term: one factor, or the interaction of several (in formula order)."""

    factors: tuple

    @property
    def label(self) -> str:
        return ":".join(f.label for f in self.factors)


@dataclass(frozen=True)
class Special:
    """A column with a role rather than a coefficient: ``cluster(col)``, ``strata(col)``.

    ``frailty(col)`` also has a ``distribution`` ("gamma", R's default, or "gaussian").
    """

    role: str
    column: str
    pos: int = field(default=0, compare=False)
    distribution: str | None = None


@dataclass(frozen=True)
class RandomEffect:
    """``(expr | group)`` or ``(expr || group)``, as lme4 writes random effects."""

    expr: object
    group: object
    uncorrelated: bool = False
    pos: int = field(default=0, compare=False)

    @property
    def label(self) -> str:
        bar = "||" if self.uncorrelated else "|"
        return f"{deparse(self.expr)} {bar} {deparse(self.group)}"


@dataclass(frozen=True)
class Response:
    """The outcome: a column or arithmetic of columns (``log(time)``)."""

    expr: object
    label: str = ""

    @property
    def name(self) -> str | None:
        """The column when the outcome is a bare column name."""
        return self.expr.name if isinstance(self.expr, Name) else None

    @property
    def columns(self) -> tuple[str, ...]:
        return _names_in(self.expr)


@dataclass(frozen=True)
class SurvResponse:
    """``Surv(time, event)``: the outcome of a Cox model."""

    time: str
    event: str
    label: str = ""

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.time, self.event)


@dataclass(frozen=True)
class Formula:
    """A parsed formula.

    Attributes
    ----------
    text : str
        The formula as written.
    response : Response, SurvResponse or None
        The left of ``~`` (None for a one-sided formula).
    terms : tuple of Term
        The terms of the right-hand side in R's order (by order of interaction).
    intercept : bool
        False after ``- 1`` or ``+ 0``.
    specials : tuple of Special
        ``cluster()`` and ``strata()`` terms.
    random : tuple of RandomEffect
        ``(... | group)`` terms.
    columns : tuple of str
        Every column the formula names, in order of first appearance.
    positions : tuple of int
        1-based position of each of ``columns``' first appearance.
    """

    text: str
    response: Response | SurvResponse | None
    terms: tuple
    intercept: bool
    specials: tuple = ()
    random: tuple = ()
    columns: tuple = ()
    positions: tuple = ()

    def special(self, role: str) -> Special | None:
        found = [s for s in self.specials if s.role == role]
        return found[0] if found else None

    def position_of(self, column: str) -> int:
        return dict(zip(self.columns, self.positions, strict=True))[column]


def _names_in(node) -> tuple[str, ...]:
    """Column names inside an arithmetic expression (function names excluded)."""
    return tuple(name for name, _ in _node_names(node))


def _node_names(node):
    """(name, position) of every column a tree names, in order (levels in ref= excluded).

    A loop over a stack, not recursion: ``y ~ x1 + ... + x5000`` is a tree
    5000 levels deep.
    """
    stack = [node]
    while stack:
        node = stack.pop()
        if isinstance(node, Name):
            yield node.name, node.pos
        elif isinstance(node, BinOp):
            stack += [node.right, node.left]
        elif isinstance(node, UnaryOp):
            stack.append(node.operand)
        elif isinstance(node, Paren):
            stack.append(node.inner)
        elif isinstance(node, Call):
            stack += reversed(node.args)


def _deeper_than(node, limit: int) -> bool:
    """Whether a tree has more than ``limit`` levels (counted in a loop, not by recursion)."""
    stack = [(node, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(node, BinOp):
            children = (node.left, node.right)
        elif isinstance(node, UnaryOp):
            children = (node.operand,)
        elif isinstance(node, Paren):
            children = (node.inner,)
        elif isinstance(node, Call):
            children = (*node.args, *(value for _, value in node.kwargs))
        else:
            children = ()
        stack += [(child, depth + 1) for child in children]
    return False


@dataclass
class _Terms:
    """Intermediate result of reading a subtree: terms (as factor tuples) and flags."""

    terms: list = field(default_factory=list)
    intercept: bool | None = None  # None: not said
    specials: list = field(default_factory=list)
    random: list = field(default_factory=list)
    keys: set = field(init=False, repr=False)  # frozensets of the terms, for the union

    def __post_init__(self):
        self.keys = {frozenset(t) for t in self.terms}


class _Reader:
    """Reads a parsed right-hand side as R's terms.formula does."""

    def __init__(self, text: str):
        self.text = text
        self.order: dict = {}  # factor -> index of first appearance (R's variable order)

    def error(self, pos: int, token: str, message: str) -> FormulaError:
        return FormulaError(self.text, pos, token, message)

    def node_error(self, node, message: str) -> FormulaError:
        return self.error(_pos(node), _token_of(node), message)

    # ---- factors
    def factor(self, f):
        self.order.setdefault(f, len(self.order))
        return _Terms([(f,)])

    def term_key(self, factors) -> tuple:
        unique = list(dict.fromkeys(factors))
        return tuple(sorted(unique, key=lambda f: self.order[f]))

    # ---- the term algebra
    def read(self, node) -> _Terms:
        if isinstance(node, Name):
            return self.factor(Variable(node.name, node.pos))
        if isinstance(node, Number):
            if node.value == 1:
                return _Terms(intercept=True)
            if node.value == 0:
                return _Terms(intercept=False)
            raise self.node_error(
                node,
                "a number is a term only as 1 (intercept) or 0 (no intercept); write "
                "arithmetic inside I(...)",
            )
        if isinstance(node, Paren):
            if isinstance(node.inner, BinOp) and node.inner.op in ("|", "||"):
                bar = node.inner
                effect = RandomEffect(bar.left, bar.right, bar.op == "||", node.pos)
                return _Terms(random=[effect])
            return self.read(node.inner)
        if isinstance(node, UnaryOp):
            if node.op == "+":
                return self.read(node.operand)
            if node.op == "-":
                return self.minus(_Terms(), self.read(node.operand), node)
            raise self.node_error(node, "a formula has exactly one '~'")
        if isinstance(node, Call):
            return self.call(node)
        op = node.op
        if op in ("|", "||"):
            raise self.node_error(
                node,
                "'|' belongs in a random-effect term in parentheses, e.g. (1 | group)",
            )
        if op == "~":
            raise self.node_error(node, "a formula has exactly one '~'")
        if op == "^":
            left = self.read(node.left)
            self.only_terms(left, node)
            return self.power(node, left)
        # a + b - c:d + ... leans left, one level per operator: fold it in a loop (left
        # operands first, as recursion would) so that thousands of terms stay in bounds
        chain = []
        while isinstance(node, BinOp) and node.op in _TERM_OPERATORS:
            chain.append(node)
            node = node.left
        result = self.read(node)
        for binop in reversed(chain):
            result = self.combine(binop, result, self.read(binop.right))
        return result

    def combine(self, node: BinOp, left: _Terms, right: _Terms) -> _Terms:
        """``left op right`` for the term operators ``+ - : * /``."""
        op = node.op
        if op == "+":
            return self.plus(left, right)
        if op == "-":
            return self.minus(left, right, node)
        for side in (left, right):
            self.only_terms(side, node)
        if op == ":":
            return self.capped(_Terms(self.interact(left.terms, right.terms, node)), node)
        if op == "*":
            product = _Terms(self.interact(left.terms, right.terms, node))  # before plus grows left
            return self.capped(self.plus(self.plus(left, right), product), node)
        # "/": a/b is a + b %in% a, the terms of b within all factors of a
        outer = tuple(dict.fromkeys(f for t in left.terms for f in t))
        nested = self.interact([outer], right.terms, node) if outer else []
        return self.capped(self.plus(left, _Terms(nested)), node)

    def power(self, node: BinOp, left: _Terms) -> _Terms:
        exponent = node.right
        if not (
            isinstance(exponent, Number)
            and exponent.value == int(exponent.value)
            and exponent.value >= 1
        ):
            raise self.node_error(
                node,
                "the power of a term must be a positive whole number, e.g. (a + b + c)^2 (all "
                "interactions up to that order); write arithmetic inside I(...)",
            )
        result = list(left.terms)
        for _ in range(int(min(exponent.value, MAX_TERMS)) - 1):
            grown = self.union(result, self.interact(result, left.terms, node))
            self.check_size(grown, node)
            if len(grown) == len(result):
                break
            result = grown
        return _Terms(result)

    def interact(self, a, b, node) -> list:
        """Every term of ``a`` times every term of ``b`` (unique), stopping at the size caps."""
        if len(a) * len(b) > MAX_PRODUCTS:
            raise self.node_error(
                node, f"the formula expands to more than {MAX_TERMS} terms ({len(a)} x {len(b)})"
            )
        out = {}
        for x in a:
            for y in b:
                term = self.term_key(x + y)
                if len(term) > MAX_FACTORS:
                    raise self.node_error(
                        node, f"an interaction of more than {MAX_FACTORS} factors is not a model"
                    )
                out[term] = None
                if len(out) > MAX_TERMS:
                    raise self.node_error(
                        node, f"the formula expands to more than {MAX_TERMS} terms"
                    )
        return list(out)

    def union(self, a, b) -> list:
        seen = {frozenset(t) for t in a}
        out = list(a)
        for t in b:
            if frozenset(t) not in seen:
                seen.add(frozenset(t))
                out.append(t)
        return out

    def plus(self, left: _Terms, right: _Terms) -> _Terms:
        """The union of the terms; grows ``left`` in place (each _Terms is read once)."""
        for t in right.terms:
            key = frozenset(t)
            if key not in left.keys:
                left.keys.add(key)
                left.terms.append(t)
        if right.intercept is not None:
            left.intercept = right.intercept
        left.specials += right.specials
        left.random += right.random
        return left

    def minus(self, left: _Terms, right: _Terms, node) -> _Terms:
        if right.specials or right.random:
            raise self.node_error(node, "special and random-effect terms cannot be removed")
        drop = {frozenset(t) for t in right.terms}
        intercept = left.intercept
        if right.intercept is not None:
            intercept = not right.intercept  # - 1: none; - 0: an intercept (as R)
        return _Terms(
            [t for t in left.terms if frozenset(t) not in drop],
            intercept,
            left.specials,
            left.random,
        )

    def only_terms(self, side: _Terms, node) -> None:
        if side.intercept is not None:
            raise self.node_error(
                node,
                f"'0' and '1' cannot be part of '{node.op}'; add or remove the intercept "
                "with '+ 1', '- 1' or '+ 0'",
            )
        if side.specials or side.random:
            raise self.node_error(
                node,
                f"special and random-effect terms stand alone (added with '+'), not inside "
                f"'{node.op}'",
            )

    def capped(self, terms: _Terms, node) -> _Terms:
        self.check_size(terms.terms, node)
        return terms

    def check_size(self, terms, node) -> None:
        if len(terms) > MAX_TERMS:
            raise self.node_error(node, f"the formula expands to more than {MAX_TERMS} terms")

    # ---- calls
    def call(self, node: Call) -> _Terms:
        func = NUMPY_SPELLINGS.get(node.func, node.func)
        self.bounded(node, f"{node.func}()")
        label = deparse(node)
        if func in ("I", *TRANSFORMS):
            self.arithmetic(node, f"{node.func}()")
            return self.factor(Numeric(node, label, node.pos))
        if func == "C":
            return self.factor(self.categorical(node, label))
        if func == "scale":
            self.arguments(node, 1, ())
            self.arithmetic(node.args[0], "scale()")
            return self.factor(Scale(node.args[0], label, node.pos))
        if func == "poly":
            return self.factor(self.poly(node, label))
        if func == "Surv":
            raise self.node_error(node, "Surv(time, event) is the outcome: put it left of '~'")
        # cluster, strata, frailty
        self.arguments(node, 1, ("distribution",) if func == "frailty" else ())
        distribution = self.frailty_distribution(node) if func == "frailty" else None
        column = node.args[0]
        if not isinstance(column, Name):
            raise self.node_error(
                node,
                f"{func}() takes a single column name; got {deparse(column)!r}. Combine the "
                f"columns into one first",
            )
        return _Terms(specials=[Special(func, column.name, node.pos, distribution)])

    def frailty_distribution(self, node: Call) -> str:
        """R's frailty(col, distribution = "gamma" | "gaussian"); gamma by default."""
        value = dict(node.kwargs).get("distribution")
        if value is None:
            return "gamma"
        if not (isinstance(value, String) and value.value in FRAILTY_DISTRIBUTIONS):
            raise self.error(
                _pos(value),
                deparse(value),
                'the frailty distribution is "gamma" or "gaussian", e.g. '
                'frailty(cid, distribution = "gaussian")',
            )
        return value.value

    def arguments(self, node: Call, n_args: int, keywords: tuple) -> None:
        if len(node.args) != n_args:
            raise self.node_error(
                node, f"{node.func}() takes {n_args} positional argument(s); got {len(node.args)}"
            )
        for key, value in node.kwargs:
            if key not in keywords:
                allowed = f"; it takes {', '.join(keywords)}=" if keywords else ""
                raise self.error(
                    _pos(value), key, f"{node.func}() has no argument {key!r}{allowed}"
                )

    def categorical(self, node: Call, label: str) -> Categorical:
        if len(node.args) == 2 and not node.kwargs:
            raise self.node_error(
                node,
                "C() takes the reference level as ref=level, e.g. C(age, ref=`40-59`); other "
                "contrasts are not supported",
            )
        self.arguments(node, 1, ("ref",))
        column = node.args[0]
        if not isinstance(column, Name):
            raise self.node_error(node, "C() takes a column name, e.g. C(age)")
        ref = dict(node.kwargs).get("ref")
        if ref is not None and not isinstance(ref, Name | Number):
            raise self.error(
                _pos(ref),
                deparse(ref),
                "the reference level is a name, a number or a backquoted level: ref=`40-59`",
            )
        return Categorical(column.name, ref, label, node.pos)

    def poly(self, node: Call, label: str) -> Poly:
        kwargs = dict(node.kwargs)
        if len(node.args) == 1 and "degree" in kwargs:
            node_args = (node.args[0], kwargs["degree"])
        else:
            node_args = node.args
        if (
            len(node_args) != 2
            or set(kwargs) - {"degree"}
            or ("degree" in kwargs and len(node.args) != 1)
        ):
            raise self.node_error(node, "write poly(x, degree), e.g. poly(age, 2)")
        degree = node_args[1]
        if not (
            isinstance(degree, Number)
            and degree.value == int(degree.value)
            and 1 <= degree.value <= 20
        ):
            raise self.error(
                _pos(degree), deparse(degree), "the degree of poly() is a whole number 1 to 20"
            )
        self.arithmetic(node_args[0], "poly()")
        return Poly(node_args[0], int(degree.value), label, node.pos)

    def bounded(self, node, where: str) -> None:
        """Arithmetic is evaluated, hashed and pickled by recursion: at most MAX_DEPTH levels."""
        if _deeper_than(node, MAX_DEPTH):
            raise self.node_error(
                node,
                f"{where} nests or chains more than {MAX_DEPTH} levels of operations; compute "
                f"the column before fitting",
            )

    def arithmetic(self, node, where: str) -> None:
        """Check that a subtree is arithmetic of columns, numbers and transforms."""
        if isinstance(node, Name | Number):
            return
        if isinstance(node, Paren):
            self.arithmetic(node.inner, where)
        elif isinstance(node, UnaryOp):
            if node.op == "~":
                raise self.node_error(node, "a formula has exactly one '~'")
            self.arithmetic(node.operand, where)
        elif isinstance(node, BinOp):
            if node.op not in ("+", "-", "*", "/", "^"):
                raise self.node_error(
                    node, f"'{node.op}' is not arithmetic; inside {where} use + - * / ^ **"
                )
            self.arithmetic(node.left, where)
            self.arithmetic(node.right, where)
        else:
            func = NUMPY_SPELLINGS.get(node.func, node.func)
            if func not in ("I", *TRANSFORMS):
                raise self.node_error(
                    node,
                    f"{node.func}() cannot be used inside {where}; there: arithmetic, columns, "
                    f"numbers, I(), log, log1p, exp, sqrt",
                )
            self.arguments(node, 1, ())
            self.arithmetic(node.args[0], where)


def _pos(node) -> int:
    return node.pos


def _token_of(node) -> str:
    if isinstance(node, Call):
        return node.func
    if isinstance(node, BinOp | UnaryOp):
        return node.op
    if isinstance(node, Paren):
        return "("
    return deparse(node)


def _response(reader: _Reader, node) -> Response | SurvResponse:
    if isinstance(node, Call) and node.func == "Surv":
        if node.kwargs or len(node.args) != 2 or not all(isinstance(a, Name) for a in node.args):
            raise reader.node_error(
                node, "Surv() takes two column names, Surv(time, event), e.g. Surv(time, status)"
            )
        time, event = node.args
        return SurvResponse(time.name, event.name, deparse(node))
    reader.bounded(node, "the outcome")
    reader.arithmetic(node, "the outcome")
    return Response(node, deparse(node))


def parse_formula(text: str) -> Formula:
    """Parse a formula without evaluating any of it.

    Parameters
    ----------
    text : str
        ``"outcome ~ terms"``; see the module docstring for the grammar.

    Returns
    -------
    Formula

    Raises
    ------
    FormulaError
        For anything outside the grammar, naming the token and its 1-based position.
    """
    if not isinstance(text, str):
        raise TypeError(f"a formula is a string; got {type(text).__name__}.")
    parser = _Parser(text)
    tree = parser.parse()
    reader = _Reader(text)
    if isinstance(tree, UnaryOp) and tree.op == "~":
        raise reader.error(
            tree.pos, "~", "the formula has no outcome on the left of '~', e.g. 'chl ~ age + bmi'"
        )
    if not (isinstance(tree, BinOp) and tree.op == "~"):
        raise reader.error(
            len(text) + 1,
            "end of formula",
            "a formula needs exactly one '~' separating the outcome from the predictors, e.g. "
            "'chl ~ age + bmi'",
        )
    response = _response(reader, tree.left)
    rhs = reader.read(tree.right)
    roles = [s.role for s in rhs.specials]
    again = [s for i, s in enumerate(rhs.specials) if s.role in roles[:i]]
    if again:
        raise reader.error(
            again[0].pos, again[0].role, f"the formula has more than one {again[0].role}()"
        )
    terms = sorted(rhs.terms, key=len)  # R: by order of interaction, stable
    names = list(_node_names(tree.left))
    names += list(_node_names(tree.right))  # a ref= level is a keyword argument: not included
    first = dict(reversed(names))
    columns = tuple(dict.fromkeys(n for n, _ in names))
    return Formula(
        text=text,
        response=response,
        terms=tuple(Term(t) for t in terms),
        intercept=rhs.intercept is not False,
        specials=tuple(rhs.specials),
        random=tuple(rhs.random),
        columns=columns,
        positions=tuple(first[c] for c in columns),
    )


@dataclass(frozen=True)
class RandomPart:
    """A random-effect term read for a model: lme4's ``(terms | group)``.

    Attributes
    ----------
    group : str
        The grouping column.
    formula : Formula
        The terms left of the bar as a one-sided formula: the random-effects
        design Z is built from it as the fixed design is from the formula.
        Its ``intercept`` is True unless the terms say ``0 +`` or ``- 1``
        (lme4: ``(x | g)`` has a random intercept, ``(0 + x | g)`` has none).
    """

    group: str
    formula: Formula


def read_random_effect(text: str, effect: RandomEffect) -> RandomPart:
    """Read ``(expr | group)`` as lme4 does: the terms of ``expr`` vary by ``group``.

    Parameters
    ----------
    text : str
        The whole formula (for error messages).
    effect : RandomEffect
        One of ``parse_formula(text).random``.

    Raises
    ------
    FormulaError
        A grouping that is not one column (lme4's nested ``school/class`` or
        ``a:b``), or terms that are not plain model terms.
    """
    reader = _Reader(text)
    group = effect.group
    while isinstance(group, Paren):
        group = group.inner
    if not isinstance(group, Name):
        raise reader.node_error(
            effect.group,
            f"the grouping of a random-effect term must be one column, as in (1 | school); "
            f"got '{deparse(effect.group)}' (nested or crossed groupings are not supported: "
            f"make one column of the combined groups)",
        )
    terms = reader.read(effect.expr)
    if terms.specials or terms.random:
        raise reader.node_error(
            effect.expr, "a random-effect term holds model terms only, e.g. (1 + x | group)"
        )
    columns = tuple(dict.fromkeys(n for n, _ in _node_names(effect.expr)))
    inner = Formula(
        text=text,
        response=None,
        terms=tuple(Term(t) for t in sorted(terms.terms, key=len)),
        intercept=terms.intercept is not False,
        columns=columns,
        positions=tuple(dict(reversed(list(_node_names(effect.expr))))[c] for c in columns),
    )
    if not inner.terms and not inner.intercept:
        raise reader.node_error(effect.expr, "the random-effect term has no terms left of '|'")
    return RandomPart(group.name, inner)
