"""Decoder throughput: streamconform's SSEDecoder against httpx-sse, on one in-memory stream.

Builds a deterministic SSE byte stream, cuts it into fixed-size chunks, and times three
contenders over the same chunk list (best of --repeat runs each):

  ours       streamconform.decode.SSEDecoder.feed() per chunk, then close().
  httpx-sse  httpx_sse.EventSource.iter_sse() fed by a stand-in response whose iter_text()
             and iter_lines() mirror httpx.Response's, built from httpx's own TextDecoder,
             TextChunker and LineDecoder. Every SSE step (line splitting, rstrip, field
             parsing, dispatch) is httpx-sse's own code, whichever 0.4.x release is installed.
  floor      bytes.splitlines() with a carried partial line and no SSE parsing at all.

Nothing touches the network. Before timing, the script checks that ours and httpx-sse (this
time behind a real httpx.Response) dispatch the same events, with the same type, id and
data, and that the stream raises no framing notes in ours; it exits with status 1 otherwise.

Usage, from the repository root:

    PYTHONPATH=src python benchmarks/decoder_throughput.py [--megabytes 50]
        [--chunk-size 65536] [--repeat 3] [--json OUT]
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import importlib
import json
import platform
import random
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import httpx_sse
from httpx._decoders import LineDecoder, TextChunker, TextDecoder
from httpx_sse._decoders import SSEDecoder as HttpxSSEDecoder

MB = 1_000_000  # throughput is reported in decimal megabytes per second
DEFAULT_SEED = 20240611


def _import_ours() -> Any:
    """Return streamconform.decode.SSEDecoder, falling back to this checkout's src/."""
    try:
        module = importlib.import_module("streamconform.decode")
    except ModuleNotFoundError:
        src = Path(__file__).resolve().parents[1] / "src"
        if not (src / "streamconform").is_dir():
            raise
        sys.path.insert(0, str(src))
        module = importlib.import_module("streamconform.decode")
    return module.SSEDecoder


SSEDecoder = _import_ours()


# --------------------------------------------------------------------------------------
# The stream
# --------------------------------------------------------------------------------------

_FILLER_WORDS = (
    "the quick brown fox jumps over lazy dog stream event token delta chunk buffer "
    "payload server client request response latency throughput model output index "
    "value field record batch window cursor offset result status update partial final"
)
_WORDS = tuple(_FILLER_WORDS.split())

# Multi-byte UTF-8 only; none of these contains a character that str.splitlines() treats
# as a line break (U+0085, U+2028, U+2029, ...), so no line splitter disagrees on them.
_UNICODE = (
    "naïve café",
    "Grüße aus Köln",
    "日本語のテキスト",
    "Привет, мир",
    "Ελληνικά γράμματα",
    "中文字符测试",
    "emoji 🚀✨🙂",
    "العربية",
    "½ × ¾ ≈ 0.375 → ∞",
)

_EVENT_TYPES = (
    ("message.delta", 70),
    ("message.start", 5),
    ("message.stop", 5),
    ("tool.call", 8),
    ("usage", 7),
    ("", 5),  # no `event:` line: the type defaults to "message"
)

MIN_PAYLOAD = 50
MAX_PAYLOAD = 4096


@dataclass(frozen=True)
class Stream:
    data: bytes
    events: int
    crlf_events: int
    multiline_events: int
    unicode_events: int
    heartbeats: int


def _filler_corpus(rng: random.Random, size: int) -> str:
    words: list[str] = []
    length = 0
    while length < size:
        word = rng.choice(_WORDS)
        words.append(word)
        length += len(word) + 1
    return " ".join(words)


def _payload(rng: random.Random, corpus: str, seq: int, kind: str) -> tuple[Any, bool]:
    """A JSON-able object whose compact UTF-8 encoding is roughly 50 B to 4 KB."""
    target = round(MIN_PAYLOAD * (MAX_PAYLOAD / MIN_PAYLOAD) ** rng.random())
    obj: dict[str, Any] = {"seq": seq, "kind": kind or "message", "text": ""}
    if rng.random() < 0.3:
        obj["meta"] = {"model": "m-1", "shard": rng.randrange(16), "final": rng.random() < 0.1}
    base = len(json.dumps(obj, separators=(",", ":")))
    need = max(0, target - base)
    start = rng.randrange(len(corpus) - MAX_PAYLOAD)
    text = corpus[start : start + need]
    has_unicode = rng.random() < 0.12
    if has_unicode and need > 40:
        phrase = rng.choice(_UNICODE)
        cut = rng.randrange(len(text) + 1)
        # Keep the byte size near the target despite the multi-byte phrase.
        text = text[:cut] + " " + phrase + " " + text[cut + len(phrase.encode()) + 2 :]
    else:
        has_unicode = False
    if len(text) > 160 and rng.random() < 0.5:
        # Split long text into a list so that pretty-printing yields lines of varied length.
        parts: list[str] = []
        while text:
            step = rng.randrange(40, 200)
            parts.append(text[:step])
            text = text[step:]
        del obj["text"]
        obj["parts"] = parts
    else:
        obj["text"] = text
    return obj, has_unicode


