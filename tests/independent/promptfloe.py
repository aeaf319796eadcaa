"""An independent implementation of the PromptFloe NDJSON build-streaming API.

Written only from the PromptFloe developer docs ("Build / Streaming events"), as a test
helper: a second server for the conformance suite to judge, sharing no code with
streamconform. Standard library only: http.server with hand-written chunked transfer
encoding, real time (a build takes about a second and a half).

Where the document speaks, this server follows it:

- streaming endpoints answer ``Content-Type: application/x-ndjson`` with a chunked
  transfer; each line is one self-contained JSON object terminated by ``\\n``;
- every event has a ``type``; build streams carry plan, file, review, augmenter and
  ready, skill streams chunk, insight, file_written, progress and done; ``error`` is
  terminal and the stream closes after it;
- ``POST /v1/apps/generate`` with ``Authorization: Bearer <key>`` and
  ``{"prompt": ...}``;
- a run stays alive for 5 minutes after a disconnect, and
  ``GET /v1/runs/:runId/events?cursor=<last_event_id>`` replays the events after the
  cursor and continues streaming.

Where it is silent, the choices are this server's own (see the report in
/work/scratch/indep-promptfloe.md): the run id comes in an ``X-Run-Id`` header, every
event carries an ``id`` (``ev_<run>_<seq>``), error bodies are
``{"error": {"code": ..., "message": ...}}``, skills run at
``POST /v1/skills/{skill_id}/runs`` with ``{"prompt": ...}``, a failure can be
simulated with the header ``X-Floe-Simulate: failure``, and so on.

Planted bugs (one per check family), chosen at start-up with ``bug=``:

- ``framing``: the last line of every stream has no terminating newline;
- ``ordering``: a build commits its first file before the plan;
- ``terminal``: one more event follows the terminal event;
- ``reconnection``: a resume with a cursor skips the first missed event;
- ``auth``: keys are compared by their first 10 characters only;
- ``input``: a build without a usable prompt is accepted (a default prompt is used).

Run: ``python -m tests.independent.promptfloe --port 8080 [--bug framing]``.
"""

from __future__ import annotations

import argparse
import contextlib
import hmac
import json
import re
import secrets
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

__all__ = ["API_KEY", "BUGS", "main", "serve"]

API_KEY = "pf_live_9cQ2vR7mT4xZ8bN1kLw3"
BUGS = ("framing", "ordering", "terminal", "reconnection", "auth", "input")

RESUME_WINDOW = 300.0  # "keeps the run alive for 5 minutes after disconnect"
MAX_BODY = 64 * 1024  # request bodies larger than this get 413
MAX_PROMPT = 8000  # characters
READ_TIMEOUT = 15.0  # seconds for any socket read (headers, body) or write
CHUNK = 32 * 1024  # largest chunk written on the wire
SKILLS = ("seo-audit", "copy-polish", "a11y-audit")
SIMULATE_HEADER = "X-Floe-Simulate"

_BUILD_PATH = "/v1/apps/generate"
_SKILL_PATH = re.compile(r"^/v1/skills/([^/]+)/runs$")
_EVENTS_PATH = re.compile(r"^/v1/runs/([^/]+)/events$")


# --------------------------------------------------------------------------- runs


class Run:
    """One build or skill run: its event log, written by a producer thread, read by any
    number of subscribers, kept for RESUME_WINDOW seconds after the last one leaves."""

    def __init__(self, kind: str) -> None:
        self.id = "run_" + secrets.token_hex(10)
        self.kind = kind
        self._short = self.id[-6:]
        self.lines: list[bytes] = []
        self.index: dict[str, int] = {}
        self.finished = False
        self.cond = threading.Condition()
        self.subscribers = 0
        self.detached_at = time.monotonic()

    def append(self, event: dict[str, Any], *, last_line_unterminated: bool = False) -> None:
        with self.cond:
            seq = len(self.lines) + 1
            event_id = f"ev_{self._short}_{seq:04d}"
            event = {"id": event_id, **event}
            line = json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()
            self.lines.append(line if last_line_unterminated else line + b"\n")
            self.index[event_id] = seq - 1
            self.cond.notify_all()

    def finish(self) -> None:
        with self.cond:
            self.finished = True
            self.detached_at = time.monotonic()
            self.cond.notify_all()

    def attach(self) -> None:
        with self.cond:
            self.subscribers += 1

    def detach(self) -> None:
        with self.cond:
            self.subscribers -= 1
            self.detached_at = time.monotonic()

    def expired(self, now: float) -> bool:
        with self.cond:
            return self.subscribers == 0 and now - self.detached_at > RESUME_WINDOW


class RunStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs: dict[str, Run] = {}
        self._gone: dict[str, float] = {}

    def add(self, run: Run) -> None:
        with self._lock:
            self._runs[run.id] = run

    def get(self, run_id: str) -> tuple[Run | None, bool]:
        """The run, or (None, True) when it existed but its window has passed."""
        now = time.monotonic()
        with self._lock:
            for rid in [r for r, run in self._runs.items() if run.expired(now)]:
                del self._runs[rid]
                self._gone[rid] = now
            if len(self._gone) > 10000:
                self._gone = dict(list(self._gone.items())[-5000:])
            run = self._runs.get(run_id)
            return run, run is None and run_id in self._gone


# ------------------------------------------------------------------- what runs say


def _lockfile(count: int) -> str:
    """A package-lock.json (1400 packages: about 470 KB): one very long NDJSON line."""
    packages = {}
    for i in range(count):
        name = f"node_modules/@floe-dep/pkg-{i:04d}"
        packages[name] = {
            "version": f"{i % 7}.{i % 13}.{i % 5}",
            "resolved": f"https://registry.npmjs.org/@floe-dep/pkg-{i:04d}/-/pkg-{i:04d}.tgz",
            "integrity": "sha512-" + ("Zm9vYmFy" * 10),
            "license": "MIT",
            "dev": bool(i % 3 == 0),
        }
    return json.dumps(
        {"name": "app", "lockfileVersion": 3, "requires": True, "packages": packages},
        indent=2,
    )


def build_script(
    prompt: str, *, fail: bool, bug: str | None, lockfile_packages: int = 1400
) -> Iterator[tuple[float, dict]]:
    """(delay before it, event) for each event of a build, terminal last."""
    title = prompt.strip()[:60]
    files = [
        (
            "src/App.tsx",
            "ui",
            f"export default function App() {{\n  // {title}\n  return <Landing />;\n}}\n",
        ),
        ("src/components/Hero.tsx", "ui", "export const Hero = () => <h1>Ship faster ✨</h1>;\n"),
        ("src/components/Pricing.tsx", "ui", "export const Pricing = () => <table>…</table>;\n"),
        (
            "src/components/Footer.tsx",
            "ui",
            "export const Footer = () => <footer>© PromptFloe</footer>;\n",
        ),
        ("package-lock.json", "deps", None),
    ]
    plan = {
        "type": "plan",
        "summary": f"Landing page + pricing + footer for “{title}”",
        "manifest": [{"path": p, "agent": a} for p, a, _ in files],
    }
    events: list[tuple[float, dict]] = [(0.15, plan)]
    for n, (path, _agent, contents) in enumerate(files):
        if n == 3:
            events.append(
                (0.08, {"type": "augmenter", "augmenter": "a11y-fixer", "state": "started"})
            )
        if contents is None:
            contents = _lockfile(lockfile_packages)
        events.append((0.12, {"type": "file", "path": path, "contents": contents}))
    events.append((0.1, {"type": "augmenter", "augmenter": "a11y-fixer", "state": "applied"}))
    events.append(
        (
            0.2,
            {
                "type": "review",
                "notes": "Looks good — minor a11y nits patched.",
                "patchedFiles": ["src/components/Hero.tsx"],
            },
        )
    )
    app_id = "app_" + secrets.token_hex(6)
    events.append(
        (
            0.15,
            {
                "type": "ready",
                "appId": app_id,
                "previewUrl": f"https://{app_id}.preview.promptfloe.app/",
            },
        )
    )
    if fail:
        events = [
            *events[:3],
            (
                0.1,
                {
                    "type": "error",
                    "error": {
                        "code": "agent_crashed",
                        "message": "The code agent stopped unexpectedly.",
                    },
                },
            ),
        ]
    if bug == "ordering":
        events[0], events[1] = events[1], events[0]
    if bug == "terminal":
        events.append((0.05, {"type": "augmenter", "augmenter": "a11y-fixer", "state": "applied"}))
    yield from events


