r"""regex() of the form expressions, matched in time proportional to the text's length.

Python's ``re`` backtracks: on a text of 10,000 characters, ``.*x.*y`` took
three minutes, and ``(a+)+$`` doubles its time with every character more. A form's patterns are
data (a form file can come from anyone), so regex() does not hand them to
``re``. The pattern is parsed by Python's own regex parser (so the syntax is
exactly Python's) and run as a set of states advanced one character at a
time (a Thompson automaton): each character of the text is looked at once
per state of the pattern, and nothing is ever tried again.

That runs a subset of Python's syntax, enough for XLSForm constraints:
characters, ``.``, classes ``[...]``, ``\d \w \s`` and their negations,
anchors ``^ $ \A \Z \b \B``, groups, ``|``, and the quantifiers ``? * +
{n} {n,} {n,m}`` (lazy ones too: only whether the text matches counts).
``compile_pattern`` refuses, with the reason: backreferences, lookarounds,
conditional and atomic groups, possessive quantifiers, inline flags, and a
pattern of more than MAX_STATES states (``x{2,9}`` is nine copies of ``x``).

It also refuses a quantifier or an alternation inside a group repeated more
than once (``(a+)+``, ``(a*)*``, ``(.*)*``, ``(a|aa)+``), which need no such
guard here: the same constraint runs on the phone (ODK Collect's Java regex)
and in QGIS's attribute forms (PCRE), both backtracking engines, where these
take time exponential in the text. ``(a|b)+`` is a class to Python's parser,
and allowed.

The bound: a search does at most len(text) x MAX_STATES steps, and regex()
is never applied to a text longer than MAX_TEXT (expressions.holds says so).
"""
from __future__ import annotations

import math
import re
from functools import lru_cache
from typing import Callable, Iterable

try:  # the parser ``re`` itself uses
    from re import _constants as sre
    from re import _parser as sre_parse
except ImportError:  # Python before 3.11, as some QGIS builds ship it
    import sre_constants as sre  # type: ignore[no-redef]
    import sre_parse  # type: ignore[no-redef]

#: longest text regex() is applied to; answers checked by a pattern are short
MAX_TEXT = 10_000
#: most states a pattern may need; the usual XLSForm constraints need 10 to 60
MAX_STATES = 500
#: a group repeated n times whose inside can match in w ways: refused when w**n exceeds this
MAX_WAYS = 1_000
#: beyond this, counting ways stops (inf)
MANY = 1e15
#: transitions remembered during one search, so that a long repetitive text is quick
MEMORY = 4_000
CHAR, SPLIT, JUMP, AT, MATCH = range(5)
#: what Python's parser gives for the constructs refused here, and why they are
REFUSED = {
    "GROUPREF": "a backreference (\\1, (?P=name)) can take time exponential in the text",
    "GROUPREF_EXISTS": "a conditional group (?(1)...) is not supported",
    "ASSERT": "a lookahead or lookbehind ((?=...), (?<=...)) is not supported",
    "ASSERT_NOT": "a negative lookahead or lookbehind ((?!...), (?<!...)) is not supported",
    "ATOMIC_GROUP": "an atomic group (?>...) is not supported",
    "POSSESSIVE_REPEAT": "a possessive quantifier (*+, ++, ?+) is not supported",
}


class PatternError(ValueError):
    """A pattern regex() does not run; the message says why."""


