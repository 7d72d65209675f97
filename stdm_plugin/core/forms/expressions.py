"""The XLSForm expression language (an XPath subset), parsed and evaluated safely.

Constraints and relevance conditions are written once, in XLSForm syntax,
and checked in the same way in the QGIS wizard, at import, and by ODK
Collect on the phone. Nothing here uses Python's eval: expressions are
tokenised and parsed into a small tree, so a hostile form cannot run code.

Supported: numbers, 'strings', ``.`` (the answer being checked),
``${name}`` (another answer), ``or and = != < <= > >= + - * div mod``,
parentheses, and the functions in FUNCTIONS. regex() takes a quoted pattern
only, checked when the expression is parsed, and matches it with
form_regex in time proportional to the text (never with Python's re).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any, Callable, Mapping

from ..store.errors import StdmError
from . import regex as form_regex


class ExpressionError(StdmError):
    """An expression that cannot be parsed, or uses something not supported."""


class RegexTextTooLongError(ExpressionError):
    """regex() was asked to look at a text over form_regex.MAX_TEXT characters."""


TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<number>\d+(?:\.\d+)?)
  | (?P<string>'[^']*'|"[^"]*")
  | (?P<ref>\$\{[A-Za-z_][A-Za-z0-9_.\-]*\})
  | (?P<op><=|>=|!=|=|<|>|\+|-|\*|\(|\)|,)
  | (?P<name>[A-Za-z_][A-Za-z0-9_\-]*)
  | (?P<dot>\.)
""", re.VERBOSE)
#: brackets, calls and minus signs inside one another; far beyond any real form, and
#: low enough that parsing and evaluating stay well inside Python's recursion limit
MAX_NESTING = 50
#: tokens in one expression: a flat chain (1 + 1 + ...) builds a tree as deep as it is
#: long, so its length is capped too; real constraints have a few dozen
MAX_TOKENS = 400
BINARY = {"or": 1, "and": 2, "=": 3, "!=": 3, "<": 4, "<=": 4, ">": 4, ">=": 4,
          "+": 5, "-": 5, "*": 6, "div": 6, "mod": 6}


@dataclass(frozen=True)
class Node:
    kind: str  # number, string, ref, dot, call, unary, binary
    value: Any = None
    children: tuple = ()


def _tokens(text: str) -> list[tuple[str, str]]:
    out, position = [], 0
    while position < len(text):
        found = TOKEN.match(text, position)
        if not found:
            raise ExpressionError(f"Cannot read {text[position:position + 12]!r} in {text!r}")
        position = found.end()
        kind = found.lastgroup or ""
        if kind != "space":
            out.append((kind, found.group()))
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokens(text)
        if len(self.tokens) > MAX_TOKENS:
            raise ExpressionError(f"The expression is too long ({len(self.tokens)} parts, at "
                                  f"most {MAX_TOKENS}): {text[:60]!r}...")
        self.i = 0
        self.depth = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if token is None or (value is not None and token[1] != value):
            raise ExpressionError(f"Expected {value or 'more'} in {self.text!r}")
        self.i += 1
        return token

    def parse(self) -> Node:
        node = self.expression(0)
        if self.peek() is not None:
            raise ExpressionError(f"Unexpected {self.peek()[1]!r} in {self.text!r}")
        return node

    def expression(self, min_level: int) -> Node:
        left = self.unary()
        while True:
            token = self.peek()
            level = BINARY.get(token[1]) if token and token[0] in ("op", "name") else None
            if level is None or level < min_level:
                return left
            self.take()
            right = self.expression(level + 1)
            left = Node("binary", token[1], (left, right))

    def unary(self) -> Node:
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise ExpressionError(f"The expression is nested too deeply (more than "
                                  f"{MAX_NESTING} levels of brackets, calls or signs) in "
                                  f"{self.text[:60]!r}...")
        try:
            token = self.peek()
            if token and token[1] == "-":
                self.take()
                return Node("unary", "-", (self.unary(),))
            return self.atom()
        finally:
            self.depth -= 1

    def atom(self) -> Node:
        kind, value = self.take()
        if kind == "number":
            return Node("number", float(value))
        if kind == "string":
            return Node("string", value[1:-1])
        if kind == "ref":
            return Node("ref", value[2:-1])
        if kind == "dot":
            return Node("dot")
        if value == "(":
            inner = self.expression(0)
            self.take(")")
            return inner
        if kind == "name" and self.peek() and self.peek()[1] == "(":
            if value not in FUNCTIONS:
                raise ExpressionError(f"The function {value}() is not supported "
                                      f"(supported: {', '.join(sorted(FUNCTIONS))})")
            self.take("(")
            args = []
            if self.peek() and self.peek()[1] != ")":
                args.append(self.expression(0))
                while self.peek() and self.peek()[1] == ",":
                    self.take(",")
                    args.append(self.expression(0))
            self.take(")")
            if value == "regex":
                check_regex(args, self.text)
            return Node("call", value, tuple(args))
        raise ExpressionError(f"Unexpected {value!r} in {self.text!r}")


def parse(text: str) -> Node:
    return _Parser(text).parse()


def check_regex(args: tuple[Node, ...] | list[Node], text: str) -> None:
    """regex() takes a value and a quoted pattern that form_regex runs, or is refused.

    The pattern is part of the form, never an answer; form_regex says which
    patterns it refuses (backreferences, nested quantifiers...) and why.
    """
    if len(args) != 2 or args[1].kind != "string":
        raise ExpressionError(f"regex() takes a value and a quoted pattern, e.g. "
                              f"regex(., '^[0-9]+$'), in {text!r}")
    try:
        form_regex.compile_pattern(args[1].value)
    except form_regex.PatternError as exc:
        raise ExpressionError(f"The regex() pattern '{args[1].value}' is refused: {exc}; "
                              f"in {text!r}") from exc