def build_stream(megabytes: float, seed: int = DEFAULT_SEED) -> Stream:
    """A deterministic SSE stream of at least `megabytes` MB, ending after a whole event.

    Every event has an `id:` line, usually an `event:` line, one or more `data:` lines and
    a terminating blank line. Heartbeat comments are emitted as the first line of the next
    event rather than as a block of their own: once an id has been seen, httpx-sse
    dispatches an empty event for a lone `: ping` block and a browser does not, and the
    comparison must not hinge on that.
    """
    rng = random.Random(seed)
    corpus = _filler_corpus(rng, 64 * 1024)
    kinds = [kind for kind, _ in _EVENT_TYPES]
    weights = [weight for _, weight in _EVENT_TYPES]
    want = int(megabytes * MB)
    pieces: list[bytes] = []
    size = 0
    events = crlf = multiline = unicode_events = heartbeats = 0
    while size < want:
        seq = events + 1
        kind = rng.choices(kinds, weights)[0]
        obj, has_unicode = _payload(rng, corpus, seq, kind)
        if rng.random() < 0.6:
            body = json.dumps(obj, ensure_ascii=False, indent=rng.choice((None, 1, 2)))
        else:
            body = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
        lines: list[str] = []
        if rng.random() < 0.05:
            lines.append(f": heartbeat {seq}")
            heartbeats += 1
        lines.append(f"id: {seq}")
        if kind:
            lines.append(f"event: {kind}")
        data_lines = body.split("\n")
        lines.extend(f"data: {line}" for line in data_lines)
        lines.append("")
        lines.append("")
        eol = "\r\n" if rng.random() < 0.3 else "\n"
        piece = eol.join(lines).encode("utf-8")
        pieces.append(piece)
        size += len(piece)
        events += 1
        crlf += eol == "\r\n"
        multiline += len(data_lines) > 1
        unicode_events += has_unicode
    return Stream(b"".join(pieces), events, crlf, multiline, unicode_events, heartbeats)


def split_chunks(data: bytes, chunk_size: int) -> list[bytes]:
    return [data[i : i + chunk_size] for i in range(0, len(data), chunk_size)]


# --------------------------------------------------------------------------------------
# Contenders
# --------------------------------------------------------------------------------------


def run_ours(chunks: Sequence[bytes]) -> int:
    decoder = SSEDecoder(max_event_bytes=1 << 20, parse_json=False)
    count = 0
    for chunk in chunks:
        events = decoder.feed(chunk, 0.0)
        count += len(events)
    count += len(decoder.close(0.0))
    return count


class ChunkResponse:
    """Just enough of httpx.Response for httpx_sse.EventSource, over in-memory chunks.

    iter_text() and iter_lines() follow httpx.Response.iter_text() and .iter_lines() step
    for step with httpx's own decoder classes; the byte chunks stand for what
    Response.iter_bytes() would yield, so transport and content-encoding are left out.
    """

    headers = httpx.Headers({"content-type": "text/event-stream; charset=utf-8"})

    def __init__(self, chunks: Sequence[bytes]) -> None:
        self._chunks = chunks

    def iter_text(self) -> Iterator[str]:
        decoder = TextDecoder(encoding="utf-8")
        chunker = TextChunker(chunk_size=None)
        for byte_content in self._chunks:
            text_content = decoder.decode(byte_content)
            yield from chunker.decode(text_content)
        text_content = decoder.flush()
        yield from chunker.decode(text_content)
        yield from chunker.flush()

    def iter_lines(self) -> Iterator[str]:
        decoder = LineDecoder()
        for text in self.iter_text():
            yield from decoder.decode(text)
        yield from decoder.flush()


def run_httpx_sse(chunks: Sequence[bytes]) -> int:
    count = 0
    for _ in httpx_sse.EventSource(ChunkResponse(chunks)).iter_sse():  # type: ignore[arg-type]
        count += 1
    return count


def run_httpx_sse_iter_lines(chunks: Sequence[bytes]) -> int:
    """httpx-sse's SSEDecoder over httpx's own iter_lines() (the httpx-sse 0.4.0 pipeline)."""
    decoder = HttpxSSEDecoder()
    count = 0
    for line in ChunkResponse(chunks).iter_lines():
        line = line.rstrip("\n")
        if decoder.decode(line) is not None:
            count += 1
    return count


