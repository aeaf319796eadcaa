"""The stream grammar engine: parsing, event-by-event matching, fragments and spec loading.

A grammar is the contract for the order of events in a stream. The matcher has to say
exactly which event made a stream impossible to complete (and what would have been
accepted instead), never refuse a stream that could still end well, and never accept one
that cannot. A malformed grammar must point at the column where it goes wrong.
"""

from __future__ import annotations

import itertools
import re
from functools import cache
from pathlib import Path

import pytest

from streamconform.errors import SpecError
from streamconform.model import Spec, load_spec
from streamconform.model.grammar import Grammar, GrammarError, Matcher, parse_grammar
from streamconform.resources import bundled_dir

# -- Helpers ------------------------------------------------------------------------------


def labels(sentence: str) -> list[str]:
    """A space-separated sentence as its list of event labels ("" is the empty stream)."""
    return sentence.split()


def run(matcher: Matcher, events: list[str]) -> tuple[int | None, list[str]]:
    """Feed `events` in order; return the index of the first refused one (None when all
    are fed) and what `expected()` said just before that event (or after the last one)."""
    for index, label in enumerate(events):
        before = matcher.expected()
        if not matcher.feed(label):
            assert matcher.expected() == before, "a refused event must not change the matcher"
            return index, before
    return None, matcher.expected()


def assert_accepted(grammar: Grammar, sentence: str, *, fragment: bool = False) -> None:
    matcher = grammar.matcher(fragment=fragment)
    failed, expected = run(matcher, labels(sentence))
    assert failed is None, f"refused event {failed} of {sentence!r}; expected one of {expected}"
    assert matcher.complete, f"{sentence!r} fed fully but is not a whole sentence"


def assert_rejected(
    grammar: Grammar, sentence: str, index: int, expected: list[str], *, fragment: bool = False
) -> None:
    events = labels(sentence)
    failed, before = run(grammar.matcher(fragment=fragment), events)
    assert failed == index, f"{sentence!r} should fail at event {index}, failed at {failed}"
    assert before == expected


# -- Accepted sentences -------------------------------------------------------------------

ACCEPTED = [
    pytest.param("a b c", "a b c", id="sequence"),
    pytest.param("a", "a", id="single-label"),
    pytest.param("a | b", "a", id="alternation-left"),
    pytest.param("a | b", "b", id="alternation-right"),
    pytest.param("a | b | c", "c", id="alternation-of-three"),
    pytest.param("a b | c d", "c d", id="alternation-binds-looser-than-sequence"),
    pytest.param("(a b) | c", "a b", id="group-alternative-group"),
    pytest.param("(a b) | c", "c", id="group-alternative-single"),
    pytest.param("a b? c", "a b c", id="optional-present"),
    pytest.param("a b? c", "a c", id="optional-absent"),
    pytest.param("a?", "", id="optional-alone-empty"),
    pytest.param("a b* c", "a c", id="star-zero"),
    pytest.param("a b* c", "a b c", id="star-one"),
    pytest.param("a b* c", "a b b b b c", id="star-many"),
    pytest.param("a*", "", id="star-alone-empty"),
    pytest.param("a b+ c", "a b c", id="plus-one"),
    pytest.param("a b+ c", "a b b b c", id="plus-many"),
    pytest.param("(a b?)+ c", "a c", id="combination-one-round-without-optional"),
    pytest.param("(a b?)+ c", "a b c", id="combination-one-round-with-optional"),
    pytest.param("(a b?)+ c", "a b a a b a c", id="combination-many-rounds"),
    pytest.param("(a | b)* c", "b a b b c", id="star-over-alternation"),
    pytest.param("((a | b) c)+ d", "a c b c d", id="nested-groups"),
    pytest.param("(((a)))", "a", id="deeply-nested-group"),
    pytest.param("(a (b | (c d)*)?)+ e", "a c d c d a b a e", id="nested-groups-with-operators"),
    pytest.param("((a?)*)+ b", "a a b", id="nested-repetition-of-optional"),
    pytest.param("((a?)*)+ b", "b", id="nested-repetition-of-optional-empty"),
    pytest.param("a b ? c", "a b c", id="space-before-postfix"),
    pytest.param("(a|b)c+d?", "b c c", id="no-whitespace-at-all"),
    pytest.param("  a\n  ( b\n|\tc )*\n d  \n", "a b c d", id="whitespace-and-newlines"),
    pytest.param("a ( b ) * c", "a b b c", id="spaces-inside-group"),
    pytest.param("start type.* end", "start type end", id="wildcard-matches-bare-type"),
    pytest.param("start type.* end", "start type.x end", id="wildcard-matches-subtype"),
    pytest.param("type.*+", "type.x type type.y", id="wildcard-repeated"),
    pytest.param("result.success | result.error", "result.error", id="dotted-label"),
    pytest.param("tool-call tool-result", "tool-call tool-result", id="dashed-label"),
    pytest.param("file_written tool_result", "file_written tool_result", id="underscored-label"),
    pytest.param("run_status.waiting_on-human", "run_status.waiting_on-human", id="mixed-label"),
    pytest.param("evt2 3d", "evt2 3d", id="labels-with-digits"),
    pytest.param("a ? ?", "a", id="repeated-postfix-present"),
    pytest.param("a ? ?", "", id="repeated-postfix-absent"),
    pytest.param("a+*", "a a a", id="plus-then-star"),
    pytest.param("chat.completion.chunk+ done", "chat.completion.chunk done", id="dotted-label"),
    pytest.param(
        "notifications/progress* result", "notifications/progress result", id="slashed-label"
    ),
    pytest.param("start data-* finish", "start data-weather finish", id="dash-wildcard"),
    pytest.param(
        "start (data-*)* finish", "start data-weather data-x finish", id="dash-wildcard-repeated"
    ),
    pytest.param("notifications/* result", "notifications/message result", id="slash-wildcard"),
    pytest.param("a* b", "a a b", id="star-after-a-name-is-repetition"),
]


