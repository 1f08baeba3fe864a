"""The tokenizer of skmipool's two small expression languages.

Model formulas (:mod:`skmipool.models._formula_grammar`) and constraints on pooled
estimates (:mod:`skmipool._constraints`) are read by parsers of their own, over the
tokens made here: names (backquoted for odd ones, as R writes them), numbers,
operators, and, where a language allows one, a quoted string. Nothing is evaluated.
The bottom of the layering: it imports nothing from skmipool.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = ["NAME", "NUMBER", "Token", "tokenize"]

# R's syntactic names: a letter, or a dot not followed by a digit, then word characters and dots
NAME = re.compile(r"(?:[^\W\d]|\.(?!\d))[\w.]*")
NUMBER = re.compile(r"(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


@dataclass(frozen=True)
class Token:
    """One token: its kind, its text (a name without backquotes), 1-based position, source."""

    kind: str  # "name", "qname" (backquoted), "number", "string", "op", "end"
    text: str
    pos: int
    source: str = ""  # as written; for "end", how the end is named in messages

    def shown(self) -> str:
        return self.source or self.text


def tokenize(
    text: str,
    operators: Sequence[str],
    fail: Callable[[int, str, str], Exception],
    *,
    bad_character: Callable[[str], str],
    end: str,
    string_allowed: Callable[[list[Token]], bool] = lambda tokens: False,
) -> list[Token]:
    """Split ``text`` into tokens, ending with an ``end`` token named ``end`` in messages.

    ``operators`` are tried longest first as given; ``fail(position, token, message)``
    makes the exception raised for a bad character (``bad_character(ch)`` gives its
    message), an unclosed backquote or string, or an empty backquoted name.
    ``string_allowed(tokens so far)`` says where a quoted string may stand.
    """
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        pos = i + 1
        if ch == "`":  # R's backquoted name; \` and \\ escape
            j, chars = i + 1, []
            while j < n and text[j] != "`":
                if text[j] == "\\" and j + 1 < n and text[j + 1] in "`\\":
                    j += 1
                chars.append(text[j])
                j += 1
            if j >= n:
                raise fail(pos, "`", "the backquoted name is not closed by a '`'")
            if not chars:
                raise fail(pos, "``", "a backquoted name cannot be empty")
            tokens.append(Token("qname", "".join(chars), pos, text[i : j + 1]))
            i = j + 1
            continue
        if ch in "'\"" and string_allowed(tokens):
            j = text.find(ch, i + 1)
            if j < 0:
                raise fail(pos, ch, "the string is not closed by a matching quote")
            tokens.append(Token("string", text[i + 1 : j], pos, text[i : j + 1]))
            i = j + 1
            continue
        m = NUMBER.match(text, i)
        if m:
            tokens.append(Token("number", m.group(0), pos, m.group(0)))
            i = m.end()
            continue
        m = NAME.match(text, i)
        if m:
            tokens.append(Token("name", m.group(0), pos, m.group(0)))
            i = m.end()
            continue
        op = next((o for o in operators if text.startswith(o, i)), None)
        if op is None:
            raise fail(pos, ch, bad_character(ch))
        tokens.append(Token("op", op, pos, op))
        i += len(op)
    tokens.append(Token("end", "", n + 1, end))
    return tokens