class _ChunkStream(httpx.SyncByteStream):
    def __init__(self, chunks: Sequence[bytes]) -> None:
        self._chunks = chunks

    def __iter__(self) -> Iterator[bytes]:
        yield from self._chunks


def _real_response(chunks: Sequence[bytes]) -> httpx.Response:
    return httpx.Response(
        200,
        headers={"content-type": "text/event-stream; charset=utf-8"},
        stream=_ChunkStream(chunks),
    )


def run_httpx_sse_response(chunks: Sequence[bytes]) -> int:
    """httpx-sse over a real httpx.Response, so iter_raw()/iter_bytes() are included."""
    count = 0
    for _ in httpx_sse.EventSource(_real_response(chunks)).iter_sse():
        count += 1
    return count


_EOL_BYTES = (0x0A, 0x0D)


def run_floor(chunks: Sequence[bytes]) -> int:
    """Line splitting only. A CRLF cut between two chunks counts as two line breaks."""
    carry = b""
    count = 0
    for chunk in chunks:
        buf = carry + chunk
        lines = buf.splitlines()
        carry = lines.pop() if buf and buf[-1] not in _EOL_BYTES else b""
        count += len(lines)
    if carry:
        count += 1
    return count


# --------------------------------------------------------------------------------------
# Verification (untimed)
# --------------------------------------------------------------------------------------


@dataclass
class Digest:
    count: int = 0
    data_chars: int = 0
    sha: Any = None

    def __post_init__(self) -> None:
        self.sha = hashlib.sha256()

    def add(self, kind: str, event_id: str, data: str) -> None:
        self.count += 1
        self.data_chars += len(data)
        self.sha.update(f"{len(kind)}:{kind}{len(event_id)}:{event_id}{len(data)}:".encode())
        self.sha.update(data.encode("utf-8", "surrogatepass"))

    def key(self) -> tuple[int, int, str]:
        return self.count, self.data_chars, self.sha.hexdigest()


def verify(chunks: Sequence[bytes], expected_events: int) -> list[str]:
    """Compare what the two decoders dispatch, event by event (via a digest)."""
    problems: list[str] = []

    decoder = SSEDecoder(max_event_bytes=1 << 20, parse_json=False)
    ours = Digest()
    for chunk in chunks:
        for event in decoder.feed(chunk, 0.0):
            ours.add(event.type, event.id, event.data)
    for event in decoder.close(0.0):
        ours.add(event.type, event.id, event.data)
    if decoder.log.notes:
        kinds = sorted({note.kind for note in decoder.log.notes})
        problems.append(f"ours raised framing notes on the benchmark stream: {kinds}")

    theirs = Digest()
    for sse in httpx_sse.EventSource(_real_response(chunks)).iter_sse():
        theirs.add(sse.event, sse.id, sse.data)

    if ours.count != expected_events:
        problems.append(f"ours dispatched {ours.count} events, the stream holds {expected_events}")
    if theirs.count != expected_events:
        problems.append(
            f"httpx-sse dispatched {theirs.count} events, the stream holds {expected_events}"
        )
    if ours.key() != theirs.key():
        problems.append(
            "ours and httpx-sse dispatched different events "
            f"(ours: {ours.count} events, {ours.data_chars} data chars; "
            f"httpx-sse: {theirs.count} events, {theirs.data_chars} data chars)"
        )
    return problems


# --------------------------------------------------------------------------------------
# Timing and report
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Contender:
    name: str
    unit: str
    run: Callable[[Sequence[bytes]], int]


@dataclass
class Result:
    name: str
    unit: str
    count: int
    seconds: float
    mb_per_s: float
    runs: list[float]


def time_contenders(
    contenders: Sequence[Contender], chunks: Sequence[bytes], total: int, repeat: int
) -> list[Result]:
    """Best of `repeat` runs each; runs are interleaved so drift hits everyone alike."""
    runs: dict[str, list[float]] = {c.name: [] for c in contenders}
    counts: dict[str, int] = {}
    for _ in range(repeat):
        for contender in contenders:
            gc.collect()
            start = time.perf_counter()
            count = contender.run(chunks)
            elapsed = time.perf_counter() - start
            runs[contender.name].append(elapsed)
            if counts.setdefault(contender.name, count) != count:
                raise RuntimeError(f"{contender.name} counted differently from run to run")
    results = []
    for contender in contenders:
        best = min(runs[contender.name])
        results.append(
            Result(
                contender.name,
                contender.unit,
                counts[contender.name],
                best,
                total / MB / best,
                runs[contender.name],
            )
        )
    return results


