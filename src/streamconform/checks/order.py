"""Order checks (order.*), in the ordering suite: the events come in an order the spec's
grammar allows, per run on a multiplexed stream."""

from __future__ import annotations

from collections.abc import Iterator

from streamconform.checks.event_fields import label_text, payload_of, rules_of
from streamconform.checks.registry import EVENT_STREAMS, Finding, check
from streamconform.core.transcript import Transcript
from streamconform.decode.events import Event
from streamconform.model.spec import Endpoint, EventsSpec, Level

_NO_KEY = object()


def _has_grammar(ep: Endpoint) -> str | None:
    if ep.events is None or ep.events.grammar is None:
        return "the spec declares no grammar for this endpoint"
    return None


def _groups(t: Transcript, rules: EventsSpec) -> dict[object, list[Event]]:
    """Events by key (one group when the stream is not multiplexed)."""
    groups: dict[object, list[Event]] = {}
    for event in t.events:
        if rules.label(event) is None and event.data in rules.non_json_data:
            continue  # declared sentinels (a priming event, [DONE]) are not part of the order
        key = payload_of(event).get(rules.key_field, _NO_KEY) if rules.key_field else None
        groups.setdefault(key, []).append(event)
    return groups


@check(
    id="order.grammar.viable",
    suite="ordering",
    framings=EVENT_STREAMS,
    level=Level.MUST,
    title="Events come in an order the grammar allows",
    requirement="""The sequence of event labels (per run, on a multiplexed stream) can always
        still be completed to a sentence of the spec's grammar; nothing follows a terminal
        event.""",
    reference="https://html.spec.whatwg.org/multipage/server-sent-events.html",
    applies=_has_grammar,
)
def grammar_viable(t: Transcript, ep: Endpoint) -> Iterator[Finding]:
    rules = rules_of(ep)
    assert rules.grammar is not None
    awaited = t.captures.get(rules.key_field) if rules.key_field else None
    for key, events in _groups(t, rules).items():
        # a run whose start the capture may have missed is judged as a fragment
        fragment = bool(rules.key_field) and (key is _NO_KEY or key != awaited)
        matcher = rules.grammar.matcher(fragment=fragment)
        history: list[str] = []
        for event in events:
            label = label_text(rules.label(event))
            expected = matcher.expected()
            if not matcher.feed(label):
                run = (
                    f" of {rules.key_field} {key!r}"
                    if rules.key_field and key is not _NO_KEY
                    else ""
                )
                after = " → ".join(history[-4:]) or "the start"
                yield Finding(
                    f"one of {', '.join(expected)}" if expected else "nothing more: it had ended",
                    f"{label} after {after}{run}",
                    event.offset,
                    event.index,
                    "events.grammar",
                )
                break
            history.append(label)
