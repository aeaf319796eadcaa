"""An independent implementation of the Prism agents deployment event stream.

Written from the API document alone (GET /v1/deployments/:deployment_id/events: a
long-lived SSE stream of every event of a deployment, with ids and Last-Event-ID
replay), as a second opinion on the conformance suite. Standard library only: raw
asyncio streams, hand-written HTTP/1.1 parsing, chunked transfer encoding.

Where the document is silent this server makes its own choices (see the module
constants and the report in /work/scratch/indep-prism.md):

* runs are started with ``POST /v1/deployments/{deployment_id}/invoke``
  ``{"input": str, "thread_id"?: str, "metadata"?: object}``, answered
  ``202 {"run_id", "thread_id", "deployment_id", "status": "queued"}``;
* errors are ``{"error": {"code": ..., "message": ..., "request_id": ...}}``;
* event ids are random (``evt_`` + 16 base32 characters), unique, not ordered;
* an unknown Last-Event-ID is not an error: the stream continues live, with a comment;
* ``filesystem`` events are workspace (deployment) events and carry no run_id;
* CRLF line endings, a ``retry:`` field up front, comment heartbeats, and the JSON of
  tool calls and results pretty-printed over several ``data:`` lines.

``bug`` plants one defect at start-up: framing, ordering, filter, terminal,
reconnection, reconnection-log, auth, input.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hmac
import json
import secrets
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

BUGS = (
    "framing",
    "ordering",
    "filter",
    "terminal",
    "reconnection",
    "reconnection-log",
    "auth",
    "input",
)

# API keys (our own format) and their scopes. The second can start runs but not read.
FULL_KEY = "prk_test_7c1d9e4a2b8f4e06a9d3b5c1"
WRITE_ONLY_KEY = "prk_test_0f6e2a9c4d1b47e8b3a5c7d9"
KEYS: dict[str, frozenset[str]] = {
    FULL_KEY: frozenset({"deployments:read", "runs:write"}),
    WRITE_ONLY_KEY: frozenset({"runs:write"}),
}
DEPLOYMENT_IDS = ("dep_Lq84Zt", "dep_7xK9s2")

MAX_HEADER_BYTES = 16 * 1024
MAX_BODY_BYTES = 64 * 1024
MAX_INPUT_CHARS = 16 * 1024
FIRST_REQUEST_TIMEOUT = 15.0
KEEPALIVE_TIMEOUT = 30.0
WRITE_TIMEOUT = 30.0
HEARTBEAT_SECONDS = 10.0
RETRY_MS = 1000
LOG_RETENTION = 20_000
SUBSCRIBER_BACKLOG = 10_000
FAIL_MARKER = "#broken-tool"

_B32 = "abcdefghijklmnopqrstuvwxyz234567"


def _token(n: int) -> str:
    return "".join(secrets.choice(_B32) for _ in range(n))


def _now() -> str:
    return (
        time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
        + f".{int(time.time() * 1000) % 1000:03d}Z"
    )


# --------------------------------------------------------------------------- events


@dataclass(slots=True)
class Event:
    id: str
    type: str
    data: dict[str, Any]
    run_id: str | None
    thread_id: str | None
    multiline: bool = False
    no_id: bool = False
    no_blank: bool = False

    def encode(self) -> bytes:
        if self.multiline:
            payload = json.dumps(self.data, ensure_ascii=False, indent=2)
        else:
            payload = json.dumps(self.data, ensure_ascii=False, separators=(",", ":"))
        lines = [f"event: {self.type}"]
        if not self.no_id:
            lines.append(f"id: {self.id}")
        lines.extend("data: " + line for line in payload.split("\n"))
        tail = "\r\n" if self.no_blank else "\r\n\r\n"
        return ("\r\n".join(lines) + tail).encode("utf-8")


@dataclass(eq=False)
class Subscriber:
    thread_id: str | None
    run_id: str | None
    bug: str | None
    queue: asyncio.Queue[Event | None] = field(
        default_factory=lambda: asyncio.Queue(SUBSCRIBER_BACKLOG)
    )

    def wants(self, ev: Event) -> bool:
        if self.thread_id is not None and ev.thread_id != self.thread_id:
            return False
        # planted "filter": the run_id filter is ignored
        return self.run_id is None or ev.run_id == self.run_id or self.bug == "filter"

    def offer(self, ev: Event) -> None:
        if not self.wants(ev):
            return
        try:
            self.queue.put_nowait(ev)
        except asyncio.QueueFull:  # a reader too slow to keep up: cut it off
            with contextlib.suppress(asyncio.QueueEmpty):
                while True:
                    self.queue.get_nowait()
            self.queue.put_nowait(None)


class Deployment:
    def __init__(self, deployment_id: str) -> None:
        self.id = deployment_id
        self.default_thread = "thr_default_" + secrets.token_hex(2)[:3]
        self.log: list[Event] = []
        self.base = 0  # absolute position of log[0]
        self.position: dict[str, int] = {}
        self.subscribers: set[Subscriber] = set()

    def publish(self, ev: Event) -> None:
        self.position[ev.id] = self.base + len(self.log)
        self.log.append(ev)
        if len(self.log) > LOG_RETENTION:
            drop = len(self.log) // 2
            for old in self.log[:drop]:
                self.position.pop(old.id, None)
            del self.log[:drop]
            self.base += drop
        for sub in list(self.subscribers):
            sub.offer(ev)

    def after(self, event_id: str, skip: int = 0) -> list[Event] | None:
        pos = self.position.get(event_id)
        if pos is None:
            return None
        return self.log[pos - self.base + 1 + skip :]


class Agent:
    """Plays one scripted run of the agent on a deployment, in real time."""

    def __init__(self, app: App, dep: Deployment, run_id: str, thread_id: str, text: str) -> None:
        self.app, self.dep, self.run_id, self.thread_id, self.text = (
            app,
            dep,
            run_id,
            thread_id,
            text,
        )

    def emit(
        self,
        etype: str,
        data: dict[str, Any],
        *,
        multiline: bool = False,
        no_id: bool = False,
        no_blank: bool = False,
    ) -> Event:
        payload = {"run_id": self.run_id, "thread_id": self.thread_id, **data, "created_at": _now()}
        ev = Event(
            "evt_" + _token(16),
            etype,
            payload,
            self.run_id,
            self.thread_id,
            multiline,
            no_id,
            no_blank,
        )
        self.dep.publish(ev)
        return ev

    def status(self, status: str, **extra: Any) -> Event:
        return self.emit("run_status", {"status": status, **extra})

    async def tokens(self, parts: list[str]) -> None:
        for part in parts:
            self.emit("token", {"delta": part})
            await asyncio.sleep(0.05)

    async def play(self) -> None:
        bug = self.app.bug
        fail = FAIL_MARKER in self.text
        await asyncio.sleep(0.05)
        self.status("running")
        await asyncio.sleep(0.05)
        await self.tokens(
            ["Here ", "are ", "five ", "directions ", "for ", "the ", "café ", "launch — "]
        )
        self.emit(
            "tool_call",
            {"tool": "generate_video", "arguments": {"prompt": self.text[:200], "duration_s": 15}},
            multiline=True,
            no_blank=bug == "framing",  # planted: the event goes out without its blank line
        )
        await asyncio.sleep(0.1)
        if fail:
            self.emit(
                "tool_result",
                {
                    "tool": "generate_video",
                    "result": {"status": "failed", "error": "renderer unavailable"},
                },
                multiline=True,
            )
            await asyncio.sleep(0.05)
            self.status("error", error={"code": "tool_failed", "message": "generate_video failed"})
            return
        self.emit(
            "tool_result",
            {
                "tool": "generate_video",
                "result": {"status": "queued", "job_id": "vid_" + _token(8)},
            },
            multiline=True,
        )
        await asyncio.sleep(0.05)
        self.dep.publish(
            Event(
                "evt_" + _token(16),
                "filesystem",
                {
                    "deployment_id": self.dep.id,
                    "path": "drafts/spring-launch.md",
                    "change": "created",
                    "bytes": 1824,
                    "created_at": _now(),
                },
                None,
                None,
            )
        )
        await asyncio.sleep(0.05)
        self.emit(
            "steering_request",
            {"summary": "About to post 5 ads to Meta. Approve?", "options": ["approve", "reject"]},
            no_id=bug == "ordering",
        )  # planted: the event goes out without its id line
        self.status("waiting_on_human")
        await asyncio.sleep(0.25)  # this deployment's approval policy: auto-approve
        self.status("running", approved_by="policy:auto")
        await asyncio.sleep(0.05)
        await self.tokens(["1. Bloom ", "season\n", "2. Fresh ", "starts ", "✿"])
        self.status("completed")
        if bug == "terminal":
            await asyncio.sleep(0.05)
            self.emit("token", {"delta": " (done)"})


# --------------------------------------------------------------------------- HTTP


class HttpError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


REASONS = {
    200: "OK",
    202: "Accepted",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    411: "Length Required",
    413: "Content Too Large",
    422: "Unprocessable Content",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    501: "Not Implemented",
    505: "HTTP Version Not Supported",
}


@dataclass
class Request:
    method: str
    target: str
    version: str
    headers: dict[str, str]
    body: bytes = b""

    @property
    def path(self) -> str:
        return urllib.parse.urlsplit(self.target).path

    @property
    def query(self) -> dict[str, list[str]]:
        return urllib.parse.parse_qs(
            urllib.parse.urlsplit(self.target).query, keep_blank_values=True
        )

    @property
    def keep_alive(self) -> bool:
        conn = self.headers.get("connection", "").lower()
        if self.version == "HTTP/1.0":
            return "keep-alive" in conn
        return "close" not in conn


_TCHAR = set("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


async def read_request(reader: asyncio.StreamReader, timeout: float) -> Request | None:
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
    except asyncio.IncompleteReadError as exc:
        if exc.partial.strip():
            raise HttpError(400, "bad_request", "incomplete request head") from None
        return None
    except asyncio.LimitOverrunError:
        raise HttpError(431, "headers_too_large", "request head too large") from None
    except TimeoutError:
        return None
    if len(head) > MAX_HEADER_BYTES:
        raise HttpError(431, "headers_too_large", "request head too large")
    try:
        text = head.decode("latin-1")
    except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes anything
        raise HttpError(400, "bad_request", "undecodable head") from None
    lines = text.split("\r\n")
    while lines and lines[0] == "":  # tolerate stray CRLF before a request (RFC 9112 2.2)
        lines.pop(0)
    parts = lines[0].split(" ") if lines else []
    if len(parts) != 3 or not parts[0] or not parts[1]:
        raise HttpError(400, "bad_request", "malformed request line")
    method, target, version = parts
    if version not in ("HTTP/1.1", "HTTP/1.0"):
        raise HttpError(505, "http_version_not_supported", "HTTP/1.1 only")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        if line[0] in " \t":
            raise HttpError(400, "bad_request", "obsolete line folding")
        name, sep, value = line.partition(":")
        if not sep or not name or any(c not in _TCHAR for c in name):
            raise HttpError(400, "bad_request", "malformed header field")
        key = name.lower()
        value = value.strip(" \t")
        if key in headers:
            if key == "content-length" and headers[key] != value:
                raise HttpError(400, "bad_request", "conflicting Content-Length")
            headers[key] = headers[key] + ", " + value
        else:
            headers[key] = value
    req = Request(method, target, version, headers)
    te = headers.get("transfer-encoding")
    if te is not None:
        if te.lower() != "chunked" or "content-length" in headers:
            raise HttpError(400, "bad_request", "unsupported transfer coding")
        req.body = await _read_chunked(reader)
    elif "content-length" in headers:
        cl = headers["content-length"].split(",")[0].strip()
        if not cl.isdigit():
            raise HttpError(400, "bad_request", "invalid Content-Length")
        n = int(cl)
        if n > MAX_BODY_BYTES:
            raise HttpError(413, "payload_too_large", f"body over {MAX_BODY_BYTES} bytes")
        try:
            req.body = await asyncio.wait_for(reader.readexactly(n), timeout=FIRST_REQUEST_TIMEOUT)
        except (asyncio.IncompleteReadError, TimeoutError):
            raise HttpError(408, "request_timeout", "body not received in time") from None
    return req


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    body = bytearray()
    deadline = time.monotonic() + FIRST_REQUEST_TIMEOUT

    async def line() -> bytes:
        left = deadline - time.monotonic()
        try:
            return await asyncio.wait_for(reader.readuntil(b"\r\n"), max(left, 0.01))
        except (asyncio.IncompleteReadError, TimeoutError, asyncio.LimitOverrunError):
            raise HttpError(400, "bad_request", "malformed chunked body") from None

    while True:
        size_text = (await line())[:-2].split(b";")[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise HttpError(400, "bad_request", "malformed chunk size") from None
        if size == 0:
            while (await line()) != b"\r\n":  # trailers
                pass
            return bytes(body)
        if len(body) + size > MAX_BODY_BYTES:
            raise HttpError(413, "payload_too_large", f"body over {MAX_BODY_BYTES} bytes")
        try:
            chunk = await asyncio.wait_for(
                reader.readexactly(size + 2), max(deadline - time.monotonic(), 0.01)
            )
        except (asyncio.IncompleteReadError, TimeoutError):
            raise HttpError(400, "bad_request", "truncated chunk") from None
        if chunk[-2:] != b"\r\n":
            raise HttpError(400, "bad_request", "chunk without CRLF")
        body += chunk[:-2]


def _head(status: int, headers: list[tuple[str, str]]) -> bytes:
    lines = [f"HTTP/1.1 {status} {REASONS.get(status, 'Status')}"]
    lines += [f"{k}: {v}" for k, v in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def send_json(
    writer: asyncio.StreamWriter,
    status: int,
    obj: Any,
    keep_alive: bool,
    extra: list[tuple[str, str]] | None = None,
) -> None:
    body = json.dumps(obj, ensure_ascii=False).encode("utf-8")
    headers = [
        ("Content-Type", "application/json; charset=utf-8"),
        ("Content-Length", str(len(body))),
        ("Cache-Control", "no-store"),
        ("Date", time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime())),
        ("Connection", "keep-alive" if keep_alive else "close"),
    ]
    writer.write(_head(status, headers + (extra or [])) + body)
    await asyncio.wait_for(writer.drain(), WRITE_TIMEOUT)


def error_body(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "request_id": "req_" + _token(12)}}


# --------------------------------------------------------------------------- app


class App:
    def __init__(self, bug: str | None = None) -> None:
        if bug is not None and bug not in BUGS:
            raise ValueError(f"unknown bug {bug!r}; one of {', '.join(BUGS)}")
        self.bug = bug
        self.deployments = {d: Deployment(d) for d in DEPLOYMENT_IDS}
        self.tasks: set[asyncio.Task[None]] = set()

    # -- connection loop
    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        first = True
        try:
            while True:
                try:
                    req = await read_request(
                        reader, FIRST_REQUEST_TIMEOUT if first else KEEPALIVE_TIMEOUT
                    )
                except HttpError as exc:
                    await send_json(writer, exc.status, error_body(exc.code, exc.message), False)
                    return
                if req is None:
                    return
                first = False
                try:
                    keep = await self.dispatch(req, reader, writer)
                except HttpError as exc:
                    await send_json(
                        writer,
                        exc.status,
                        error_body(exc.code, exc.message),
                        req.keep_alive,
                        [("WWW-Authenticate", 'Bearer realm="prism"')]
                        if exc.status == 401
                        else None,
                    )
                    keep = req.keep_alive
                except (ConnectionError, TimeoutError):
                    return
                except Exception as exc:
                    await send_json(
                        writer, 500, error_body("internal_error", type(exc).__name__), False
                    )
                    return
                if not keep:
                    return
        except (ConnectionError, TimeoutError, asyncio.CancelledError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    async def dispatch(
        self, req: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        segs = [urllib.parse.unquote(s) for s in req.path.split("/")]
        if (
            len(segs) == 5
            and segs[:3] == ["", "v1", "deployments"]
            and segs[4] in ("events", "invoke")
        ):
            dep_id, action = segs[3], segs[4]
            want = "GET" if action == "events" else "POST"
            if req.method != want:
                raise HttpError(405, "method_not_allowed", f"use {want}")
            scopes = self.authenticate(req)
            if action == "events":
                if "deployments:read" not in scopes:
                    raise HttpError(403, "forbidden", "API key lacks deployments:read scope")
                dep = self.deployment(dep_id)
                await self.stream(dep, req, reader, writer)
                return False
            if "runs:write" not in scopes:
                raise HttpError(403, "forbidden", "API key lacks runs:write scope")
            dep = self.deployment(dep_id)
            await self.invoke(dep, req, writer)
            return req.keep_alive
        raise HttpError(404, "not_found", "no such route")

    def authenticate(self, req: Request) -> frozenset[str]:
        value = req.headers.get("authorization")
        if value is None:
            raise HttpError(401, "unauthorized", "missing API key")
        scheme, _, key = value.partition(" ")
        key = key.strip()
        if scheme.lower() != "bearer" or not key:
            raise HttpError(401, "unauthorized", "invalid API key")
        for known, scopes in KEYS.items():
            if self.bug == "auth":
                if key[:12] == known[:12]:  # planted: only the prefix is compared
                    return scopes if key == known else KEYS[FULL_KEY]
            elif hmac.compare_digest(key.encode("utf-8", "replace"), known.encode()):
                return scopes
        raise HttpError(401, "unauthorized", "invalid API key")

    def deployment(self, dep_id: str) -> Deployment:
        dep = self.deployments.get(dep_id)
        if dep is None:
            raise HttpError(404, "not_found", f"deployment {dep_id!r} does not exist")
        return dep

    # -- start a run
    async def invoke(self, dep: Deployment, req: Request, writer: asyncio.StreamWriter) -> None:
        try:
            body = json.loads(req.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise HttpError(400, "invalid_json", "the body must be a JSON object") from None
        if not isinstance(body, dict):
            raise HttpError(400, "invalid_json", "the body must be a JSON object")
        text = body.get("input")
        thread = body.get("thread_id")
        if self.bug == "input":
            text = str(text).strip()  # planted: no validation at all
            thread = None if thread is None else str(thread)
        else:
            if not isinstance(text, str) or not text:
                raise HttpError(422, "invalid_request", "input: a non-empty string is required")
            if len(text) > MAX_INPUT_CHARS:
                raise HttpError(
                    422, "invalid_request", f"input: at most {MAX_INPUT_CHARS} characters"
                )
            if thread is not None and (
                not isinstance(thread, str) or not thread or len(thread) > 256
            ):
                raise HttpError(
                    422,
                    "invalid_request",
                    "thread_id: a non-empty string of at most 256 characters",
                )
            meta = body.get("metadata")
            if meta is not None and not isinstance(meta, dict):
                raise HttpError(422, "invalid_request", "metadata: an object is required")
        run_id = "run_" + _token(10)
        thread_id = thread or dep.default_thread
        task = asyncio.get_running_loop().create_task(
            Agent(self, dep, run_id, thread_id, text).play()
        )
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        await send_json(
            writer,
            202,
            {
                "run_id": run_id,
                "thread_id": thread_id,
                "deployment_id": dep.id,
                "status": "queued",
                "created_at": _now(),
            },
            req.keep_alive,
            [("Location", f"/v1/deployments/{dep.id}/runs/{run_id}")],
        )

    # -- the event stream
    async def stream(
        self,
        dep: Deployment,
        req: Request,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        q = req.query
        thread_filter = q["thread_id"][0] if "thread_id" in q else None
        run_filter = q["run_id"][0] if "run_id" in q else None
        sub = Subscriber(thread_filter, run_filter, self.bug)
        last_id = req.headers.get("last-event-id", "").strip()
        note = b""
        backlog: list[Event] = []
        if last_id:
            # planted "reconnection-log": the replay of the deployment log starts one past
            # the cursor (the skipped event is whatever the deployment logged next)
            missed = dep.after(last_id, skip=1 if self.bug == "reconnection-log" else 0)
            if missed is None:
                note = b": Last-Event-ID not found (expired or never issued); streaming live\r\n"
            else:
                backlog = [ev for ev in missed if sub.wants(ev)]
                if (
                    self.bug == "reconnection"
                ):  # planted: the first event this client missed is lost
                    backlog = backlog[1:]
        dep.subscribers.add(sub)  # same loop tick as the backlog snapshot: nothing falls between
        try:
            writer.write(
                _head(
                    200,
                    [
                        ("Content-Type", "text/event-stream; charset=utf-8"),
                        ("Cache-Control", "no-cache"),
                        ("Transfer-Encoding", "chunked"),
                        ("X-Accel-Buffering", "no"),
                        ("Connection", "keep-alive"),
                    ],
                )
            )
            await self.chunk(
                writer,
                f": prism event stream for {dep.id}\r\n".encode()
                + note
                + f"retry: {RETRY_MS}\r\n\r\n".encode(),
            )
            for ev in backlog:
                await self.chunk(writer, ev.encode())
            gone = asyncio.ensure_future(reader.read(1024))
            pending_get: asyncio.Future[Event | None] | None = None
            try:
                while True:
                    if pending_get is None:
                        pending_get = asyncio.ensure_future(sub.queue.get())
                    done, _ = await asyncio.wait(
                        {pending_get, gone},
                        timeout=HEARTBEAT_SECONDS,
                        return_when=asyncio.FIRST_COMPLETED,
                    )
                    if gone in done:
                        if not gone.result():  # EOF: the client went away
                            return
                        gone = asyncio.ensure_future(reader.read(1024))  # ignore stray bytes
                    if pending_get in done:
                        ev = pending_get.result()
                        pending_get = None
                        if ev is None:
                            return
                        await self.chunk(writer, ev.encode())
                    else:
                        await self.chunk(writer, b": keepalive " + _now().encode() + b"\r\n")
            finally:
                for fut in (gone, pending_get):
                    if fut is None:
                        continue
                    if not fut.done():
                        fut.cancel()
                    elif not fut.cancelled():
                        fut.exception()  # a reset connection: nothing left to report
        finally:
            dep.subscribers.discard(sub)

    @staticmethod
    async def chunk(writer: asyncio.StreamWriter, data: bytes) -> None:
        writer.write(f"{len(data):X}\r\n".encode() + data + b"\r\n")
        await asyncio.wait_for(writer.drain(), WRITE_TIMEOUT)


# --------------------------------------------------------------------------- running


async def _start(app: App, host: str, port: int) -> asyncio.base_events.Server:
    return await asyncio.start_server(
        app.handle, host, port, limit=MAX_HEADER_BYTES, reuse_address=True
    )


@contextlib.contextmanager
def serve(bug: str | None = None, port: int = 0) -> Iterator[str]:
    """Run the server on 127.0.0.1 in a background thread; yield its base URL."""
    app = App(bug)
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    box: dict[str, Any] = {}

    def main() -> None:
        asyncio.set_event_loop(loop)
        try:
            box["server"] = loop.run_until_complete(_start(app, "127.0.0.1", port))
        except BaseException as exc:
            box["error"] = exc
            ready.set()
            return
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=main, name="indep-prism", daemon=True)
    thread.start()
    ready.wait(10)
    if "error" in box:
        raise box["error"]
    server = box["server"]
    bound = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{bound}"
    finally:

        async def stop() -> None:
            server.close()
            for task in list(app.tasks):
                task.cancel()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()
            await asyncio.sleep(0)

        asyncio.run_coroutine_threadsafe(stop(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--bug", choices=BUGS, default=None)
    args = parser.parse_args(argv)
    with serve(args.bug, args.port) as url:
        print(f"independent prism-agents server on {url} (bug: {args.bug})", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()