def skill_script(
    skill: str, prompt: str, *, fail: bool, bug: str | None
) -> Iterator[tuple[float, dict]]:
    started = time.monotonic()
    words = (
        f"Running {skill} on your request. Headline reads well; the pricing "
        "table lacks a clear default plan, and the footer links need descriptive text."
    ).split(" ")
    events: list[tuple[float, dict]] = [
        (0.1, {"type": "progress", "stage": "crawl", "step": 1, "of": 3}),
    ]
    for w in words[:8]:
        events.append((0.04, {"type": "chunk", "delta": w + " "}))
    events.append((0.1, {"type": "progress", "stage": "analyse", "step": 2, "of": 3}))
    for w in words[8:]:
        events.append((0.04, {"type": "chunk", "delta": w + " "}))
    events.append(
        (0.1, {"type": "insight", "chip": {"label": "No default plan", "severity": "medium"}})
    )
    events.append((0.1, {"type": "progress", "stage": "patch", "step": 3, "of": 3}))
    events.append(
        (0.1, {"type": "file_written", "path": "src/components/Pricing.tsx", "status": "modified"})
    )
    if fail:
        events = [
            *events[:6],
            (
                0.1,
                {
                    "type": "error",
                    "error": {"code": "skill_failed", "message": "The skill could not finish."},
                },
            ),
        ]
    yield from events
    if fail:
        return
    yield (
        0.1,
        {
            "type": "done",
            "tokensUsed": 37 * len(words),
            "durationMs": int((time.monotonic() - started) * 1000),
        },
    )
    if bug == "terminal":
        yield 0.05, {"type": "chunk", "delta": "(late)"}


def produce(run: Run, script: Iterator[tuple[float, dict]], bug: str | None) -> None:
    """Play a script into a run, in real time, whether anyone listens or not."""
    try:
        item = next(script, None)
        while item is not None:
            delay, event = item
            time.sleep(delay)
            item = next(script, None)  # look ahead: is this event the last one?
            run.append(event, last_line_unterminated=bug == "framing" and item is None)
    finally:
        run.finish()


# ------------------------------------------------------------------------- HTTP