def render_table(results: Sequence[Result], ratio: float) -> str:
    name_width = max(len("contender"), *(len(r.name) for r in results))
    lines = [f"{'contender':<{name_width}}  {'MB/s':>9}  {'seconds':>9}  {'count':>12}  unit"]
    for r in results:
        lines.append(
            f"{r.name:<{name_width}}  {r.mb_per_s:>9.2f}  {r.seconds:>9.4f}  "
            f"{r.count:>12,}  {r.unit}"
        )
    lines.append(f"ratio ours / httpx-sse (throughput): {ratio:.3f}x")
    return "\n".join(lines)


def _version(module: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(module)
    except metadata.PackageNotFoundError:
        return "not installed (source checkout)"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--megabytes", type=float, default=50.0, help="stream size (1 MB = 10^6 B)")
    parser.add_argument("--chunk-size", type=int, default=65536, help="bytes per chunk")
    parser.add_argument("--repeat", type=int, default=3, help="runs per contender; best is kept")
    parser.add_argument("--json", metavar="OUT", type=Path, help="also write results as JSON")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="stream generator seed")
    parser.add_argument(
        "--extra",
        action="store_true",
        help="also time httpx-sse behind a real httpx.Response, and httpx-sse's SSEDecoder "
        "over httpx's iter_lines() (the httpx-sse 0.4.0 pipeline)",
    )
    args = parser.parse_args(argv)
    if args.megabytes <= 0 or args.chunk_size <= 0 or args.repeat <= 0:
        parser.error("--megabytes, --chunk-size and --repeat must be positive")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)

    stream = build_stream(args.megabytes, args.seed)
    chunks = split_chunks(stream.data, args.chunk_size)
    total = len(stream.data)
    print(
        f"stream: {total / MB:.2f} MB ({total:,} bytes), {stream.events:,} events "
        f"({stream.crlf_events:,} CRLF, {stream.multiline_events:,} multi-line data, "
        f"{stream.unicode_events:,} with multi-byte text, {stream.heartbeats:,} heartbeats); "
        f"{len(chunks):,} chunks of {args.chunk_size:,} B; best of {args.repeat}"
    )
    print(
        f"python {platform.python_version()} ({platform.python_implementation()}), "
        f"httpx {httpx.__version__}, httpx-sse {httpx_sse.__version__}"
    )

    problems = verify(chunks, stream.events)
    for problem in problems:
        print(f"MISMATCH: {problem}", file=sys.stderr)
    if not problems:
        print("verified: ours and httpx-sse dispatch identical events (type, id, data)")

    contenders = [
        Contender("ours", "events", run_ours),
        Contender("httpx-sse", "events", run_httpx_sse),
        Contender("floor (splitlines)", "lines", run_floor),
    ]
    if args.extra:
        contenders += [
            Contender("httpx-sse via httpx.Response", "events", run_httpx_sse_response),
            Contender("httpx-sse decoder on iter_lines", "events", run_httpx_sse_iter_lines),
        ]
    results = time_contenders(contenders, chunks, total, args.repeat)
    by_name = {r.name: r for r in results}
    ours, theirs = by_name["ours"], by_name["httpx-sse"]
    ratio = ours.mb_per_s / theirs.mb_per_s
    for r in results:
        if r.unit == "events" and r.count != ours.count:
            problems.append(f"{r.name} counted {r.count:,} events, ours {ours.count:,}")
            print(f"MISMATCH: {problems[-1]}", file=sys.stderr)

    print()
    print(render_table(results, ratio))

    if args.json is not None:
        report = {
            "stream": {
                "bytes": total,
                "megabytes": total / MB,
                "events": stream.events,
                "crlf_events": stream.crlf_events,
                "multiline_events": stream.multiline_events,
                "unicode_events": stream.unicode_events,
                "heartbeats": stream.heartbeats,
                "seed": args.seed,
                "sha256": hashlib.sha256(stream.data).hexdigest(),
            },
            "chunk_size": args.chunk_size,
            "chunks": len(chunks),
            "repeat": args.repeat,
            "results": [
                {
                    "contender": r.name,
                    "mb_per_s": r.mb_per_s,
                    "seconds": r.seconds,
                    "count": r.count,
                    "unit": r.unit,
                    "runs": r.runs,
                }
                for r in results
            ],
            "ratio_ours_over_httpx_sse": ratio,
            "events_match": not problems,
            "problems": problems,
            "environment": {
                "python": platform.python_version(),
                "implementation": platform.python_implementation(),
                "platform": platform.platform(),
                "machine": platform.machine(),
                "httpx": httpx.__version__,
                "httpx_sse": httpx_sse.__version__,
                "streamconform": _version("streamconform"),
            },
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.json}")

    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