@pytest.mark.parametrize(("grammar", "sentence"), ACCEPTED)
def test_accepted_sentence(grammar, sentence):
    """Every event of a sentence of the language is fed, and the stream ends complete."""
    assert_accepted(parse_grammar(grammar), sentence)


def test_grammar_keeps_its_source_and_labels():
    """The compiled grammar remembers its text and the label patterns it mentions, which
    the spec loader checks against the declared event types."""
    text = "a (b.c | d.*)+ a?"
    grammar = parse_grammar(text)
    assert grammar.source == text
    assert grammar.labels() == {"a", "b.c", "d.*"}


# -- Rejected sentences -------------------------------------------------------------------

REJECTED = [
    # (grammar, sentence, index of the refused event, expected() just before it)
    pytest.param("a b", "a b b", 2, [], id="event-after-terminal"),
    pytest.param(
        "start data-* finish",
        "start datax finish",
        1,
        ["data-*"],
        id="dash-wildcard-needs-its-dash",
    ),
    pytest.param(
        "chat.completion.chunk done",
        "chat.completion done",
        0,
        ["chat.completion.chunk"],
        id="dotted-label-exact",
    ),
    pytest.param("a b", "a b a", 2, [], id="restart-after-terminal"),
    pytest.param("a b c", "a c", 1, ["b"], id="required-event-missing"),
    pytest.param("a b", "b a", 0, ["a"], id="wrong-order"),
    pytest.param("a (b | c)* d", "a b x", 2, ["b", "c", "d"], id="label-never-mentioned"),
    pytest.param("a | b", "a b", 1, [], id="alternation-takes-one-branch"),
    pytest.param("(a b) | c", "a c", 1, ["b"], id="group-must-be-whole"),
    pytest.param("(a b) | c", "c a", 1, [], id="group-alternative-is-final"),
    pytest.param("a? b", "a a", 1, ["b"], id="optional-at-most-once"),
    pytest.param("a+ b", "b", 0, ["a"], id="plus-needs-one"),
    pytest.param("a b* c", "a c b", 2, [], id="star-ends-at-its-follower"),
    pytest.param("(a b?)+ c", "a b b", 2, ["a", "c"], id="combination-optional-once-per-round"),
    pytest.param("(a b?)+ c", "b", 0, ["a"], id="combination-starts-with-the-group"),
    pytest.param("((a | b) c)+ d", "a b", 1, ["c"], id="nested-group-order"),
    pytest.param("type.* end", "typex end", 0, ["type.*"], id="wildcard-is-not-a-prefix"),
    pytest.param("type.* end", "types.x", 0, ["type.*"], id="wildcard-needs-the-dot"),
    pytest.param("type.* end", "other.x", 0, ["type.*"], id="wildcard-other-type"),
    pytest.param(
        "result.success | result.error",
        "result",
        0,
        ["result.error", "result.success"],
        id="exact-subtype-not-bare-type",
    ),
    pytest.param("result", "result.success", 0, ["result"], id="bare-type-not-subtype"),
    pytest.param("token", "Token", 0, ["token"], id="labels-are-case-sensitive"),
    pytest.param("tool_call", "tool-call", 0, ["tool_call"], id="underscore-is-not-dash"),
    pytest.param("a ? ?", "a a", 1, [], id="repeated-postfix-still-optional"),
    pytest.param(
        "start (b.* | c)+ end",
        "start b.q c zz",
        3,
        ["b.*", "c", "end"],
        id="expected-lists-patterns-sorted",
    ),
]