class HttpError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "floe-edge/2.3"
    sys_version = ""
    timeout = READ_TIMEOUT  # StreamRequestHandler sets it on the socket
    bug: str | None = None
    lockfile_packages = 1400
    store: RunStore
    quiet = True

    # -- plumbing

    def log_message(self, format: str, *args: Any) -> None:
        if not self.quiet:
            sys.stderr.write(f"{self.address_string()} - {format % args}\n")

    def _send_json(
        self, status: int, payload: dict, headers: dict[str, str] | None = None, close: bool = False
    ) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _error(self, err: HttpError, close: bool = False) -> None:
        self._send_json(
            err.status,
            {"error": {"code": err.code, "message": err.message}},
            err.headers,
            close=close,
        )

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            raise HttpError(411, "length_required", "Send the request body with a Content-Length.")
        raw = self.headers.get("Content-Length")
        if raw is None:
            return b""
        try:
            length = int(raw)
            if length < 0:
                raise ValueError
        except ValueError:
            raise HttpError(400, "bad_request", "Content-Length is not a number.") from None
        if length > MAX_BODY:
            raise HttpError(
                413, "payload_too_large", f"Request bodies are limited to {MAX_BODY} bytes."
            )
        return self.rfile.read(length)

    def _authorise(self) -> None:
        value = self.headers.get("Authorization")
        if value is None:
            raise HttpError(
                401,
                "unauthorized",
                "Missing Authorization header.",
                {"WWW-Authenticate": 'Bearer realm="promptfloe"'},
            )
        match = re.fullmatch(r"[Bb]earer +(\S+)", value.strip())
        if not match:
            raise HttpError(
                401,
                "unauthorized",
                "Authorization must be 'Bearer <api key>'.",
                {"WWW-Authenticate": 'Bearer realm="promptfloe", error="invalid_request"'},
            )
        key = match.group(1)
        if self.bug == "auth":
            ok = len(key) >= 10 and key[:10] == API_KEY[:10]
        else:
            ok = hmac.compare_digest(key.encode(), API_KEY.encode())
        if not ok:
            raise HttpError(
                401,
                "unauthorized",
                "Invalid API key.",
                {"WWW-Authenticate": 'Bearer realm="promptfloe", error="invalid_token"'},
            )

    def _json_body(self, body: bytes) -> Any:
        ctype = self.headers.get("Content-Type", "")
        media = ctype.split(";")[0].strip().lower()
        if media and media != "application/json" and not media.endswith("+json"):
            raise HttpError(415, "unsupported_media_type", "Send the body as application/json.")

        def no_constants(name: str) -> Any:
            raise ValueError(f"{name} is not JSON")

        try:
            return json.loads(body.decode("utf-8"), parse_constant=no_constants)
        except (UnicodeDecodeError, ValueError):
            raise HttpError(400, "invalid_json", "The request body is not valid JSON.") from None

    def _prompt(self, payload: Any, *, lenient: bool) -> str:
        prompt = payload.get("prompt") if isinstance(payload, dict) else None
        if isinstance(prompt, str) and prompt.strip() and len(prompt) <= MAX_PROMPT:
            return prompt
        if lenient:
            return "an app"
        if not isinstance(payload, dict):
            raise HttpError(422, "validation_failed", "The body must be a JSON object.")
        if "prompt" not in payload:
            raise HttpError(422, "validation_failed", "prompt is required.")
        if not isinstance(prompt, str):
            raise HttpError(422, "validation_failed", "prompt must be a string.")
        if len(prompt) > MAX_PROMPT:
            raise HttpError(
                422, "validation_failed", f"prompt is longer than {MAX_PROMPT} characters."
            )
        raise HttpError(422, "validation_failed", "prompt must not be blank.")

    # -- routing

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        try:
            url = urlsplit(self.path)
            path = url.path
            try:
                body = self._read_body() if method in ("POST", "PUT", "PATCH") else b""
            except HttpError as err:
                self._error(err, close=True)
                return
            if path == _BUILD_PATH:
                self._only(method, "POST")
                self._build(body)
            elif m := _SKILL_PATH.match(path):
                self._only(method, "POST")
                self._skill(unquote(m.group(1)), body)
            elif m := _EVENTS_PATH.match(path):
                self._only(method, "GET")
                self._events(unquote(m.group(1)), url.query)
            else:
                raise HttpError(404, "not_found", "No such endpoint.")
        except HttpError as err:
            self._error(err)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            self.close_connection = True

    def _only(self, method: str, allowed: str) -> None:
        if method != allowed:
            raise HttpError(405, "method_not_allowed", f"Use {allowed}.", {"Allow": allowed})

    def _simulated_failure(self) -> bool:
        return self.headers.get(SIMULATE_HEADER, "").strip().lower() == "failure"

    def _build(self, body: bytes) -> None:
        self._authorise()
        payload = self._json_body(body)
        prompt = self._prompt(payload, lenient=self.bug == "input")
        run = Run("build")
        script = build_script(
            prompt,
            fail=self._simulated_failure(),
            bug=self.bug,
            lockfile_packages=self.lockfile_packages,
        )
        self._start(run, script)

    def _skill(self, skill: str, body: bytes) -> None:
        self._authorise()
        if skill not in SKILLS:
            raise HttpError(404, "skill_not_found", f"No skill named {skill!r}.")
        payload = self._json_body(body)
        prompt = self._prompt(payload, lenient=False)
        run = Run("skill")
        script = skill_script(skill, prompt, fail=self._simulated_failure(), bug=self.bug)
        self._start(run, script)

    def _start(self, run: Run, script: Iterator[tuple[float, dict]]) -> None:
        self.store.add(run)
        run.attach()  # before the producer starts, so the run cannot expire under us
        threading.Thread(target=produce, args=(run, script, self.bug), daemon=True).start()
        self._stream(run, 0, attached=True)

    def _events(self, run_id: str, query: str) -> None:
        self._authorise()
        run, gone = self.store.get(run_id)
        if run is None:
            if gone:
                raise HttpError(410, "run_expired", "This run is past its 5-minute keep-alive.")
            raise HttpError(404, "not_found", "No such run.")
        params = parse_qs(query, keep_blank_values=True)
        start = 0
        cursors = params.get("cursor")
        if cursors is not None:
            if len(cursors) != 1:
                raise HttpError(400, "bad_request", "Give one cursor.")
            with run.cond:
                position = run.index.get(cursors[0])
            if position is None:
                raise HttpError(400, "bad_request", "cursor is not an event of this run.")
            start = position + 1
            if self.bug == "reconnection":
                start += 1
        self._stream(run, start, attached=False)

    def _stream(self, run: Run, start: int, *, attached: bool) -> None:
        if not attached:
            run.attach()
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/x-ndjson; charset=utf-8")
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("X-Accel-Buffering", "no")
            self.send_header("X-Run-Id", run.id)
            self.end_headers()
            position = start
            while True:
                with run.cond:
                    while position >= len(run.lines) and not run.finished:
                        run.cond.wait(timeout=5.0)
                    batch = run.lines[position:]
                    done = run.finished
                position += len(batch)
                for line in batch:
                    for i in range(0, len(line), CHUNK):
                        part = line[i : i + CHUNK]
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                if done and position >= len(run.lines):
                    break
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError, TimeoutError, OSError):
            self.close_connection = True
        finally:
            run.detach()