def _word(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


CATEGORIES: dict[object, Callable[[str], bool]] = {
    sre.CATEGORY_DIGIT: str.isdecimal, sre.CATEGORY_NOT_DIGIT: lambda c: not c.isdecimal(),
    sre.CATEGORY_SPACE: str.isspace, sre.CATEGORY_NOT_SPACE: lambda c: not c.isspace(),
    sre.CATEGORY_WORD: _word, sre.CATEGORY_NOT_WORD: lambda c: not _word(c),
}
ANCHORS = (sre.AT_BEGINNING, sre.AT_BEGINNING_STRING, sre.AT_END, sre.AT_END_STRING,
           sre.AT_BOUNDARY, sre.AT_NON_BOUNDARY)


def _name(op: object) -> str:
    return str(getattr(op, "name", op))


def _class(items: Iterable[tuple[object, object]]) -> Callable[[str], bool]:
    """The test of one ``[...]`` (or ``\\d``, which Python parses as one)."""
    negate, chars, ranges, tests = False, set(), [], []
    for op, value in items:
        if op == sre.NEGATE:
            negate = True
        elif op == sre.LITERAL:
            chars.add(chr(value))
        elif op == sre.RANGE:
            ranges.append(value)
        elif op == sre.CATEGORY and value in CATEGORIES:
            tests.append(CATEGORIES[value])
        else:
            raise PatternError(f"{_name(op)} in a class is not supported")

    def test(ch: str) -> bool:
        code = ord(ch)
        hit = (ch in chars or any(low <= code <= high for low, high in ranges)
               or any(t(ch) for t in tests))
        return hit != negate
    return test


class Pattern:
    """One pattern, compiled to states; ``search`` says whether it occurs in a text."""

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self.code: list[list] = []
        try:
            parsed = sre_parse.parse(pattern)
        except RecursionError as exc:
            raise PatternError("its groups are nested too deeply") from exc
        except (re.error, OverflowError) as exc:
            raise PatternError(f"it is not a valid regular expression ({exc})") from exc
        if parsed.state.flags & ~(sre.SRE_FLAG_UNICODE | sre.SRE_FLAG_VERBOSE):
            raise PatternError("inline flags such as (?i) or (?s) are not supported")
        try:
            self._sequence(parsed)
        except RecursionError as exc:
            raise PatternError("its groups are nested too deeply") from exc
        self.final = self._add(MATCH)
        self.anchored = any(c[0] == AT for c in self.code)
        self.tests = [c[1] if c[0] == CHAR else None for c in self.code]
        #: states looked at by the searches so far (the bound's witness, for the tests)
        self.steps = 0

    # --- compiling ------------------------------------------------------------------
    def _add(self, kind: int, a: object = None, b: object = None) -> int:
        if len(self.code) >= MAX_STATES:
            raise PatternError(f"it needs more than {MAX_STATES} states (x{{2,9}} counts as "
                               "nine copies of x); write a shorter pattern")
        self.code.append([kind, a, b])
        return len(self.code) - 1

    def _sequence(self, items: Iterable[tuple[object, object]]) -> None:
        for op, value in items:
            self._item(op, value)

    def _item(self, op: object, value: object) -> None:
        if op == sre.LITERAL:
            self._add(CHAR, chr(value).__eq__)
        elif op == sre.NOT_LITERAL:
            self._add(CHAR, chr(value).__ne__)
        elif op == sre.ANY:
            self._add(CHAR, lambda c: c != "\n")
        elif op == sre.IN:
            self._add(CHAR, _class(value))
        elif op == sre.AT and value in ANCHORS:
            self._add(AT, value)
        elif op == sre.SUBPATTERN:
            _group, add_flags, del_flags, inner = value
            if add_flags or del_flags:
                raise PatternError("inline flags such as (?i:...) are not supported")
            self._sequence(inner)
        elif op == sre.BRANCH:
            self._branch(value[1])
        elif op in (sre.MAX_REPEAT, sre.MIN_REPEAT):
            self._repeat(*value)
        else:
            raise PatternError(REFUSED.get(_name(op), f"{_name(op)} is not supported"))

    def _branch(self, branches: list) -> None:
        jumps = []
        for branch in branches[:-1]:
            split = self._add(SPLIT, len(self.code) + 1)
            self._sequence(branch)
            jumps.append(self._add(JUMP))
            self.code[split][2] = len(self.code)
        self._sequence(branches[-1])
        for jump in jumps:
            self.code[jump][1] = len(self.code)

    def _repeat(self, low: int, high: int, inner: list) -> None:
        unbounded = high == sre.MAXREPEAT
        if low > MAX_STATES or (not unbounded and high > MAX_STATES):
            raise PatternError(f"a repetition count above {MAX_STATES} is not supported")
        if (unbounded or high > 1) and (ways := _ways(inner)) > 1:
            if unbounded or _repeated(ways, low, high) > MAX_WAYS:
                raise PatternError(
                    "a quantifier or | inside a repeated group, such as (a+)+, (.*)* or "
                    "(a|aa)+, can take time exponential in the text on the phone and in QGIS")
        for _ in range(low):
            self._sequence(inner)
        if unbounded:
            split = self._add(SPLIT, len(self.code) + 1)
            self._sequence(inner)
            self._add(JUMP, split)
            self.code[split][2] = len(self.code)
            return
        splits = []
        for _ in range(high - low):
            splits.append(self._add(SPLIT, len(self.code) + 1))
            self._sequence(inner)
        for split in splits:
            self.code[split][2] = len(self.code)

    # --- matching -------------------------------------------------------------------
    def search(self, text: str) -> bool:
        """Whether the pattern occurs anywhere in ``text`` (as ``re.search`` would)."""
        if len(text) > MAX_TEXT:
            raise ValueError(f"regex() is not applied to a text over {MAX_TEXT} characters")
        # one text's transitions; each set of states is kept once (``sets``), so that the
        # keys share them and a hit is found by identity
        sets: dict[frozenset, frozenset] = {}
        moves: dict[tuple, frozenset] = {}
        current = self._closure(frozenset((0,)), text, 0)
        for i, ch in enumerate(text):
            if self.final in current:
                return True
            key = (current, ch, self._context(text, i + 1))
            following = moves.get(key)
            if following is None:
                tests = self.tests
                moved = {pc + 1 for pc in current if (test := tests[pc]) and test(ch)}
                self.steps += len(current)
                moved.add(0)  # a match may also start at the next character
                if len(moves) > MEMORY:
                    sets.clear()
                    moves.clear()
                following = self._closure(frozenset(moved), text, i + 1)
                following = moves[key] = sets.setdefault(following, following)
            current = following
        return self.final in current

    def _context(self, text: str, i: int) -> tuple | None:
        """What the anchors can see at position i (None: the pattern has none)."""
        if not self.anchored:
            return None
        end = len(text)
        return (i == 0, i == end, i == end - 1 and text[i] == "\n",
                i > 0 and _word(text[i - 1]), i < end and _word(text[i]))

    def _closure(self, start: frozenset, text: str, i: int) -> frozenset:
        """The states reachable from ``start`` at position i without reading a character."""
        seen, found, stack = set(), set(), list(start)
        while stack:
            pc = stack.pop()
            if pc in seen:
                continue
            seen.add(pc)
            kind, a, b = self.code[pc]
            if kind == SPLIT:
                stack += (a, b)
            elif kind == JUMP:
                stack.append(a)
            elif kind == AT:
                if _anchor_holds(a, text, i):
                    stack.append(pc + 1)
            else:
                found.add(pc)
        return frozenset(found)


def _ways(items: Iterable[tuple[object, object]]) -> float:
    """In how many ways a backtracking engine can match this part (inf: unbounded)."""
    total = 1.0
    for op, value in items:
        if op == sre.SUBPATTERN:
            total *= _ways(value[-1])
        elif op == sre.BRANCH:
            total *= sum(_ways(branch) for branch in value[1])
        elif op in (sre.MAX_REPEAT, sre.MIN_REPEAT):
            low, high, inner = value
            if high == sre.MAXREPEAT:
                return math.inf
            total *= _repeated(_ways(inner), low, high)
        if total > MANY:
            return math.inf
    return total


def _repeated(ways: float, low: int, high: int) -> float:
    """The ways of matching, from low to high times, a part that matches in ``ways``."""
    if ways <= 1:
        return float(high - low + 1)
    if high * math.log(ways) > math.log(MANY):
        return math.inf
    return sum(ways ** k for k in range(low, high + 1))


def _anchor_holds(anchor: object, text: str, i: int) -> bool:
    end = len(text)
    if anchor in (sre.AT_BEGINNING, sre.AT_BEGINNING_STRING):
        return i == 0
    if anchor == sre.AT_END:  # Python's $: the end, or before a last newline
        return i == end or (i == end - 1 and text[i] == "\n")
    if anchor == sre.AT_END_STRING:
        return i == end
    boundary = (i > 0 and _word(text[i - 1])) != (i < end and _word(text[i]))
    if not text:  # Python finds neither \b nor \B in an empty text
        return False
    return boundary if anchor == sre.AT_BOUNDARY else not boundary


@lru_cache(maxsize=256)
def compile_pattern(pattern: str) -> Pattern:
    """The pattern ready to search, or PatternError saying why regex() does not run it."""
    return Pattern(pattern)
