"""The watchlist query language: its syntax tree, and the parser that builds it.

    query   := or+                      juxtaposition is AND ("AND" may be written)
    or      := unary ("OR" unary)*      OR binds tighter, as in Google: a b OR c = a (b OR c)
    unary   := "-" atom | "NOT" unary | atom
    atom    := "(" query ")" | [scope ":"] term
    term    := word | word* | "a phrase" | /regex/
    scope   := title | author | source | category

A syntax error names its 1-based column. match.py compiles the trees into matchers.
"""

from __future__ import annotations

import difflib
import re
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from .normalize import words

ANY = "any"  # title, summary and content


# --- syntax tree --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Term:
    display: str  # as the user wrote it, shown in digests: "parti pirate", pirat*, /x/
    scope: str
    pattern: str | None  # token-text substring; None for a regex
    regex: re.Pattern[str] | None = None


@dataclass(frozen=True)
class Not:
    child: Node


@dataclass(frozen=True)
class And:
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    children: tuple[Node, ...]


Node = Term | Not | And | Or


def evaluate(node: Node, holds: Callable[[Term], bool]) -> bool:
    if isinstance(node, Term):
        return holds(node)
    if isinstance(node, Not):
        return not evaluate(node.child, holds)
    if isinstance(node, And):
        return all(evaluate(c, holds) for c in node.children)
    return any(evaluate(c, holds) for c in node.children)


def positive_terms(node: Node, negated: bool = False) -> Iterable[Term]:
    """Terms whose presence can make the query true (not under an odd number of NOTs)."""
    if isinstance(node, Term):
        if not negated:
            yield node
    elif isinstance(node, Not):
        yield from positive_terms(node.child, not negated)
    else:
        for c in node.children:
            yield from positive_terms(c, negated)


def all_terms(node: Node) -> Iterable[Term]:
    if isinstance(node, Term):
        yield node
    elif isinstance(node, Not):
        yield from all_terms(node.child)
    else:
        for c in node.children:
            yield from all_terms(c)


# --- parser -------------------------------------------------------------------------------------

class QuerySyntaxError(ValueError):
    def __init__(self, column: int, message: str) -> None:
        self.column = column
        self.message = message
        super().__init__(f"column {column}: {message}")


