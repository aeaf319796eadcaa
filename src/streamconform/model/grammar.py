"""Stream grammars: regular expressions over event labels, matched one event at a time.

    grammar := alternative ('|' alternative)*
    alternative := item+
    item := atom ('?' | '*' | '+')*
    atom := LABEL | '(' grammar ')'
    LABEL := name ('.' name)* ('.*' | '-*' | '/*')?
                  e.g. token, result.success, chat.completion.chunk, notifications/progress,
                  result.*, data-*, notifications/*

`type.*` matches `type` with any subtype; `data-*` and `notifications/*` match every label
that starts so. A grammar compiles to a Thompson NFA; matching
keeps the set of live states, so the first event that no completion can follow is found
the moment it arrives, with the labels that would have been accepted instead.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = ["Grammar", "GrammarError", "Matcher", "covers", "parse_grammar"]

_NAME = r"[A-Za-z0-9_/\-]+"
_TOKEN = re.compile(
    rf"\s*(?:(?P<label>{_NAME}(?:\.{_NAME})*(?:\.\*|(?<=[-/])\*)?)|(?P<op>[()|?*+]))"
)


def covers(pattern: str, label: str) -> bool:
    """Whether a grammar label accepts an event label: itself, `type.*` the type and its
    subtypes, `data-*` or `notifications/*` every label that starts so."""
    if pattern.endswith(".*"):
        base = pattern[:-2]
        return label == base or label.startswith(base + ".")
    if pattern.endswith(("-*", "/*")):
        return label.startswith(pattern[:-1])
    return label == pattern


class GrammarError(ValueError):
    """A malformed grammar; `position` is the 0-based character where it goes wrong."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(f"{message} at column {position + 1}")
        self.position = position


@dataclass(frozen=True, slots=True)
class _Pattern:
    """What one transition accepts: an exact label, or a wildcard (`covers`)."""

    text: str

    def accepts(self, label: str) -> bool:
        return covers(self.text, label)


@dataclass(slots=True)
class _NFA:
    moves: list[list[tuple[_Pattern, int]]] = field(default_factory=list)
    empty: list[list[int]] = field(default_factory=list)

    def state(self) -> int:
        self.moves.append([])
        self.empty.append([])
        return len(self.moves) - 1


class _Parser:
    def __init__(self, text: str, nfa: _NFA) -> None:
        self.text = text
        self.nfa = nfa
        self.tokens: list[tuple[str, str, int]] = []
        pos = 0
        while pos < len(text):
            if text[pos:].strip() == "":
                break
            found = _TOKEN.match(text, pos)
            if not found:
                start = pos + len(text[pos:]) - len(text[pos:].lstrip())
                raise GrammarError(f"unexpected character {text[start]!r}", start)
            kind = "label" if found.group("label") else "op"
            start = found.start(kind)
            self.tokens.append((kind, found.group(kind), start))
            pos = found.end()
        self.index = 0

    def peek(self) -> tuple[str, str, int] | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def grammar(self) -> tuple[int, int]:
        start, end = self.alternative()
        while (tok := self.peek()) and tok[1] == "|":
            self.index += 1
            other_start, other_end = self.alternative()
            fork, join = self.nfa.state(), self.nfa.state()
            self.nfa.empty[fork] += [start, other_start]
            self.nfa.empty[end].append(join)
            self.nfa.empty[other_end].append(join)
            start, end = fork, join
        return start, end

    def alternative(self) -> tuple[int, int]:
        tok = self.peek()
        if tok is None or tok[1] in "|)":
            where = tok[2] if tok else len(self.text)
            raise GrammarError("expected an event label or '('", where)
        start, end = self.item()
        while (tok := self.peek()) and tok[1] not in "|)":
            nxt_start, nxt_end = self.item()
            self.nfa.empty[end].append(nxt_start)
            end = nxt_end
        return start, end

    def item(self) -> tuple[int, int]:
        start, end = self.atom()
        while (tok := self.peek()) and tok[1] in "?*+":
            self.index += 1
            fork, join = self.nfa.state(), self.nfa.state()
            self.nfa.empty[fork].append(start)
            self.nfa.empty[end].append(join)
            if tok[1] in "?*":
                self.nfa.empty[fork].append(join)
            if tok[1] in "*+":
                self.nfa.empty[end].append(start)
            start, end = fork, join
        return start, end

    def atom(self) -> tuple[int, int]:
        tok = self.peek()
        if tok is None:
            raise GrammarError("expected an event label or '('", len(self.text))
        kind, value, where = tok
        self.index += 1
        if kind == "label":
            start, end = self.nfa.state(), self.nfa.state()
            self.nfa.moves[start].append((_Pattern(value), end))
            return start, end
        if value == "(":
            start, end = self.grammar()
            closing = self.peek()
            if closing is None or closing[1] != ")":
                raise GrammarError("'(' is never closed", where)
            self.index += 1
            return start, end
        raise GrammarError(f"unexpected {value!r}", where)


@dataclass(frozen=True, slots=True)
class Grammar:
    """A compiled grammar: start and accepting state of an NFA over event labels."""

    source: str
    start: int
    accept: int
    moves: tuple[tuple[tuple[_Pattern, int], ...], ...]
    empty: tuple[tuple[int, ...], ...]

    def closure(self, states: Iterable[int]) -> frozenset[int]:
        todo = list(states)
        seen = set(todo)
        while todo:
            for nxt in self.empty[todo.pop()]:
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return frozenset(seen)

    def labels(self) -> frozenset[str]:
        """Every label pattern the grammar mentions."""
        return frozenset(p.text for moves in self.moves for p, _ in moves)

    def matcher(self, *, fragment: bool = False) -> Matcher:
        """A matcher from the start, or (fragment) from anywhere: for a run seen mid-way."""
        first = range(len(self.moves)) if fragment else (self.start,)
        return Matcher(self, self.closure(first))


@dataclass(slots=True)
class Matcher:
    """Feeds labels one at a time; stops being viable at the first impossible one."""

    grammar: Grammar
    states: frozenset[int]

    def expected(self) -> list[str]:
        """The label patterns acceptable next (sorted)."""
        return sorted({p.text for s in self.states for p, _ in self.grammar.moves[s]})

    def feed(self, label: str) -> bool:
        """Advance on a label; False (and no change) when no completion can follow it."""
        nxt = {to for s in self.states for p, to in self.grammar.moves[s] if p.accepts(label)}
        if not nxt:
            return False
        self.states = self.grammar.closure(nxt)
        return True

    @property
    def complete(self) -> bool:
        """True when the labels so far form a whole sentence of the grammar."""
        return self.grammar.accept in self.states


def parse_grammar(text: str) -> Grammar:
    """Compile a grammar; GrammarError names the column of the first problem."""
    nfa = _NFA()
    parser = _Parser(text, nfa)
    start, accept = parser.grammar()
    leftover = parser.peek()
    if leftover is not None:
        raise GrammarError(f"unexpected {leftover[1]!r}", leftover[2])
    return Grammar(
        source=text,
        start=start,
        accept=accept,
        moves=tuple(tuple(m) for m in nfa.moves),
        empty=tuple(tuple(e) for e in nfa.empty),
    )