@pytest.mark.parametrize(("grammar", "sentence", "index", "expected"), REJECTED)
def test_rejected_sentence(grammar, sentence, index, expected):
    """The first event no completion can follow is refused, and expected() just before it
    names exactly the label patterns that would have been accepted."""
    assert_rejected(parse_grammar(grammar), sentence, index, expected)


def test_refused_event_leaves_matcher_usable():
    """A refused event changes nothing: the right event is still accepted afterwards."""
    matcher = parse_grammar("a b c").matcher()
    assert matcher.feed("a")
    assert not matcher.feed("c")
    assert not matcher.feed("x")
    assert matcher.feed("b")
    assert matcher.feed("c")
    assert matcher.complete


def test_expected_at_start():
    """Before any event, expected() lists every label that may open the stream."""
    matcher = parse_grammar("a? (b | c.*)* d").matcher()
    assert matcher.expected() == ["a", "b", "c.*", "d"]
    assert not matcher.complete


# -- Prefix viability ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("grammar", "sentence"),
    [
        pytest.param("a b c", "", id="sequence-nothing-yet"),
        pytest.param("a b c", "a b", id="sequence-last-missing"),
        pytest.param("a (b | c)+ d", "a b c b", id="repetition-before-required-end"),
        pytest.param("(a b)+", "a b a", id="plus-round-half-done"),
        pytest.param("(a b?)+ c", "a b a", id="combination-before-terminal"),
        pytest.param("x | y z", "y", id="alternative-half-done"),
    ],
)
def test_viable_prefix_is_not_complete(grammar, sentence):
    """A prefix that can still be completed feeds fully, but is not yet a whole sentence:
    a stream cut there is incomplete, not out of order."""
    matcher = parse_grammar(grammar).matcher()
    failed, _ = run(matcher, labels(sentence))
    assert failed is None
    assert not matcher.complete


@pytest.mark.parametrize(
    ("grammar", "sentence", "complete_after_each"),
    [
        pytest.param("a b*", "a b b b", [True, True, True, True], id="star-after-complete"),
        pytest.param("a+", "a a a", [True, True, True], id="plus-stays-complete"),
        pytest.param("(a b)+", "a b a b", [False, True, False, True], id="group-rounds"),
        pytest.param("a b? c*", "a b c c", [True, True, True, True], id="optional-then-star"),
        pytest.param("a (b | c)* d?", "a b d", [True, True, True], id="optional-terminal"),
    ],
)
def test_complete_follows_each_event(grammar, sentence, complete_after_each):
    """A complete sentence followed by more allowed repetition stays complete, and
    `.complete` is true exactly after the events that end a whole sentence."""
    matcher = parse_grammar(grammar).matcher()
    seen = []
    for label in labels(sentence):
        assert matcher.feed(label)
        seen.append(matcher.complete)
    assert seen == complete_after_each


# -- Fragment mode ------------------------------------------------------------------------

FRAGMENT_GRAMMAR = "a b+ c d"


@pytest.mark.parametrize(
    ("sentence", "complete"),
    [
        pytest.param("c d", True, id="tail"),
        pytest.param("b b c", False, id="middle"),
        pytest.param("a b", False, id="head"),
        pytest.param("a b c d", True, id="whole-sentence"),
        pytest.param("d", True, id="terminal-only"),
        pytest.param("", True, id="nothing-seen"),
    ],
)
def test_fragment_starting_mid_way_is_viable(sentence, complete):
    """A stream joined mid-way (e.g. after a reconnect) may start anywhere in the grammar."""
    matcher = parse_grammar(FRAGMENT_GRAMMAR).matcher(fragment=True)
    failed, _ = run(matcher, labels(sentence))
    assert failed is None
    assert matcher.complete is complete


