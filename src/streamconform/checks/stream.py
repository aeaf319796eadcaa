"""Stream checks (stream.*), in the framing suite: every stream really streams and ends within
its bounds of silence, duration, connection and event size."""

from __future__ import annotations

import math
from collections.abc import Iterator

from streamconform.checks.registry import Finding, Untestable, check, from_notes
from streamconform.core.transcript import End, Transcript
from streamconform.model.spec import Endpoint, Framing, Level

# A burst is events that arrive within this many seconds of the last one.
BURST_WINDOW = 0.05
# Silence before a burst that cannot be network jitter or a slow first token.
MIN_QUIET = 0.25
# Share of all events that must sit in the final burst to call the response buffered.
BURST_SHARE = 0.8
# Fewest words of a text stream whose delivery over time can be judged: a shorter text
# can well be generated, and sent, at once.
MIN_WORDS = 20
# Share of the silence that our own stalls (a loaded machine) must cover to withhold blame.
OUR_SHARE = 0.5

_BOUND_BREACHES = {
    End.IDLE_TIMEOUT: "the stream went silent past its idle bound",
    End.MAX_DURATION: "the stream outlived its maximum duration",
    End.SIZE_LIMIT: "the body outgrew the size bound",
    End.READ_ERROR: "the connection broke mid-stream",
}
# the spec's bound each end breaks (a spec may only assume it)
_BOUND_BASIS = {
    End.IDLE_TIMEOUT: "timing.idle_timeout",
    End.MAX_DURATION: "timing.max_duration",
}


def _stalled(t: Transcript, start: float, end: float) -> float:
    """Seconds between start and end during which this process itself was held up."""
    return sum(
        min(at + length, end) - max(at, start)
        for at, length in t.stalls
        if at < end and at + length > start
    )


def _quiet_since(t: Transcript, index: int) -> float:
    """When the silence before event `index` began. Before the first event it counts from
    the response head: a server slow to answer at all, or answering with a backlog it
    already had (a run re-attached to once it is over), held nothing back from a body it
    had begun. Unless the head declares the body's length: then the server had the whole
    body before it answered, and the silence since the request is its holding back."""
    if index > 0:
        return t.events[index - 1].time
    if t.header("content-length") is not None:
        return 0.0
    return t.headers_time or 0.0


@check(
    id="stream.delivery.incremental",
    suite="framing",
    level=Level.MUST,
    title="Events are delivered as they are produced",
    requirement="""The response really streams: events reach the client spread over the
        time they are produced, not held back and flushed together at the end.""",
    reference="https://www.rfc-editor.org/rfc/rfc9112#name-chunked-transfer-coding",
)
def delivered_incrementally(t: Transcript, ep: Endpoint) -> Iterator[Finding]:
    events = t.events
    text = ep.framing is Framing.TEXT
    # a text stream's events are its reads, so what it delivers is counted in words
    weight = [len(e.data.split()) if text else 1 for e in events]
    total = sum(weight)
    if text and total < MIN_WORDS:
        raise Untestable(f"{total} word(s) arrived: delivery over time cannot be judged")
    if len(events) < 2 and not text:
        raise Untestable(f"{len(events)} event(s) arrived: delivery over time cannot be judged")
    last = events[-1].time
    burst = [e for e in events if last - e.time <= BURST_WINDOW]
    first = burst[0]
    before = _quiet_since(t, first.index)
    quiet = first.time - before
    in_burst = sum(weight[e.index] for e in burst)
    needed = max(2, math.ceil(BURST_SHARE * total))
    if in_burst >= needed and quiet >= MIN_QUIET:
        ours = _stalled(t, before, first.time)
        unit = "words" if text else "events"
        if ours >= OUR_SHARE * quiet:
            raise Untestable(
                f"the {unit} bunched after {quiet:.3f} s of silence, but this process itself "
                f"was held up for {ours:.3f} s of it: that cannot be laid at the server's door"
            )
        yield Finding(
            f"{unit} spread over the time they are produced",
            f"{in_burst} of {total} {unit} arrived within {BURST_WINDOW * 1000:.0f} ms "
            f"at +{first.time:.3f} s, after {quiet:.3f} s with no {unit[:-1]}: the response "
            "was buffered",
            first.offset,
            first.index,
        )


@check(
    id="stream.bounds.respected",
    suite="framing",
    level=Level.MUST,
    title="The stream ends within its bounds",
    requirement="""An open stream never stays silent past its idle bound, ends (or, when
        long-lived, delivers the awaited terminal event) within its maximum duration, keeps
        its connection up, and keeps each event within the size limit.""",
    reference="https://html.spec.whatwg.org/multipage/server-sent-events.html#authoring-notes",
)
def bounds_respected(t: Transcript, ep: Endpoint) -> Iterator[Finding]:
    if t.end is End.IDLE_TIMEOUT:
        silent_since = t.chunks[-1].time if t.chunks else (t.headers_time or 0.0)
        ours = _stalled(t, silent_since, t.duration)
        if ours > 0 and ours >= OUR_SHARE * (t.duration - silent_since):
            raise Untestable(
                f"the stream was silent for {t.duration - silent_since:.3f} s, but this process "
                f"itself was held up for {ours:.3f} s of it"
            )
    if t.end in _BOUND_BREACHES:
        yield Finding(
            "a stream that ends within its bounds",
            f"{_BOUND_BREACHES[t.end]} ({t.end_detail})",
            t.body_bytes,
            len(t.events),
            _BOUND_BASIS.get(t.end, ""),
        )
    # the suite's own limits cut a capture before any check sees it (engine.verdict); a
    # note that reaches here broke a bound the document states
    yield from from_notes(t, "stream.event.too-large", "events within the size limit")
