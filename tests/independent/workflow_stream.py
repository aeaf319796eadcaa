"""An independent implementation of the "workflow stream" API, written from its
documentation only (seed 003): run a workflow and stream its output as plain text,
opened with a single-use stream token issued by ``GET /api/v1/token``.

Plain ``socket`` + ``threading`` with ``h11`` for HTTP/1.1; h11 does the chunked
transfer encoding. Nothing here is shared with ``streamconform``.

Choices made where the documentation is silent (see /work/scratch/indep-workflow.md):

- the token endpoint takes the API key as ``Authorization: Bearer <key>`` and answers
  ``{"object": "stream_token", "token", "token_type", "expires_at", "ttl_seconds",
  "single_use"}`` with ``Cache-Control: no-store``; tokens live 20 s;
- error bodies are ``{"error": {"code": ..., "message": ...}}`` (an object, not a string);
- input variables are a JSON object whose values may be any JSON value (strings, numbers,
  booleans, null, arrays, objects, e.g. ``{"image": {"url": ...}}``); an absent (zero-length) body
  is read as ``{}``; anything else (non-JSON, an array, a scalar) is 400;
- a workflow that fails before producing output answers 500; an unknown or unpublished
  workflow 404; an account without credits 402 (its tokens are issued, the run refuses);
- every stream is cut at 300 s (the document's maximum duration).

Planted bugs (``bug=``): ``framing`` (one word sent in Latin-1: invalid UTF-8),
``buffered`` (whole body in one write at the end), ``terminal`` (the failing workflow
answers 200 and puts the error text in the stream), ``tokens`` (a token works twice),
``auth`` (the token endpoint compares only a prefix of the API key), ``input`` (a JSON
array body is accepted as the variables).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import json
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import h11

BUGS = ("framing", "buffered", "terminal", "tokens", "auth", "input")

API_KEY = "wfk_live_9Qm2Xc7LpR4tVb8Nz3Hs6Jd1"
NO_CREDIT_API_KEY = "wfk_live_0Ee5Rr8Ty2Uu4Ii6Oo1Pp3Aa"
TOKEN_TTL = 20.0  # seconds
MAX_DURATION = 300.0  # seconds, documented
MAX_BODY = 256 * 1024
CHUNK_DELAY = 0.06

# workflow id -> status
WORKFLOWS = {
    "wf_tutor_42": "published",  # the normal one
    "wf_abc123": "published",  # the document's example id
    "wf_draft_7": "draft",  # exists but not published: 404
    "wf_broken_9": "broken",  # fails during execution, before any output: 500
    "wf_forever_1": "endless",  # would generate for ever: cut at 300 s
}


@dataclass
class _Token:
    account: str
    expires: float
    uses: int = 0


@dataclass
class _State:
    bug: str | None
    lock: threading.Lock = field(default_factory=threading.Lock)
    tokens: dict[str, _Token] = field(default_factory=dict)
    credits: dict[str, int] = field(default_factory=lambda: {API_KEY: 10**12, NO_CREDIT_API_KEY: 0})


class _Reply(Exception):
    """A complete JSON answer, raised from request handling."""

    def __init__(self, status: int, code: str, message: str, headers: list | None = None):
        super().__init__(message)
        self.status = status
        self.body = {"error": {"code": code, "message": message}}
        self.headers = headers or []


_REASONS = {
    200: b"OK",
    400: b"Bad Request",
    401: b"Unauthorized",
    402: b"Payment Required",
    404: b"Not Found",
    405: b"Method Not Allowed",
    413: b"Payload Too Large",
    500: b"Internal Server Error",
}


class _Conn:
    def __init__(self, sock: socket.socket, state: _State):
        self.sock = sock
        self.state = state
        self.h = h11.Connection(h11.SERVER)

    # -- wire helpers ---------------------------------------------------------------
    def _send(self, event: Any) -> None:
        data = self.h.send(event)
        if data:
            self.sock.sendall(data)

    def _next(self) -> Any:
        while True:
            ev = self.h.next_event()
            if ev is h11.NEED_DATA:
                try:
                    data = self.sock.recv(65536)
                except (TimeoutError, OSError):
                    data = b""
                self.h.receive_data(data)
                continue
            return ev

    def _json(self, status: int, obj: Any, headers: list | None = None) -> None:
        body = json.dumps(obj).encode()
        hdrs = [
            ("content-type", "application/json"),
            ("content-length", str(len(body))),
            ("cache-control", "no-store"),
        ] + (headers or [])
        self._send(h11.Response(status_code=status, headers=hdrs, reason=_REASONS.get(status, b"")))
        self._send(h11.Data(data=body))
        self._send(h11.EndOfMessage())

    # -- connection loop --------------------------------------------------------------
    def run(self) -> None:
        self.sock.settimeout(60)
        try:
            while True:
                try:
                    ev = self._next()
                except h11.RemoteProtocolError:
                    if self.h.our_state in (h11.IDLE, h11.SEND_RESPONSE):
                        with contextlib.suppress(Exception):
                            self._json(
                                400,
                                {
                                    "error": {
                                        "code": "bad_request",
                                        "message": "Malformed HTTP request.",
                                    }
                                },
                            )
                    return
                if isinstance(ev, h11.ConnectionClosed) or ev is h11.PAUSED:
                    return
                if not isinstance(ev, h11.Request):
                    return
                body = b""
                too_big = False
                while True:
                    more = self._next()
                    if isinstance(more, h11.Data):
                        if len(body) + len(more.data) > MAX_BODY:
                            too_big = True
                        else:
                            body += more.data
                    elif isinstance(more, h11.EndOfMessage):
                        break
                    else:
                        return
                try:
                    if too_big:
                        raise _Reply(413, "payload_too_large", "Request body too large.")
                    self._handle(ev, body)
                except _Reply as r:
                    self._json(r.status, r.body, r.headers)
                if self.h.our_state is h11.MUST_CLOSE or self.h.their_state is h11.MUST_CLOSE:
                    return
                if self.h.our_state is not h11.DONE:
                    return
                self.h.start_next_cycle()
        except (OSError, h11.LocalProtocolError):
            return
        finally:
            with contextlib.suppress(OSError):
                self.sock.shutdown(socket.SHUT_RDWR)
            self.sock.close()

    # -- routing -------------------------------------------------------------------
    def _handle(self, req: h11.Request, body: bytes) -> None:
        method = req.method.decode("ascii", "replace").upper()
        target = urlsplit(req.target.decode("latin-1"))
        parts = [unquote(p) for p in target.path.split("/") if p]
        query = parse_qs(target.query, keep_blank_values=True)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in req.headers}

        if parts == ["api", "v1", "token"]:
            if method != "GET":
                raise _Reply(405, "method_not_allowed", "Use GET.", [("allow", "GET")])
            return self._issue_token(headers)
        if len(parts) == 5 and parts[:3] == ["api", "v1", "run"] and parts[4] == "stream":
            if method != "POST":
                raise _Reply(405, "method_not_allowed", "Use POST.", [("allow", "POST")])
            return self._run_stream(parts[3], query, body)
        if len(parts) == 4 and parts[:3] == ["api", "v1", "run"]:
            if method != "POST":
                raise _Reply(405, "method_not_allowed", "Use POST.", [("allow", "POST")])
            return self._run_blocking(parts[3], headers, body)
        raise _Reply(404, "not_found", "No such route.")

    # -- auth ------------------------------------------------------------------------
    def _api_key(self, headers: dict[str, str]) -> str:
        auth = headers.get("authorization", "")
        scheme, _, value = auth.strip().partition(" ")
        value = value.strip()
        if scheme.lower() != "bearer" or not value:
            raise _Reply(
                401, "missing_api_key", "Send your API key as 'Authorization: Bearer <key>'."
            )
        for known in self.state.credits:
            if self.state.bug == "auth":
                if value.startswith(known[:12]):
                    return known
            elif secrets.compare_digest(value.encode(), known.encode()):
                return known
        raise _Reply(401, "invalid_api_key", "The API key is not valid.")

    def _issue_token(self, headers: dict[str, str]) -> None:
        account = self._api_key(headers)
        token = "wst_" + secrets.token_urlsafe(24)
        now = time.time()
        with self.state.lock:
            # drop stale tokens
            stale = time.monotonic() - 600
            for t in [t for t, v in self.state.tokens.items() if v.expires < stale]:
                del self.state.tokens[t]
            self.state.tokens[token] = _Token(account, time.monotonic() + TOKEN_TTL)
        expires_at = _dt.datetime.fromtimestamp(now + TOKEN_TTL, _dt.UTC)
        self._json(
            200,
            {
                "object": "stream_token",
                "token": token,
                "token_type": "stream",
                "expires_at": expires_at.isoformat(timespec="seconds").replace("+00:00", "Z"),
                "ttl_seconds": int(TOKEN_TTL),
                "single_use": True,
            },
        )

    def _spend(self, query: dict[str, list[str]]) -> str:
        values = query.get("token", [])
        if not values or not values[0]:
            raise _Reply(401, "missing_token", "A stream token is required (?token=...).")
        allowed = 2 if self.state.bug == "tokens" else 1
        with self.state.lock:  # check and consume atomically
            tok = self.state.tokens.get(values[0])
            if tok is None:
                raise _Reply(401, "invalid_token", "The stream token is not valid.")
            if tok.uses >= allowed:
                raise _Reply(401, "token_used", "The stream token has already been used.")
            tok.uses += 1  # consumed on the first request, whatever its outcome
            if time.monotonic() > tok.expires:
                raise _Reply(401, "token_expired", "The stream token has expired.")
            return tok.account

    # -- input -----------------------------------------------------------------------
    def _variables(self, body: bytes) -> dict[str, Any]:
        if not body:  # no body at all: a workflow run without input variables
            return {}
        try:
            value = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise _Reply(400, "invalid_json", "The request body is not valid JSON.") from None
        if self.state.bug == "input" and isinstance(value, list):
            return {str(i): v for i, v in enumerate(value)}
        if not isinstance(value, dict):
            raise _Reply(
                400, "invalid_input", "Input variables must be a JSON object of key/value pairs."
            )
        return value

    def _workflow(self, workflow_id: str) -> str:
        status = WORKFLOWS.get(workflow_id)
        if status is None or status == "draft":
            raise _Reply(404, "workflow_not_found", "Workflow not found or not published.")
        return status

    def _charge_check(self, account: str) -> None:
        with self.state.lock:
            if self.state.credits.get(account, 0) <= 0:
                raise _Reply(402, "no_credits", "No credits remaining on the account.")

    def _charge(self, account: str, n: int) -> None:
        with self.state.lock:
            self.state.credits[account] = max(0, self.state.credits.get(account, 0) - n)

    # -- the stream ------------------------------------------------------------------
    def _run_stream(self, workflow_id: str, query: dict[str, list[str]], body: bytes) -> None:
        account = self._spend(query)
        status = self._workflow(workflow_id)
        self._charge_check(account)
        variables = self._variables(body)
        if status == "broken" and self.state.bug != "terminal":
            raise _Reply(500, "execution_failed", "Something went wrong during execution.")

        self._send(
            h11.Response(
                status_code=200,
                reason=b"OK",
                headers=[
                    ("content-type", "text/plain; charset=utf-8"),
                    ("cache-control", "no-cache"),
                    ("x-accel-buffering", "no"),
                ],
            )
        )
        started = time.monotonic()
        held: list[bytes] = []
        sent = 0
        for piece in _generate(variables, status, self.state.bug):
            if time.monotonic() - started >= MAX_DURATION:
                break  # documented maximum: the stream times out here
            if self.state.bug == "buffered":
                held.append(piece)
            else:
                self._send(h11.Data(data=piece))
            sent += 1
            time.sleep(CHUNK_DELAY)
        if held:
            self._send(h11.Data(data=b"".join(held)))
        self._send(h11.EndOfMessage())
        self._charge(account, sent)

    def _run_blocking(self, workflow_id: str, headers: dict[str, str], body: bytes) -> None:
        account = self._api_key(headers)
        status = self._workflow(workflow_id)
        self._charge_check(account)
        variables = self._variables(body)
        if status in ("broken", "endless"):
            raise _Reply(500, "execution_failed", "Something went wrong during execution.")
        text = b"".join(_generate(variables, status, None)).decode("utf-8")
        self._charge(account, len(text.split()))
        self._json(
            200,
            {"workflow_id": workflow_id, "output": text, "usage": {"tokens": len(text.split())}},
        )


def _describe(variables: dict[str, Any]) -> str:
    topic = variables.get("topic")
    if isinstance(topic, str) and topic.strip():
        return topic.strip()[:200]
    if variables:
        key, value = next(iter(variables.items()))
        shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        return f"{key} = {shown}"[:200]
    return "your question"


def _generate(variables: dict[str, Any], status: str, bug: str | None) -> Iterator[bytes]:
    """The workflow's output, token by token, as UTF-8 bytes."""
    subject = _describe(variables)
    words = (
        f"Let’s look at {subject} step by step. First, the main idea — in plain words: "
        "every process has inputs, a transformation and outputs. Next, a café-style "
        "analogy ☕ helps: ingredients go in, something new comes out. Finally, try "
        "explaining it back in your own words."
    ).split(" ")
    tokens = [w + " " for w in words[:-1]] + [words[-1]]
    if status == "broken":  # only reached with bug == "terminal"
        for t in tokens[:6]:
            yield t.encode()
        yield b"\n\nError: Something went wrong during execution."
        return
    if status == "endless":
        n = 0
        while True:
            yield f"{tokens[n % len(tokens)]}".encode()
            n += 1
    for t in tokens:
        if bug == "framing" and "café" in t:
            yield t.encode("latin-1", "replace")
            continue
        data = t.encode()
        if "☕" in t:  # a multi-byte character split across two chunks, as byte tokens are
            cut = data.index("☕".encode()) + 1
            yield data[:cut]
            yield data[cut:]
            continue
        yield data


def _accept_loop(listener: socket.socket, state: _State, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            sock, _ = listener.accept()
        except OSError:
            return
        threading.Thread(target=_Conn(sock, state).run, daemon=True).start()


@contextlib.contextmanager
def serve(bug: str | None = None, port: int = 0) -> Iterator[str]:
    """Run the server on 127.0.0.1 in a background thread; yield its base URL."""
    if bug is not None and bug not in BUGS:
        raise ValueError(f"unknown bug {bug!r}; one of {', '.join(BUGS)}")
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(128)
    stop = threading.Event()
    thread = threading.Thread(target=_accept_loop, args=(listener, _State(bug), stop), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        with contextlib.suppress(OSError):
            listener.shutdown(socket.SHUT_RDWR)
        listener.close()
        thread.join(timeout=5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--bug", choices=BUGS, default=None)
    args = parser.parse_args()
    with serve(args.bug, args.port) as url:
        print(f"workflow stream server on {url} (bug={args.bug})", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()