@pytest.mark.parametrize(
    ("sentence", "index", "expected"),
    [
        pytest.param("d c", 1, [], id="event-after-terminal"),
        pytest.param("c b", 1, ["d"], id="step-backwards"),
        pytest.param("a c", 1, ["b"], id="skips-a-required-event"),
        pytest.param("b x", 1, ["b", "c"], id="label-never-mentioned"),
    ],
)
def test_fragment_impossible_order_is_rejected(sentence, index, expected):
    """Joining mid-way excuses a missing beginning, never an impossible order."""
    grammar = parse_grammar(FRAGMENT_GRAMMAR)
    assert_rejected(grammar, sentence, index, expected, fragment=True)


def test_fragment_expects_any_label_first():
    """A fragment may open with any label of the grammar; a whole stream only with the first."""
    grammar = parse_grammar(FRAGMENT_GRAMMAR)
    assert grammar.matcher(fragment=True).expected() == ["a", "b", "c", "d"]
    assert grammar.matcher().expected() == ["a"]
    assert_rejected(grammar, "c d", 0, ["a"])


# -- Malformed grammars -------------------------------------------------------------------

MALFORMED = [
    # (text, 0-based position of the problem)
    pytest.param("", 0, id="empty"),
    pytest.param("   ", 3, id="only-spaces"),
    pytest.param("\n\t\n", 3, id="only-newlines"),
    pytest.param("a |", 3, id="alternation-missing-right"),
    pytest.param("a |  ", 5, id="alternation-missing-right-trailing-spaces"),
    pytest.param("| a", 0, id="alternation-missing-left"),
    pytest.param("a | | b", 4, id="alternation-doubled"),
    pytest.param("(a b", 0, id="group-never-closed"),
    pytest.param("a ((b)", 2, id="outer-group-never-closed"),
    pytest.param("a )", 2, id="group-never-opened"),
    pytest.param("a $ b", 2, id="unknown-character"),
    pytest.param("a..b", 1, id="double-dot"),
    pytest.param("a.", 1, id="dot-without-subtype"),
    pytest.param("a.*.c", 3, id="wildcard-inside"),
    pytest.param(".a", 0, id="dot-without-type"),
    pytest.param("()", 1, id="empty-group"),
    pytest.param("a (| b)", 3, id="group-opens-with-alternation"),
    pytest.param("(a |)", 4, id="group-closes-after-alternation"),
    pytest.param("*", 0, id="lone-star"),
    pytest.param("a | +", 4, id="postfix-without-operand"),
    pytest.param("a b ) c", 4, id="trailing-close-and-label"),
    pytest.param("(a | b) )", 8, id="trailing-close-after-group"),
    pytest.param("a b #", 4, id="trailing-garbage"),
    pytest.param("a\n  b\n  ,", 8, id="garbage-on-a-later-line"),
]


@pytest.mark.parametrize(("text", "position"), MALFORMED)
def test_malformed_grammar(text, position):
    """A malformed grammar raises GrammarError at the 0-based position of the problem, and
    its message gives the same place as a 1-based column, as a spec author counts."""
    with pytest.raises(GrammarError) as caught:
        parse_grammar(text)
    assert caught.value.position == position
    assert str(caught.value).endswith(f"at column {position + 1}")


def test_grammar_error_is_a_value_error():
    """Callers that only know ValueError (e.g. option parsing) still catch a bad grammar."""
    with pytest.raises(ValueError, match="column 3"):
        parse_grammar("a ) b")


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("a ? ?", id="optional-twice"),
        pytest.param("a*?", id="star-then-optional"),
        pytest.param("(a b)+ * ?", id="group-with-three-postfixes"),
    ],
)
def test_repeated_postfix_operators_are_allowed(text):
    """Postfix operators may be stacked: each applies to the item before it."""
    parse_grammar(text)


# -- The bundled specs --------------------------------------------------------------------

# Each stream as "spec/endpoint".
MINIAPP = "miniapp-studio/prompt_stream"
BUILD = "promptfloe/build"
SKILL = "promptfloe/skill"
RUN_EVENTS = "promptfloe/run_events"
PRISM = "prism-agents/events"