def regex_calls(node: Node) -> list[Node]:
    """The regex() calls of an expression, outermost first."""
    found = [node] if node.kind == "call" and node.value == "regex" else []
    for child in node.children:
        found += regex_calls(child)
    return found


def references(node: Node) -> set[str]:
    """The ${names} an expression reads."""
    found = {node.value} if node.kind == "ref" else set()
    for child in node.children:
        found |= references(child)
    return found


# --- evaluation ------------------------------------------------------------
def _number(value: Any) -> float:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if value in (None, ""):
        return float("nan")
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (list, tuple)):
        return " ".join(_text(v) for v in value)
    return str(value)


def _truth(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value == value and value != 0
    return _text(value) != ""


def _compare(op: str, left: Any, right: Any) -> bool:
    numeric = any(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (left, right))
    if numeric and op in ("=", "!="):
        a, b = _number(left), _number(right)
        if a != a or b != b:  # a number against text that is not one
            equal = _text(left) == _text(right)
        else:
            equal = a == b
        return equal if op == "=" else not equal
    if op in ("=", "!="):
        equal = _text(left) == _text(right)
        return equal if op == "=" else not equal
    if not numeric and _is_date(left) and _is_date(right):
        a, b = _text(left), _text(right)  # ISO dates order as text
    else:
        a, b = _number(left), _number(right)
    return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]


def _is_date(value: Any) -> bool:
    return isinstance(value, str) and bool(re.match(r"^\d{4}-\d{2}-\d{2}", value))


def _selected(values: Any, choice: Any) -> bool:
    items = values if isinstance(values, (list, tuple)) else _text(values).split()
    return _text(choice) in [_text(v) for v in items]


def _regex(value: Any, pattern: Any) -> bool:
    """Matched in time proportional to the text (form_regex), never with ``re``."""
    text = _text(value)
    if len(text) > form_regex.MAX_TEXT:
        raise RegexTextTooLongError(f"regex() is not applied to a text of {len(text)} "
                                    f"characters (at most {form_regex.MAX_TEXT})")
    try:
        return form_regex.compile_pattern(_text(pattern)).search(text)
    except form_regex.PatternError as exc:
        raise ExpressionError(f"The regex() pattern '{pattern}' is refused: {exc}") from exc


def _int(value: Any) -> float:
    """The number truncated towards zero; NaN and infinity (from 'inf' or '1e999', which
    int() cannot convert) stay as they are."""
    number = _number(value)
    return float(int(number)) if math.isfinite(number) else number


def _today() -> str:
    return datetime.now(timezone.utc).date().isoformat()


def _age(born: Any) -> float:
    """Whole years from an ISO date to today (an extension used by the forms)."""
    try:
        when = date.fromisoformat(_text(born)[:10])
    except ValueError:
        return float("nan")
    today = datetime.now(timezone.utc).date()
    return float(today.year - when.year - ((today.month, today.day) < (when.month, when.day)))


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "selected": _selected,
    "count-selected": lambda v: float(len(v if isinstance(v, (list, tuple))
                                           else _text(v).split())),
    "string-length": lambda v: float(len(_text(v))),
    "regex": _regex,
    "not": lambda v: not _truth(v),
    "today": _today,
    "int": _int,
    "number": _number,
    "string": _text,
    "coalesce": lambda a, b: a if _text(a) != "" else b,
    "if": lambda c, a, b: a if _truth(c) else b,
    "concat": lambda *parts: "".join(_text(p) for p in parts),
    "true": lambda: True,
    "false": lambda: False,
    "age": _age,
}


def evaluate(node: Node, answers: Mapping[str, Any], current: Any = None) -> Any:
    if node.kind in ("number", "string"):
        return node.value
    if node.kind == "dot":
        return current
    if node.kind == "ref":
        return answers.get(node.value)
    if node.kind == "unary":
        return -_number(evaluate(node.children[0], answers, current))
    if node.kind == "call":
        args = [evaluate(child, answers, current) for child in node.children]
        try:
            return FUNCTIONS[node.value](*args)
        except TypeError as exc:
            raise ExpressionError(f"{node.value}() was given {len(args)} argument(s)") from exc
    op = node.value
    if op == "or":
        return _truth(evaluate(node.children[0], answers, current)) or _truth(
            evaluate(node.children[1], answers, current))
    if op == "and":
        return _truth(evaluate(node.children[0], answers, current)) and _truth(
            evaluate(node.children[1], answers, current))
    left = evaluate(node.children[0], answers, current)
    right = evaluate(node.children[1], answers, current)
    if op in ("=", "!=", "<", "<=", ">", ">="):
        return _compare(op, left, right)
    a, b = _number(left), _number(right)
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if op == "div":
        return a / b if b else float("nan")
    return a % b if b else float("nan")  # mod


def holds(text: str | None, answers: Mapping[str, Any], current: Any = None) -> bool:
    """True when the condition holds (an empty condition always does).

    A condition that would apply regex() to a text longer than
    form_regex.MAX_TEXT does not hold, whatever the rest of it says: so an
    over-long answer fails ``regex(., ...)`` and ``not(regex(., ...))`` alike,
    as the QGIS forms' translation does (qgis/forms/expressions.py).
    """
    if not text:
        return True
    node = parse(text)
    try:
        for call in regex_calls(node):
            if len(_text(evaluate(call.children[0], answers, current))) > form_regex.MAX_TEXT:
                return False
        return _truth(evaluate(node, answers, current))
    except RegexTextTooLongError:  # a regex() inside the text given to another one
        return False