# ----------------------------------------------------------------------- serving


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up mid-answer is routine for a streaming server; anything
        else is printed as usual."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def make_server(
    port: int = 0, bug: str | None = None, quiet: bool = True, lockfile_packages: int = 1400
) -> _Server:
    if bug is not None and bug not in BUGS:
        raise ValueError(f"unknown bug {bug!r}; one of {', '.join(BUGS)}")
    handler = type(
        "FloeHandler",
        (Handler,),
        {"bug": bug, "store": RunStore(), "quiet": quiet, "lockfile_packages": lockfile_packages},
    )
    return _Server(("127.0.0.1", port), handler)


@contextlib.contextmanager
def serve(bug: str | None = None, port: int = 0, lockfile_packages: int = 1400) -> Iterator[str]:
    """Run the server on 127.0.0.1 in a background thread; yield its base URL."""
    server = make_server(port, bug, lockfile_packages=lockfile_packages)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--bug", choices=BUGS, default=None)
    parser.add_argument("--verbose", action="store_true", help="log every request")
    parser.add_argument(
        "--lockfile-packages",
        type=int,
        default=1400,
        help="packages in the generated package-lock.json (1400: a 470 KB line; 3200: over 1 MiB)",
    )
    args = parser.parse_args(argv)
    server = make_server(
        args.port, args.bug, quiet=not args.verbose, lockfile_packages=args.lockfile_packages
    )
    url = f"http://127.0.0.1:{server.server_port}"
    print(f"PromptFloe (independent) on {url}  bug={args.bug}", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