@cache
def bundled(name: str) -> Spec:
    return load_spec(bundled_dir("specs") / f"{name}.yaml")


@cache
def spec_grammar(stream: str) -> Grammar:
    name, endpoint = stream.split("/")
    events = bundled(name).endpoints[endpoint].events
    assert events is not None and events.grammar is not None, f"{stream}: no grammar"
    return events.grammar


def test_bundled_grammars_are_the_ones_covered_here():
    """Every event stream of the four bundled specs with a grammar is exercised below (the
    workflow-stream run is a text stream, which has none)."""
    found = {
        f"{name}/{endpoint.name}"
        for name in ("miniapp-studio", "promptfloe", "workflow-stream", "prism-agents")
        for endpoint in bundled(name).endpoints.values()
        if endpoint.events is not None and endpoint.events.grammar is not None
    }
    assert found == {MINIAPP, BUILD, SKILL, RUN_EVENTS, PRISM}


def ok(stream: str, sentence: str, name: str, *, fragment: bool = False):
    return pytest.param(stream, sentence, fragment, id=name)


def bad(stream: str, sentence: str, index: int, expected: list[str], name: str, *, fragment=False):
    return pytest.param(stream, sentence, fragment, index, expected, id=name)


# The seed 004 example, evt_0193 to evt_0197: a run seen from its middle to its end.
PRISM_SEED = "token tool_call tool_result steering_request run_status.completed"

SPEC_ACCEPTED = [
    # miniapp: connection? system.init? (assistant | user)* (result.<subtype> | error)
    ok(MINIAPP, "connection system.init assistant result.success", "miniapp-seed-001-example"),
    ok(MINIAPP, "system.init assistant result.success", "miniapp-without-connection"),
    ok(MINIAPP, "connection error", "miniapp-error-right-after-connection"),
    ok(MINIAPP, "error", "miniapp-error-only"),
    ok(
        MINIAPP,
        "connection system.init user assistant user assistant assistant result.success",
        "miniapp-user-messages-interleaved",
    ),
    ok(MINIAPP, "connection assistant result.error_max_turns", "miniapp-error-max-turns"),
    ok(MINIAPP, "system.init result.error_during_execution", "miniapp-error-during-execution"),
    # promptfloe build: plan (file | review | augmenter)* (ready | error) | error
    ok(BUILD, "plan file file review ready", "build-seed-002-example"),
    ok(BUILD, "error", "build-error-only"),
    ok(BUILD, "plan augmenter file augmenter review augmenter ready", "build-augmenters-anywhere"),
    ok(BUILD, "plan augmenter ready", "build-augmenter-right-after-plan"),
    ok(BUILD, "plan ready", "build-without-files"),
    ok(BUILD, "plan file error", "build-error-mid-build"),
    # promptfloe skill: (chunk | insight | file_written | progress)* (done | error)
    ok(SKILL, "done", "skill-done-only"),
    ok(SKILL, "progress chunk chunk insight file_written chunk done", "skill-every-kind"),
    ok(SKILL, "chunk error", "skill-error"),
    # promptfloe run_events: a build run or a skill run, replayed
    ok(RUN_EVENTS, "plan file file review ready", "run-events-build-run"),
    ok(RUN_EVENTS, "chunk progress done", "run-events-skill-run"),
    ok(RUN_EVENTS, "error", "run-events-error-only"),
    ok(RUN_EVENTS, "file review ready", "run-events-resumed-mid-build", fragment=True),
    # prism: (run_status.running | ... | filesystem)* (run_status.completed | run_status.error)
    ok(PRISM, PRISM_SEED, "prism-seed-004-as-fragment", fragment=True),
    ok(PRISM, PRISM_SEED, "prism-seed-004-from-start"),
    ok(
        PRISM,
        "run_status.running token tool_call tool_result token run_status.completed",
        "prism-running-first",
    ),
    ok(PRISM, "run_status.waiting_on_human run_status.completed", "prism-waiting-then-completed"),
    ok(
        PRISM,
        "run_status.running steering_request run_status.waiting_on_human run_status.running"
        " token run_status.completed",
        "prism-steered-run",
    ),
    ok(PRISM, "run_status.running token filesystem run_status.error", "prism-run-ends-in-error"),
    ok(PRISM, "run_status.completed", "prism-completed-only"),
]


