"""XLSForm expressions (constraints, relevance) rewritten as QGIS expressions.

A form's rules are written once, in XLSForm syntax, and the core checks
them in the wizard and at import. For the layers' attribute forms to apply
the same rules when a feature is edited with QGIS's own tools (or in QField
offline) they must be QGIS expressions. The core's parse tree is translated
node by node; anything that has no exact counterpart, or that reads an
answer kept in another record, raises ``UntranslatableError`` so that the caller
leaves that rule out rather than applying a different one.

XLSForm treats an unanswered question as the empty string, QGIS as NULL;
comparisons with a text literal therefore read ``coalesce(to_string(x), '')``
so that ``${x} = ''`` holds for an empty field as it does on the phone.

regex() patterns pass the core's check again (expressions.check_regex:
QGIS's PCRE backtracks, so the patterns refused there are refused here),
and a condition with regex() starts with a length check, so that it does
not hold for a text over form_regex.MAX_TEXT characters, as in the core.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from qgis.core import QgsExpression

from ...core.forms import expressions
from ...core.forms.expressions import Node
from ...core.forms.regex import MAX_TEXT


class UntranslatableError(ValueError):
    """An expression QGIS cannot evaluate in the same way; the rule is left out."""


@dataclass(frozen=True)
class FieldScope:
    """How the names of one section read in a QGIS feature of its layer.

    ``current`` is the field of ``.`` (the question being checked);
    ``fields`` maps the section's question names to their target fields.
    A ``${name}`` outside ``fields`` is an answer of another record.
    """

    current: str | None = None
    fields: dict[str, str] = field(default_factory=dict)


def column(name: str) -> str:
    return QgsExpression.quotedColumnRef(name)


def as_text(sql: str) -> str:
    """An operand as text, with NULL read as '' like an unanswered question."""
    return f"coalesce(to_string({sql}), '')"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _arguments(name: str, count: int, wanted: tuple[int, ...]) -> None:
    if count not in wanted:
        raise UntranslatableError(f"{name}() with {count} argument(s)")


def _int(x: str) -> str:
    return f"(CASE WHEN {x} < 0 THEN ceil({x}) ELSE floor({x}) END)"


def _first_answered(a: str, b: str) -> str:
    return f"(CASE WHEN {as_text(a)} <> '' THEN {a} ELSE {b} END)"


def _count_selected(a: str) -> str:
    return f"array_length(array_filter(string_to_array({as_text(a)}, ' '), @element <> ''))"


#: XLSForm function -> (accepted argument counts, QGIS expression from translated args)
FUNCTIONS: dict[str, tuple[tuple[int, ...], Callable[..., str]]] = {
    "today": ((0,), lambda: "format_date(now(), 'yyyy-MM-dd')"),
    "string-length": ((1,), lambda a: f"length({as_text(a)})"),
    "regex": ((2,), lambda a, p: f"(regexp_match({as_text(a)}, {p}) > 0)"),
    "selected": ((2,), lambda a, v: (f"array_contains(string_to_array({as_text(a)}, ' '), "
                                     f"to_string({v}))")),
    "count-selected": ((1,), _count_selected),
    "not": ((1,), lambda a: f"(NOT {a})"),
    "int": ((1,), _int),
    "number": ((1,), lambda a: f"to_real({a})"),
    "string": ((1,), lambda a: as_text(a)),
    "coalesce": ((2,), _first_answered),
    "if": ((3,), lambda c, a, b: f"if({c}, {a}, {b})"),
    "concat": (tuple(range(1, 33)), lambda *parts: f"concat({', '.join(parts)})"),
    "true": ((0,), lambda: "TRUE"),
    "false": ((0,), lambda: "FALSE"),
}
OPERATORS = {"or": "OR", "and": "AND", "=": "=", "!=": "<>", "<": "<", "<=": "<=", ">": ">",
             ">=": ">=", "+": "+", "-": "-", "*": "*", "div": "/", "mod": "%"}


def translate(node: Node, scope: FieldScope) -> str:
    """The QGIS expression for ``node``; raises UntranslatableError when there is none.

    A pattern the core refuses raises the core's ExpressionError.
    """
    sql = _translate(node, scope)
    guards = [f"length({as_text(_translate(call.children[0], scope))}) <= {MAX_TEXT}"
              for call in expressions.regex_calls(node)]
    return f"({' AND '.join(guards)} AND {sql})" if guards else sql


def _translate(node: Node, scope: FieldScope) -> str:
    if node.kind == "number":
        return _number(node.value)
    if node.kind == "string":
        return QgsExpression.quotedString(node.value)
    if node.kind == "dot":
        if scope.current is None:
            raise UntranslatableError("'.' outside a constraint")
        return column(scope.current)
    if node.kind == "ref":
        if node.value not in scope.fields:
            raise UntranslatableError(f"${{{node.value}}} is not a field of the same record")
        return column(scope.fields[node.value])
    if node.kind == "unary":
        return f"(-{_translate(node.children[0], scope)})"
    if node.kind == "call":
        if node.value not in FUNCTIONS:
            raise UntranslatableError(f"{node.value}() has no QGIS counterpart")
        counts, build = FUNCTIONS[node.value]
        _arguments(node.value, len(node.children), counts)
        if node.value == "regex":
            expressions.check_regex(node.children, "regex()")
        return build(*(_translate(child, scope) for child in node.children))
    if node.kind != "binary" or node.value not in OPERATORS:
        raise UntranslatableError(f"{node.kind} {node.value!r}")
    left, right = (_translate(child, scope) for child in node.children)
    kinds = [child.kind for child in node.children]
    if node.value in ("=", "!=") and "string" in kinds:
        left, right = (sql if kind == "string" else as_text(sql)
                       for sql, kind in zip((left, right), kinds))
    return f"({left} {OPERATORS[node.value]} {right})"