_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<lparen>\()
  | (?P<rparen>\))
  | (?P<minus>-(?=[^\s)]))
  | (?P<scope>(?:title|author|source|category):(?=[^\s)]))
  | (?P<phrase>"[^"]*"?)
  | (?P<regex>/(?:[^/\\]|\\.)*/?)
  | (?P<word>[^\s()"]+)
""", re.X | re.I)


@dataclass
class _Tok:
    kind: str
    text: str
    column: int  # 1-based


def _tokenize(query: str) -> list[_Tok]:
    out = []
    pos = 0
    while pos < len(query):
        m = _TOKEN.match(query, pos)
        assert m is not None  # the word alternative matches anything else
        kind = m.lastgroup or "word"
        if kind != "space":
            text = m.group()
            if kind == "word" and text in ("OR", "AND", "NOT"):
                kind = text
            elif kind == "word":
                _check_field(text, pos + 1)
            out.append(_Tok(kind, text, pos + 1))
        pos = m.end()
    return out


_FIELDS = ("title", "author", "source", "category")
_FIELD_LIKE = re.compile(r"([^\W\d_]{4,}):")


def _check_field(word: str, column: int) -> None:
    """`title: nestlé` (a space after the colon) and `titel:nestlé` would otherwise search
    the words "title" or "titel" anywhere, silently: say what was probably meant."""
    found = _FIELD_LIKE.match(word)
    if found is None:
        return
    name = found.group(1).lower()
    if name in _FIELDS:
        raise QuerySyntaxError(column, f"{name}: needs a term right after it, without a "
                                       f"space ({name}:nestlé)")
    close = difflib.get_close_matches(name, _FIELDS, n=1, cutoff=0.6)
    if close:
        raise QuerySyntaxError(column, f"unknown field {name}: (did you mean {close[0]}:?)")


def compile_term(text: str, scope: str = ANY, column: int = 1) -> Term:
    """One term as written (`nestlé`, `pirat*`, `"l'oréal"`, `/re/`) -> Term."""
    if text.startswith("/"):
        if len(text) < 3 or not text.endswith("/"):
            raise QuerySyntaxError(column, "unterminated /regex/" if len(text) < 2 or not
                                   text.endswith("/") else "empty /regex/")
        try:
            with warnings.catch_warnings():  # "possible nested set" and the like: not errors
                warnings.simplefilter("ignore")
                regex = re.compile(text[1:-1], re.I)
        except re.error as e:
            raise QuerySyntaxError(column + 1 + (e.pos or 0), f"bad regex: {e.msg}") from None
        return Term(text, scope, None, regex)
    if text.startswith('"'):
        if len(text) < 2 or not text.endswith('"'):
            raise QuerySyntaxError(column, "unterminated quote")
        body, prefix = text[1:-1], False
    else:
        prefix = text.endswith("*")
        body = text.rstrip("*")
    ws = words(body)
    if not ws:
        raise QuerySyntaxError(column, f"{text!r} has no letter or digit to look for")
    pattern = " " + " ".join(ws) + ("" if prefix else " ")
    return Term(text, scope, pattern)


#: Parentheses and NOTs nest at most this deep: no query needs more, and the parser and the
#: matcher recurse once per level.
MAX_NESTING = 32


class _Parser:
    def __init__(self, query: str) -> None:
        self.query = query
        self.toks = _tokenize(query)
        self.i = 0
        self.depth = 0

    def deeper(self, tok: _Tok) -> None:
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise QuerySyntaxError(tok.column, f"nested more than {MAX_NESTING} deep")

    def peek(self) -> _Tok | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> _Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def parse(self) -> Node:
        if not self.toks:
            raise QuerySyntaxError(1, "empty query")
        node = self.parse_and()
        tok = self.peek()
        if tok is not None:
            raise QuerySyntaxError(tok.column, "unbalanced parenthesis" if tok.kind == "rparen"
                                   else f"unexpected {tok.text!r}")
        return node

    def parse_and(self) -> Node:
        children: list[Node] = []
        while (tok := self.peek()) is not None and tok.kind != "rparen":
            if tok.kind == "AND":
                self.take()
                continue
            if tok.kind == "OR":
                raise QuerySyntaxError(tok.column, "OR needs a term on each side")
            children.append(self.parse_or())
        if not children:
            raise QuerySyntaxError(len(self.query) + 1, "expected a term")
        return children[0] if len(children) == 1 else And(tuple(children))

    def parse_or(self) -> Node:
        children = [self.parse_unary()]
        while (tok := self.peek()) is not None and tok.kind == "OR":
            self.take()
            following = self.peek()
            if following is None or following.kind in ("OR", "AND", "rparen"):
                raise QuerySyntaxError(tok.column, "OR needs a term on each side")
            children.append(self.parse_unary())
        return children[0] if len(children) == 1 else Or(tuple(children))

    def parse_unary(self) -> Node:
        tok = self.take()
        if tok.kind == "minus":
            return Not(self.parse_atom())
        if tok.kind == "NOT":
            if self.peek() is None:
                raise QuerySyntaxError(tok.column, "NOT needs a term after it")
            self.deeper(tok)
            node = Not(self.parse_unary())
            self.depth -= 1
            return node
        self.i -= 1
        return self.parse_atom()

    def parse_atom(self) -> Node:
        tok = self.peek()
        if tok is None:
            raise QuerySyntaxError(len(self.query) + 1, "expected a term")
        self.take()
        if tok.kind == "lparen":
            following = self.peek()
            if following is not None and following.kind == "rparen":
                raise QuerySyntaxError(tok.column, "empty parentheses")
            self.deeper(tok)
            node = self.parse_and()
            self.depth -= 1
            close = self.peek()
            if close is None or close.kind != "rparen":
                raise QuerySyntaxError(tok.column, "unbalanced parenthesis")
            self.take()
            return node
        if tok.kind == "rparen":
            raise QuerySyntaxError(tok.column, "unbalanced parenthesis")
        scope = ANY
        if tok.kind == "scope":
            scope = tok.text[:-1].lower()
            tok = self.peek()
            if tok is None or tok.kind not in ("word", "phrase", "regex", "OR", "AND", "NOT"):
                raise QuerySyntaxError(self.toks[self.i - 1].column,
                                       f"{scope}: needs a term after it")
            self.take()
        if tok.kind in ("OR", "AND", "NOT"):
            tok = _Tok("word", tok.text, tok.column)  # "title:OR" is a word
        if tok.kind not in ("word", "phrase", "regex"):
            raise QuerySyntaxError(tok.column, f"unexpected {tok.text!r}")
        return compile_term(tok.text, scope, tok.column)


def parse_query(query: str) -> Node:
    """Parse a query or raise QuerySyntaxError with the 1-based column of the problem."""
    node = _Parser(query).parse()
    if not any(True for _ in positive_terms(node)):
        raise QuerySyntaxError(1, "nothing to look for: the query only excludes")
    return node