@pytest.mark.parametrize(("stream", "sentence", "fragment"), SPEC_ACCEPTED)
def test_bundled_grammar_accepts(stream, sentence, fragment):
    """The seeds' own example streams, and the legal variants their text allows, pass."""
    assert_accepted(spec_grammar(stream), sentence, fragment=fragment)


MINIAPP_AFTER_CONNECTION = [
    "assistant",
    "error",
    "result.error_during_execution",
    "result.error_max_turns",
    "result.success",
    "system.init",
    "user",
]
MINIAPP_MID_RUN = [label for label in MINIAPP_AFTER_CONNECTION if label != "system.init"]
BUILD_MID_RUN = ["augmenter", "error", "file", "ready", "review"]
SKILL_ANY = ["chunk", "done", "error", "file_written", "insight", "progress"]
PRISM_ANY = [
    "filesystem",
    "run_status.completed",
    "run_status.error",
    "run_status.running",
    "run_status.waiting_on_human",
    "steering_request",
    "token",
    "tool_call",
    "tool_result",
]

SPEC_REJECTED = [
    # (stream, sentence, index of the refused event, expected() just before it, id)
    bad(
        MINIAPP, "connection assistant result.success result.success", 3, [], "miniapp-two-results"
    ),
    bad(MINIAPP, "assistant connection", 1, MINIAPP_MID_RUN, "miniapp-assistant-before-connection"),
    bad(MINIAPP, "connection assistant system.init", 2, MINIAPP_MID_RUN, "miniapp-late-init"),
    bad(MINIAPP, "connection connection", 1, MINIAPP_AFTER_CONNECTION, "miniapp-connection-twice"),
    bad(MINIAPP, "connection error assistant", 2, [], "miniapp-message-after-error"),
    bad(BUILD, "file plan ready", 0, ["error", "plan"], "build-file-before-plan"),
    bad(BUILD, "plan file ready ready", 3, [], "build-ready-twice"),
    bad(BUILD, "plan plan", 1, BUILD_MID_RUN, "build-plan-twice"),
    bad(BUILD, "plan chunk done", 1, BUILD_MID_RUN, "build-skill-event"),
    bad(BUILD, "error ready", 1, [], "build-event-after-error"),
    bad(SKILL, "done chunk", 1, [], "skill-done-then-chunk"),
    bad(SKILL, "plan done", 0, SKILL_ANY, "skill-build-event"),
    bad(RUN_EVENTS, "plan chunk", 1, BUILD_MID_RUN, "run-events-build-then-skill"),
    bad(RUN_EVENTS, "chunk file", 1, SKILL_ANY, "run-events-skill-then-build"),
    bad(PRISM, "token run_status.completed token", 2, [], "prism-token-after-completed"),
    bad(
        PRISM,
        "token run_status.completed token",
        2,
        [],
        "prism-token-after-completed-as-fragment",
        fragment=True,
    ),
    bad(
        PRISM,
        "run_status.completed token",
        1,
        [],
        "prism-fragment-anything-after-completed",
        fragment=True,
    ),
    bad(
        PRISM,
        "run_status.error run_status.running",
        1,
        [],
        "prism-fragment-anything-after-error",
        fragment=True,
    ),
    bad(PRISM, "run_status.completed run_status.completed", 1, [], "prism-completed-twice"),
    bad(PRISM, "token run_status.cancelled", 1, PRISM_ANY, "prism-undeclared-status"),
]


@pytest.mark.parametrize(("stream", "sentence", "fragment", "index", "expected"), SPEC_REJECTED)
def test_bundled_grammar_rejects(stream, sentence, fragment, index, expected):
    """Streams the documents rule out fail at the exact event that breaks the order."""
    assert_rejected(spec_grammar(stream), sentence, index, expected, fragment=fragment)


@pytest.mark.parametrize(
    ("stream", "first"),
    [
        pytest.param(MINIAPP, [*MINIAPP_AFTER_CONNECTION, "connection"], id="miniapp"),
        pytest.param(BUILD, ["error", "plan"], id="build"),
        pytest.param(SKILL, SKILL_ANY, id="skill"),
        pytest.param(RUN_EVENTS, [*SKILL_ANY, "plan"], id="run-events"),
        pytest.param(PRISM, PRISM_ANY, id="prism"),
    ],
)
def test_bundled_grammar_first_events(stream, first):
    """What each stream may open with, as reported when its first event is wrong."""
    matcher = spec_grammar(stream).matcher()
    assert matcher.expected() == sorted(first)
    assert not matcher.complete, "an empty stream is never a whole run"


# -- Loading a spec with a grammar --------------------------------------------------------

SPEC = """\
streamconform: 1
name: tiny
title: Tiny streaming API
source:
  document: Tiny API reference
endpoints:
  stream:
    method: POST
    path: /v1/run
    framing: ndjson
    content_types: [application/x-ndjson]
    events:
      type_from: json-field
      type_field: type
      subtype_field: subtype
      types:
        start:
          schema: {type: object}
        result.success:
          schema: {type: object}
        result.error:
          schema: {type: object}
      grammar: "start (result.success | result.error)"
      terminal: [result]
requirements:
  - id: stream.order
    quote: Events arrive in order.
    level: MUST
    endpoints: [stream]
    checks: [order.grammar.viable]
"""
GRAMMAR_LINE = '      grammar: "start (result.success | result.error)"\n'
GRAMMAR_KEY = "endpoints.stream.events.grammar"


def write_spec(tmp_path: Path, grammar_line: str) -> tuple[Path, int]:
    """SPEC with its grammar line replaced; returns the file and that line's number."""
    assert SPEC.count(GRAMMAR_LINE) == 1
    text = SPEC.replace(GRAMMAR_LINE, grammar_line)
    path = tmp_path / "tiny.yaml"
    path.write_text(text, encoding="utf-8")
    first = grammar_line.splitlines()[0]
    return path, text.splitlines().index(first) + 1


def spec_error(path: Path) -> SpecError:
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    return caught.value


def test_spec_with_valid_grammar_loads(tmp_path):
    """The base spec loads, so each failure below is due to its grammar alone."""
    path, _ = write_spec(tmp_path, GRAMMAR_LINE)
    grammar = load_spec(path).endpoints["stream"].events.grammar
    assert grammar is not None
    assert_accepted(grammar, "start result.error")


@pytest.mark.parametrize(
    ("grammar_line", "column"),
    [
        pytest.param('      grammar: "start (result.success | result.error"\n', 7, id="unclosed"),
        pytest.param('      grammar: "start | | result.*"\n', 9, id="doubled-bar"),
        pytest.param('      grammar: ""\n', 1, id="empty"),
        pytest.param(
            "      grammar: >-\n        start\n        (result.success | result.error)) x\n",
            38,
            id="folded-over-lines",
        ),
    ],
)
def test_spec_malformed_grammar(tmp_path, grammar_line, column):
    """A malformed grammar is a SpecError at the grammar's line and key, with the column."""
    path, line = write_spec(tmp_path, grammar_line)
    err = spec_error(path)
    assert err.location == f"{path}:{line}"
    assert err.key == GRAMMAR_KEY
    assert "malformed grammar" in err.message
    assert f"column {column}" in err.message
    assert str(err).startswith(f"{path}:{line}: {GRAMMAR_KEY}: ")


@pytest.mark.parametrize(
    ("grammar_line", "says"),
    [
        pytest.param(
            '      grammar: "start (result.success | result.error) finish"\n',
            "grammar label 'finish' is not a declared event type",
            id="label-not-declared",
        ),
        pytest.param(
            '      grammar: "start (result.success | result.error | result.timeout)"\n',
            "grammar label 'result.timeout' is not a declared event type",
            id="subtype-not-declared",
        ),
        pytest.param(
            '      grammar: "start result.* status.*"\n',
            "grammar label 'status.*' is not a declared event type",
            id="wildcard-type-not-declared",
        ),
        pytest.param(
            '      grammar: "start result.success"\n',
            "event type 'result.error' has no place in the grammar",
            id="declared-type-not-in-grammar",
        ),
        pytest.param(
            '      grammar: "(result.success | result.error)"\n',
            "event type 'start' has no place in the grammar",
            id="declared-bare-type-not-in-grammar",
        ),
    ],
)
def test_spec_grammar_against_declared_types(tmp_path, grammar_line, says):
    """Grammar and declared types must agree both ways, else the grammar cannot be right."""
    path, line = write_spec(tmp_path, grammar_line)
    err = spec_error(path)
    assert err.location == f"{path}:{line}"
    assert err.key == GRAMMAR_KEY
    assert says in err.message


def test_spec_wildcard_covers_declared_subtypes(tmp_path):
    """`result.*` names result.success and result.error, so both are declared and placed."""
    path, _ = write_spec(tmp_path, '      grammar: "start result.*"\n')
    grammar = load_spec(path).endpoints["stream"].events.grammar
    assert grammar.labels() == {"start", "result.*"}
    assert_accepted(grammar, "start result.success")
    assert_accepted(grammar, "start result.error")
    assert_rejected(grammar, "start resultx", 1, ["result.*"])


# -- Cross-check against Python's re ------------------------------------------------------

_LABEL = re.compile(r"[A-Za-z0-9_\-]+(?:\.(?:[A-Za-z0-9_\-]+|\*))?")
MAX_FED = 5
MAX_TOTAL = 7

# Each grammar with its concrete labels. Every viable prefix of these grammars can be
# completed within two more events, so searching extensions up to MAX_TOTAL events decides
# viability exactly for every prefix of up to MAX_FED events. One stray label per case
# (last) is named by no pattern of its grammar.
CROSS_CHECKS = [
    pytest.param("a (b | c)* d", ["a", "b", "c", "d", "e"], id="repetition-between-ends"),
    pytest.param("(a b?)+ c", ["a", "b", "c", "d"], id="combination"),
    pytest.param("a? b* (c | d)+", ["a", "b", "c", "d", "e"], id="optional-star-plus"),
    pytest.param("(a | b c)* d?", ["a", "b", "c", "d", "e"], id="star-over-alternation"),
    pytest.param("((a?)*)+ b", ["a", "b", "c"], id="nested-empty-loops"),
    pytest.param("(a* | b)+ c | b a", ["a", "b", "c", "d"], id="alternation-of-loops"),
    pytest.param("x.* y? | y x.a", ["x", "x.a", "x.b", "y", "xa"], id="wildcard"),
    pytest.param("s (t.ok | t.err | m)* t.*", ["s", "t", "t.ok", "t.err", "m", "t_"], id="mixed"),
]


def to_regex(grammar: str, letters: dict[str, str]) -> str:
    """The grammar as a Python regex over one letter per concrete label."""

    def letter(found: re.Match[str]) -> str:
        pattern = found.group()
        if pattern.endswith(".*"):
            base = pattern[:-2]
            covered = [c for label, c in letters.items() if label.split(".")[0] == base]
            return "[" + "".join(covered) + "]"
        return letters[pattern]

    regex = re.sub(r"\s+", "", _LABEL.sub(letter, grammar))
    assert not re.search(r"[?*+]{2}", regex), "stacked postfixes mean something else in re"
    return regex


@pytest.mark.parametrize(("grammar", "alphabet"), CROSS_CHECKS)
def test_matcher_agrees_with_re(grammar, alphabet):
    """On every sequence of up to five labels, the matcher refuses exactly the first event
    after which no extension can match the equivalent regex, and is complete exactly when
    the regex matches the whole sequence."""
    letters = {label: chr(ord("A") + i) for i, label in enumerate(alphabet)}
    regex = re.compile(to_regex(grammar, letters))
    viable: set[str] = set()
    for length in range(MAX_TOTAL + 1):
        for word in map("".join, itertools.product(letters.values(), repeat=length)):
            if regex.fullmatch(word):
                viable.update(word[:end] for end in range(len(word) + 1))

    compiled = parse_grammar(grammar)
    # matcher (or None once refused) and refused index for every sequence fed so far
    state: dict[tuple[str, ...], tuple[Matcher | None, int | None]] = {
        (): (compiled.matcher(), None)
    }
    for length in range(1, MAX_FED + 1):
        for sequence in itertools.product(alphabet, repeat=length):
            parent, refused = state[sequence[:-1]]
            if parent is not None:
                matcher = Matcher(compiled, parent.states)
                if matcher.feed(sequence[-1]):
                    state[sequence] = (matcher, None)
                else:
                    state[sequence] = (None, length - 1)
            else:
                state[sequence] = (None, refused)

    for sequence, (matcher, refused) in state.items():
        word = "".join(letters[label] for label in sequence)
        first_dead = next((i for i in range(len(word)) if word[: i + 1] not in viable), None)
        assert refused == first_dead, f"{grammar!r} on {list(sequence)}"
        complete = matcher is not None and matcher.complete
        assert complete == bool(regex.fullmatch(word)), f"{grammar!r} on {list(sequence)}"
