"""An independent implementation of the Miniapp Studio API, written only from its two
documents (the "Prompt a deployment with streaming response" reference and the deployment
management tutorial), to see how the conformance suite judges a correct server that made
its own choices where the documents are silent.

Standard library only; raw asyncio streams, hand-written HTTP/1.1 and chunked encoding.
Nothing here comes from streamconform.

    python -m tests.independent.miniapp_studio --port 8731 [--bug NAME]

Choices made where the documents are silent (see /work/scratch/indep-miniapp.md):

- API key: ``NS-7c41e9d0b2f84a65a3e1c0d9f6b27e58`` (allowlisted); a second, known but not
  allowlisted key ``NS-basic-00000000000000000000000000`` gets 403. Missing/unknown key: 401.
- Errors: Neynar-style ``{"code": ..., "message": ..., "property": ..., "status": N}``.
- Create answers 201 Created; deployments carry ``id`` (a UUID), not ``deployment_id``.
- A deployment becomes ready READY_DELAY seconds (default 1 s) after it is created.
- The prompt stream: SSE with CRLF line endings, an opening comment and ``retry:`` line,
  heartbeat comments; ``assistant``/``user`` messages carry SDK-like message objects.
- ErrorMessage ``timestamp`` is epoch milliseconds (a number), as JavaScript's Date.now().
- ``null`` for an optional body field means "not provided"; an empty prompt is accepted;
  images may be plain base64 or a ``data:<mime>;base64,`` URL.
- A request body that is declared as something other than JSON gets 415.
- Test hooks: a prompt containing ``[[studio:error]]``, ``[[studio:max_turns]]`` or
  ``[[studio:exec_error]]`` ends its generation with that failure.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import contextlib
import hmac
import json
import re
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

__all__ = ["API_KEY", "BUGS", "StudioServer", "serve"]

API_KEY = "NS-7c41e9d0b2f84a65a3e1c0d9f6b27e58"
BASIC_KEY = "NS-basic-00000000000000000000000000"  # a known key that is not allowlisted
BUGS = ("framing", "ordering", "terminal", "auth", "input")
READY_DELAY = 1.0

IDLE_TIMEOUT = 30.0  # keep-alive: silence before a request line
HEAD_TIMEOUT = 10.0  # a request head, once started
BODY_TIMEOUT = 15.0
MAX_LINE = 8 * 1024
MAX_HEAD = 32 * 1024
MAX_HEADERS = 100
MAX_BODY = 8 * 1024 * 1024

BASE = "/v2/studio/deployment"
ACTIONS = ("code-create", "code-edit", "debug", "info", "logs")
VARIANTS = ("canary", "beta", "stable")
KNOWN_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"}
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_DATA_URL = re.compile(r"^data:[\w.+-]+/[\w.+-]+;base64,", re.ASCII)


# --------------------------------------------------------------------------- errors


class HttpError(Exception):
    """A refusal at the HTTP layer (before routing): answered, then the connection closes."""

    def __init__(self, status: int, message: str, *, close: bool = True) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.close = close


class ApiError(Exception):
    """A refusal by the API, answered with a JSON error body."""

    def __init__(
        self, status: int, code: str, message: str, prop: str | None = None, **headers: str
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.prop = status, code, message, prop
        self.headers = {k.replace("_", "-"): v for k, v in headers.items()}

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.prop is not None:
            out["property"] = self.prop
        out["status"] = self.status
        return out


# --------------------------------------------------------------------------- HTTP layer


@dataclass
class Request:
    method: str
    target: str
    version: str
    headers: list[tuple[str, str]]
    path: str = ""
    query: dict[str, list[str]] = field(default_factory=dict)
    body: bytes = b""

    def header(self, name: str) -> str | None:
        name = name.lower()
        values = [v for k, v in self.headers if k == name]
        return ", ".join(values) if values else None

    def tokens(self, name: str) -> set[str]:
        value = self.header(name) or ""
        return {t.strip().lower() for t in value.split(",") if t.strip()}

    @property
    def keep_alive(self) -> bool:
        conn = self.tokens("connection")
        if self.version == "HTTP/1.0":
            return "keep-alive" in conn
        return "close" not in conn


def _now_http() -> str:
    return datetime.now(UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")


def _head_bytes(version: str, status: int, headers: list[tuple[str, str]]) -> bytes:
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = "Unknown"
    lines = [f"{version} {status} {reason}"]
    lines += [f"{k}: {v}" for k, v in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def _readline(reader: asyncio.StreamReader, timeout: float) -> bytes:
    try:
        line = await asyncio.wait_for(reader.readline(), timeout)
    except ValueError as err:  # the StreamReader's own limit
        raise HttpError(431, "header line too long") from err
    if len(line) > MAX_LINE:
        raise HttpError(431, "header line too long")
    return line


async def read_request(reader: asyncio.StreamReader) -> Request | None:
    """One request head (the body is read later). None: the client closed or went idle."""
    # robustness (RFC 9112 2.2): skip empty lines before the request line
    for _ in range(8):
        try:
            line = await _readline(reader, IDLE_TIMEOUT)
        except TimeoutError:
            return None
        if not line:
            return None
        if line.strip(b"\r\n"):
            break
    else:
        raise HttpError(400, "no request line")
    try:
        text = line.decode("ascii").rstrip("\r\n")
    except UnicodeDecodeError as err:
        raise HttpError(400, "request line is not ASCII") from err
    parts = text.split(" ")
    if len(parts) != 3 or not all(parts):
        raise HttpError(400, "malformed request line")
    method, target, version = parts
    if not _TOKEN.match(method):
        raise HttpError(400, "malformed method")
    if not re.fullmatch(r"HTTP/\d\.\d", version):
        raise HttpError(400, "malformed HTTP version")
    if version not in ("HTTP/1.0", "HTTP/1.1"):
        raise HttpError(505, "only HTTP/1.0 and HTTP/1.1 are supported")
    headers: list[tuple[str, str]] = []
    total = len(line)
    while True:
        try:
            raw = await _readline(reader, HEAD_TIMEOUT)
        except TimeoutError as err:
            raise HttpError(408, "request head not received in time") from err
        if not raw:
            raise HttpError(400, "connection closed inside the request head")
        total += len(raw)
        if total > MAX_HEAD:
            raise HttpError(431, "request head too large")
        if raw in (b"\r\n", b"\n"):
            break
        if raw[:1] in (b" ", b"\t"):
            raise HttpError(400, "obsolete line folding is not accepted")
        try:
            decoded = raw.decode("latin-1").rstrip("\r\n")
        except UnicodeDecodeError as err:  # pragma: no cover - latin-1 decodes anything
            raise HttpError(400, "bad header") from err
        name, sep, value = decoded.partition(":")
        if not sep or not _TOKEN.match(name):
            raise HttpError(400, "malformed header field")
        if "\0" in value or "\r" in value:
            raise HttpError(400, "invalid character in a header value")
        headers.append((name.lower(), value.strip(" \t")))
        if len(headers) > MAX_HEADERS:
            raise HttpError(431, "too many header fields")
    request = Request(method, target, version, headers)
    if version == "HTTP/1.1" and len([1 for k, _ in headers if k == "host"]) != 1:
        raise HttpError(400, "HTTP/1.1 requests need exactly one Host header")
    if target.startswith("/") or target.startswith(("http://", "https://")):
        split = urlsplit(target)
    elif target == "*" and method == "OPTIONS":
        split = urlsplit("/")
    else:
        raise HttpError(400, "malformed request target")
    request.path = split.path or "/"
    request.query = parse_qs(split.query, keep_blank_values=True)
    return request


async def read_body(
    request: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> bytes:
    """The request body, de-chunked, within the size limit and the body timeout."""
    te = request.header("transfer-encoding")
    cl = request.header("content-length")
    if te is not None and cl is not None:
        raise HttpError(400, "both Transfer-Encoding and Content-Length")
    if te is not None:
        codings = [t.strip().lower() for t in te.split(",") if t.strip()]
        if codings != ["chunked"]:
            raise HttpError(501, "only the chunked transfer coding is supported")
        length = None
    elif cl is not None:
        values = {v.strip() for v in cl.split(",")}
        if len(values) != 1 or not next(iter(values)).isdigit():
            raise HttpError(400, "malformed Content-Length")
        length = int(next(iter(values)))
        if length > MAX_BODY:
            raise HttpError(413, f"request body over {MAX_BODY} bytes")
        if length == 0:
            return b""
    else:
        return b""
    if "100-continue" in request.tokens("expect") and request.version == "HTTP/1.1":
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        await writer.drain()
    deadline = time.monotonic() + BODY_TIMEOUT

    def left() -> float:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise HttpError(408, "request body not received in time")
        return remaining

    try:
        if length is not None:
            return await asyncio.wait_for(reader.readexactly(length), left())
        chunks: list[bytes] = []
        size_total = 0
        while True:
            size_line = await _readline(reader, left())
            if not size_line.endswith(b"\n"):
                raise HttpError(400, "connection closed inside a chunk size")
            size_text = size_line.split(b";", 1)[0].strip()
            if not size_text or not re.fullmatch(rb"[0-9A-Fa-f]{1,8}", size_text):
                raise HttpError(400, "malformed chunk size")
            size = int(size_text, 16)
            if size == 0:
                while True:  # trailers, ignored
                    trailer = await _readline(reader, left())
                    if trailer in (b"\r\n", b"\n"):
                        return b"".join(chunks)
                    if not trailer:
                        raise HttpError(400, "connection closed inside the trailers")
            size_total += size
            if size_total > MAX_BODY:
                raise HttpError(413, f"request body over {MAX_BODY} bytes")
            chunks.append(await asyncio.wait_for(reader.readexactly(size), left()))
            end = await asyncio.wait_for(reader.readexactly(2), left())
            if end != b"\r\n":
                raise HttpError(400, "chunk not followed by CRLF")
    except TimeoutError as err:
        raise HttpError(408, "request body not received in time") from err
    except asyncio.IncompleteReadError as err:
        raise HttpError(400, "connection closed inside the request body") from err


class Responder:
    """Writes the one response to a request: whole, or as a chunked stream."""

    def __init__(self, request: Request, writer: asyncio.StreamWriter) -> None:
        self.request = request
        self.writer = writer
        self.keep_alive = request.keep_alive
        self.chunked = False
        self.started = False

    def _common(self) -> list[tuple[str, str]]:
        return [("Date", _now_http()), ("Server", "studio-indep/1.0")]

    def _connection(self) -> list[tuple[str, str]]:
        if not self.keep_alive:
            return [("Connection", "close")]
        if self.request.version == "HTTP/1.0":
            return [("Connection", "keep-alive")]
        return []

    async def whole(
        self,
        status: int,
        body: bytes = b"",
        content_type: str | None = "application/json; charset=utf-8",
        headers: dict[str, str] | None = None,
    ) -> None:
        self.started = True
        out = self._common()
        if content_type and (body or status not in (204, 304)):
            out.append(("Content-Type", content_type))
        out += list((headers or {}).items())
        if status != 204 and status >= 200:
            out.append(("Content-Length", str(len(body))))
        out += self._connection()
        data = _head_bytes(self.request.version, status, out)
        if self.request.method != "HEAD" and status not in (204, 304):
            data += body
        self.writer.write(data)
        await self.writer.drain()

    async def json(self, status: int, document: Any, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()
        await self.whole(status, body, headers=headers)

    async def start_stream(self, status: int, headers: dict[str, str]) -> None:
        self.started = True
        out = self._common() + list(headers.items())
        if self.request.version == "HTTP/1.1":
            self.chunked = True
            out.append(("Transfer-Encoding", "chunked"))
        else:
            self.keep_alive = False  # HTTP/1.0: the end of the body is the end of the connection
        out += self._connection()
        self.writer.write(_head_bytes(self.request.version, status, out))
        await self.writer.drain()

    async def send(self, data: bytes) -> None:
        if not data:
            return
        if self.chunked:
            data = f"{len(data):x}\r\n".encode() + data + b"\r\n"
        self.writer.write(data)
        await self.writer.drain()

    async def end_stream(self) -> None:
        if self.chunked:
            self.writer.write(b"0\r\n\r\n")
            await self.writer.drain()


# --------------------------------------------------------------------------- the API


@dataclass
class Deployment:
    id: str
    fid: int
    name: str
    namespace: str
    created_at: datetime
    ready_at: float
    display_name: str | None = None
    prompts: int = 0
    conversations: set[str] = field(default_factory=set)
    domain: str | None = None

    @property
    def ready(self) -> bool:
        return time.monotonic() >= self.ready_at

    def url(self) -> str:
        return f"https://{self.name}.studio.neynar.com"

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "created_at": _iso(self.created_at),
            "namespace": self.namespace,
            "name": self.name,
            "isReady": self.ready,
        }
        if self.display_name:
            out["display_name"] = self.display_name
        if self.ready:
            out["url"] = self.url()
        return out


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _namespace(fid: int) -> str:
    return f"miniapp-generator-fid-{fid}"


def _absent(body: dict[str, Any], key: str) -> bool:
    """An optional field that is missing or null is "not provided"."""
    return body.get(key) is None


def _fid(value: Any, prop: str = "fid") -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ApiError(400, "InvalidField", f"{prop} must be an integer", prop)
    if isinstance(value, float):
        if not value.is_integer():
            raise ApiError(400, "InvalidField", f"{prop} must be an integer", prop)
        value = int(value)
    if value < 0:
        raise ApiError(400, "InvalidField", f"{prop} must be greater than or equal to 0", prop)
    return value


def _string(body: dict[str, Any], key: str, *, required: bool = False) -> str | None:
    if _absent(body, key):
        if required:
            raise ApiError(400, "RequiredField", f"{key} is required", key)
        return None
    value = body[key]
    if not isinstance(value, str):
        raise ApiError(400, "InvalidField", f"{key} must be a string", key)
    return value


def _fid_from_query(query: dict[str, list[str]], required: bool = True) -> int | None:
    values = query.get("fid")
    if not values:
        if required:
            raise ApiError(400, "RequiredField", "fid is required", "fid")
        return None
    text = values[-1].strip()
    if not text.isdigit() or not text.isascii():
        raise ApiError(400, "InvalidField", "fid must be a non-negative integer", "fid")
    return int(text)


def _valid_base64(text: str) -> bool:
    text = _DATA_URL.sub("", text, count=1)
    try:
        base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        return False
    return True


@dataclass
class PromptRequest:
    prompt: str
    action: str
    variant: str
    conversation_id: str
    session_id: str
    images: int
    deployment: Deployment


class Studio:
    """The deployments and what the endpoints do with them."""

    def __init__(self, bug: str | None, api_key: str, ready_delay: float) -> None:
        self.bug = bug
        self.api_key = api_key
        self.ready_delay = ready_delay
        self.deployments: dict[tuple[int, str], Deployment] = {}
        self._last_name_ms = 0

    # ---- auth

    def authorise(self, request: Request) -> None:
        key = request.header("x-api-key")
        if key is None or not key.strip():
            raise ApiError(401, "Unauthorized", "Missing x-api-key header")
        key = key.strip()
        if self.bug == "auth":  # planted: only the key's first 12 characters are compared
            if key[:12] == self.api_key[:12]:
                return
        elif hmac.compare_digest(key.encode(), self.api_key.encode()):
            return
        if hmac.compare_digest(key.encode(), BASIC_KEY.encode()):
            raise ApiError(
                403, "Forbidden", "This API key is not allowlisted for the Miniapp Studio API"
            )
        raise ApiError(401, "Unauthorized", "Invalid API key")

    # ---- bodies

    @staticmethod
    def json_body(request: Request) -> dict[str, Any]:
        ctype = request.header("content-type")
        if ctype is not None:
            media = ctype.split(";", 1)[0].strip().lower()
            if media != "application/json" and not media.endswith("+json"):
                raise ApiError(415, "UnsupportedMediaType", "Request body must be application/json")
        if not request.body.strip():
            raise ApiError(400, "InvalidBody", "A JSON request body is required")

        def no_constants(name: str) -> Any:
            raise ValueError(f"{name} is not JSON")

        try:
            document = json.loads(request.body.decode("utf-8"), parse_constant=no_constants)
        except (UnicodeDecodeError, ValueError) as err:
            raise ApiError(400, "InvalidBody", f"Request body is not valid JSON: {err}") from err
        if not isinstance(document, dict):
            raise ApiError(400, "InvalidBody", "Request body must be a JSON object")
        return document

    # ---- deployments

    def _new_name(self) -> str:
        now_ms = int(time.time() * 1000)
        now_ms = max(now_ms, self._last_name_ms + 1)  # one name per millisecond
        self._last_name_ms = now_ms
        moment = datetime.fromtimestamp(now_ms / 1000, UTC)
        return "server-" + moment.strftime("%y%m%d%H%M%S") + f"{now_ms % 1000:03d}"

    def create(self, body: dict[str, Any]) -> Deployment:
        if _absent(body, "fid"):
            raise ApiError(400, "RequiredField", "fid is required", "fid")
        fid = _fid(body["fid"])
        display = _string(body, "display_name")
        name = self._new_name()
        deployment = Deployment(
            id=str(uuid.uuid4()),
            fid=fid,
            name=name,
            namespace=_namespace(fid),
            created_at=datetime.now(UTC),
            ready_at=time.monotonic() + self.ready_delay,
            display_name=display,
        )
        self.deployments[(fid, name)] = deployment
        return deployment

    def get(self, fid: int, name: str) -> Deployment:
        found = self.deployments.get((fid, name))
        if found is None:
            raise ApiError(404, "NotFound", f"No deployment {name!r} for fid {fid}")
        return found

    def list(self, fid: int) -> list[Deployment]:
        return sorted(
            (d for d in self.deployments.values() if d.fid == fid), key=lambda d: d.created_at
        )

    def delete(self, body: dict[str, Any]) -> list[str]:
        if _absent(body, "fid"):
            raise ApiError(400, "RequiredField", "fid is required", "fid")
        fid = _fid(body["fid"])
        name = _string(body, "name")
        if name is not None:
            self.get(fid, name)
            del self.deployments[(fid, name)]
            return [name]
        names = [d.name for d in self.list(fid)]
        for n in names:
            del self.deployments[(fid, n)]
        return names

    def associate(self, body: dict[str, Any]) -> dict[str, Any]:
        for key in ("fid", "name", "domain", "signature"):
            if _absent(body, key):
                raise ApiError(400, "RequiredField", f"{key} is required", key)
        fid = _fid(body["fid"])
        name = _string(body, "name", required=True)
        domain = _string(body, "domain", required=True)
        assert name is not None and domain is not None
        if not re.fullmatch(
            r"(?=.{1,253}$)([A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"
            r"[A-Za-z]{2,63}",
            domain,
        ):
            raise ApiError(400, "InvalidField", "domain must be a domain name", "domain")
        signature = body["signature"]
        if isinstance(signature, dict):
            for part in ("header", "payload", "signature"):
                if not isinstance(signature.get(part), str) or not signature[part]:
                    raise ApiError(
                        400, "InvalidField", f"signature.{part} must be a string", "signature"
                    )
        elif not isinstance(signature, str) or not signature:
            raise ApiError(
                400,
                "InvalidField",
                "signature must be a JFS object or its string form",
                "signature",
            )
        deployment = self.get(fid, name)
        deployment.domain = domain
        return {
            "name": deployment.name,
            "domain": domain,
            "associated": True,
            "url": deployment.url(),
        }

    # ---- prompts

    def prompt_request(self, body: dict[str, Any]) -> PromptRequest:
        if "prompt" not in body or body["prompt"] is None:
            raise ApiError(400, "RequiredField", "prompt is required", "prompt")
        if not isinstance(body["prompt"], str):
            raise ApiError(400, "InvalidField", "prompt must be a string", "prompt")
        prompt = body["prompt"]
        deployment_id = _string(body, "deployment_id")
        if deployment_id is not None and not _UUID.match(deployment_id):
            raise ApiError(400, "InvalidField", "deployment_id must be a UUID", "deployment_id")
        name = _string(body, "name")
        namespace = _string(body, "namespace")
        fid = None if _absent(body, "fid") else _fid(body["fid"])
        conversation_id = _string(body, "conversation_id")
        session_id = _string(body, "session_id")
        images = body.get("images")
        if images is not None:
            if not isinstance(images, list):
                raise ApiError(400, "InvalidField", "images must be an array", "images")
            for index, image in enumerate(images):
                if not isinstance(image, str) or not _valid_base64(image):
                    raise ApiError(
                        400, "InvalidField", f"images[{index}] is not base64-encoded", "images"
                    )
        variant = _string(body, "variant") if self.bug != "input" else body.get("variant")
        if variant is not None and self.bug != "input" and variant not in VARIANTS:
            raise ApiError(400, "InvalidField", "variant must be canary, beta or stable", "variant")
        action = _string(body, "action") if self.bug != "input" else body.get("action")
        if action is not None and self.bug != "input" and action not in ACTIONS:
            raise ApiError(
                400, "InvalidField", "action must be one of " + ", ".join(ACTIONS), "action"
            )
        if deployment_id is None and name is None:
            raise ApiError(
                400, "RequiredField", "deployment_id or name is required", "deployment_id"
            )
        if fid is None and namespace is None:
            raise ApiError(400, "RequiredField", "fid or namespace is required", "fid")
        deployment = self._find(deployment_id, name, fid, namespace)
        if not deployment.ready:
            raise ApiError(
                409,
                "DeploymentNotReady",
                f"Deployment {deployment.name} is not ready yet",
                Retry_After="5",
            )
        if conversation_id is not None and conversation_id not in deployment.conversations:
            raise ApiError(
                404, "NotFound", f"No conversation {conversation_id!r}", "conversation_id"
            )
        conversation_id = conversation_id or str(uuid.uuid4())
        deployment.conversations.add(conversation_id)
        deployment.prompts += 1
        return PromptRequest(
            prompt=prompt,
            action=str(action or "code-create"),
            variant=str(variant or "stable"),
            conversation_id=conversation_id,
            session_id=session_id or str(uuid.uuid4()),
            images=len(images or ()),
            deployment=deployment,
        )

    def _find(
        self, deployment_id: str | None, name: str | None, fid: Any, namespace: str | None
    ) -> Deployment:
        candidates = list(self.deployments.values())
        if deployment_id is not None:
            candidates = [d for d in candidates if d.id.lower() == deployment_id.lower()]
        if name is not None:
            candidates = [d for d in candidates if d.name == name]
        if fid is not None:
            candidates = [d for d in candidates if d.fid == fid]
        if namespace is not None:
            candidates = [d for d in candidates if d.namespace == namespace]
        if not candidates:
            what = deployment_id if deployment_id is not None else name
            raise ApiError(
                404,
                "NotFound",
                f"Deployment {what!r} not found",
                "deployment_id" if deployment_id is not None else "name",
            )
        return candidates[0]


# --------------------------------------------------------------------------- generation


def _failure(prompt: str) -> str | None:
    for marker, kind in (
        ("[[studio:error]]", "error"),
        ("[[studio:max_turns]]", "error_max_turns"),
        ("[[studio:exec_error]]", "error_during_execution"),
    ):
        if marker in prompt:
            return kind
    return None


def script(req: PromptRequest, bug: str | None) -> list[tuple[float, dict[str, Any] | str]]:
    """The messages of one generation, each after a delay (seconds); a str is a comment."""
    session = req.session_id
    model = {"canary": "claude-opus-4", "beta": "claude-sonnet-4-5"}.get(
        req.variant, "claude-sonnet-4"
    )

    def assistant(content: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "type": "assistant",
            "message": {
                "id": "msg_" + uuid.uuid4().hex[:24],
                "role": "assistant",
                "model": model,
                "content": content,
            },
            "parent_tool_use_id": None,
            "session_id": session,
            "uuid": str(uuid.uuid4()),
        }

    tool_id = "toolu_" + uuid.uuid4().hex[:20]
    init = {
        "type": "system",
        "subtype": "init",
        "message": "Initializing...",
        "session_id": session,
        "conversation_id": req.conversation_id,
        "model": model,
        "variant": req.variant,
        "action": req.action,
        "cwd": f"/workspace/{req.deployment.name}",
        "tools": ["Read", "Write", "Edit", "Bash"],
    }
    steps: list[tuple[float, dict[str, Any] | str]] = [
        (0.0, {"type": "connection", "message": "Streaming started"}),
        (0.12, init),
        (0.25, assistant([{"type": "text", "text": "Reading the project template..."}])),
        (0.25, ": heartbeat"),
        (
            0.05,
            assistant(
                [
                    {
                        "type": "tool_use",
                        "id": tool_id,
                        "name": "Write",
                        "input": {"file_path": "src/app/page.tsx"},
                    }
                ]
            ),
        ),
        (
            0.25,
            {
                "type": "user",
                "message": {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": tool_id, "content": "File written"}
                    ],
                },
                "parent_tool_use_id": None,
                "session_id": session,
                "uuid": str(uuid.uuid4()),
            },
        ),
    ]
    failure = _failure(req.prompt)
    if failure == "error":
        steps.append(
            (
                0.2,
                {
                    "type": "error",
                    "message": "Generation failed: the deployment's agent exited",
                    "timestamp": int(time.time() * 1000),
                },
            )
        )
        # the timestamp is taken when the script is made; refreshed when sent
        return steps
    steps += [
        (0.25, ": heartbeat"),
        (0.05, assistant([{"type": "text", "text": "Creating your miniapp..."}])),
    ]
    if failure is not None:
        steps.append(
            (
                0.3,
                {
                    "type": "result",
                    "subtype": failure,
                    "is_error": True,
                    "message": "Generation stopped: " + failure.replace("_", " "),
                    "num_turns": 3,
                    "session_id": session,
                },
            )
        )
    else:
        steps.append(
            (
                0.3,
                {
                    "type": "result",
                    "subtype": "success",
                    "is_error": False,
                    "message": "Deployment complete",
                    "result": "Deployment complete",
                    "num_turns": 3,
                    "session_id": session,
                    "duration_ms": 0,
                    "url": req.deployment.url(),
                },
            )
        )
    if bug == "ordering":  # planted: the system init comes after Claude's first answer
        steps[1], steps[2] = (steps[1][0], steps[2][1]), (steps[2][0], steps[1][1])
    if bug == "terminal":  # planted: Claude keeps talking after the final result
        steps.append((0.2, assistant([{"type": "text", "text": "One more thing..."}])))
    return steps


def _event_text(message: dict[str, Any], bug: str | None) -> str:
    data = json.dumps(message, separators=(",", ":"), ensure_ascii=False)
    if bug == "framing" and message.get("type") == "system":
        return f"Data: {data}\r\n\r\n"  # planted: a field name in the wrong case
    return f"data: {data}\r\n\r\n"


def _refresh(message: dict[str, Any], started: float) -> dict[str, Any]:
    if message.get("type") == "error":
        message = {**message, "timestamp": int(time.time() * 1000)}
    if message.get("type") == "result" and "duration_ms" in message:
        message = {**message, "duration_ms": int((time.monotonic() - started) * 1000)}
    return message


# --------------------------------------------------------------------------- the server


class StudioServer:
    def __init__(
        self,
        *,
        bug: str | None = None,
        api_key: str = API_KEY,
        ready_delay: float = READY_DELAY,
        verbose: bool = False,
    ) -> None:
        if bug is not None and bug not in BUGS:
            raise ValueError(f"bug must be one of {', '.join(BUGS)}")
        self.studio = Studio(bug, api_key, ready_delay)
        self.bug = bug
        self.verbose = verbose
        self.server: asyncio.base_events.Server | None = None
        self.connections: set[asyncio.Task[Any]] = set()

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        self.server = await asyncio.start_server(self._connection, host, port, limit=MAX_LINE * 2)
        return self.server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
        for task in list(self.connections):
            task.cancel()
        if self.connections:
            await asyncio.gather(*self.connections, return_exceptions=True)
        if self.server is not None:
            await self.server.wait_closed()

    def _log(self, text: str) -> None:
        if self.verbose:
            print(text, file=sys.stderr, flush=True)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.connections.add(task)
        try:
            while True:
                try:
                    request = await read_request(reader)
                except HttpError as err:
                    await self._http_error(writer, err)
                    return
                if request is None:
                    return
                responder = Responder(request, writer)
                try:
                    request.body = await read_body(request, reader, writer)
                except HttpError as err:
                    await self._http_error(writer, err)
                    return
                await self._dispatch(request, responder)
                self._log(f"{request.method} {request.target} ({self.bug or 'no bug'})")
                if not responder.keep_alive:
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        except asyncio.CancelledError:
            return
        finally:
            self.connections.discard(task)
            with contextlib.suppress(Exception):
                writer.close()
                await asyncio.wait_for(writer.wait_closed(), 1)

    async def _http_error(self, writer: asyncio.StreamWriter, err: HttpError) -> None:
        code = HTTPStatus(err.status).phrase.replace(" ", "")
        body = json.dumps({"code": code, "message": err.message, "status": err.status}).encode()
        head = _head_bytes(
            "HTTP/1.1",
            err.status,
            [
                ("Date", _now_http()),
                ("Content-Type", "application/json; charset=utf-8"),
                ("Content-Length", str(len(body))),
                ("Connection", "close"),
            ],
        )
        with contextlib.suppress(ConnectionError):
            writer.write(head + body)
            await writer.drain()

    # ---- routing

    def _route(self, path: str) -> tuple[str, dict[str, str]] | None:
        """(route name, {method: handler name}) for a path, None when unknown."""
        if len(path) > 1:
            path = path.rstrip("/")
        routes = {
            BASE: {"GET": "list", "POST": "create", "DELETE": "delete"},
            BASE + "/by-name-and-fid": {"GET": "get"},
            BASE + "/prompt": {"POST": "prompt"},
            BASE + "/prompt/stream": {"POST": "stream"},
            BASE + "/account-association": {"POST": "associate"},
        }
        methods = routes.get(path)
        return (path, methods) if methods else None

    async def _dispatch(self, request: Request, out: Responder) -> None:
        try:
            if request.method not in KNOWN_METHODS:
                raise ApiError(501, "NotImplemented", f"Method {request.method} not implemented")
            route = self._route(request.path)
            if route is None:
                raise ApiError(404, "NotFound", f"No route for {request.path}")
            _, methods = route
            allow = sorted({*methods, "OPTIONS", *(["HEAD"] if "GET" in methods else [])})
            if request.method == "OPTIONS":
                await out.whole(204, content_type=None, headers={"Allow": ", ".join(allow)})
                return
            method = "GET" if request.method == "HEAD" else request.method
            handler = methods.get(method)
            if handler is None:
                raise ApiError(
                    405,
                    "MethodNotAllowed",
                    f"{request.method} is not allowed on {request.path}",
                    Allow=", ".join(allow),
                )
            self.studio.authorise(request)
            await getattr(self, "_do_" + handler)(request, out)
        except ApiError as err:
            if out.started:  # an error after a stream started cannot change the status
                out.keep_alive = False
                return
            await out.json(
                err.status, err.body(), headers={"Cache-Control": "no-store", **err.headers}
            )
        except Exception as err:
            if out.started:
                out.keep_alive = False
                return
            out.keep_alive = False
            await out.json(500, {"code": "InternalError", "message": repr(err), "status": 500})

    async def _do_list(self, request: Request, out: Responder) -> None:
        fid = _fid_from_query(request.query)
        assert fid is not None
        items = []
        for d in self.studio.list(fid):
            item = {"name": d.name, "created_at": _iso(d.created_at), "isReady": d.ready}
            if d.display_name:
                item["display_name"] = d.display_name
            items.append(item)
        await out.json(200, {"deployments": items})

    async def _do_get(self, request: Request, out: Responder) -> None:
        names = request.query.get("name")
        if not names or not names[-1]:
            raise ApiError(400, "RequiredField", "name is required", "name")
        fid = _fid_from_query(request.query)
        assert fid is not None
        await out.json(200, self.studio.get(fid, names[-1]).describe())

    async def _do_create(self, request: Request, out: Responder) -> None:
        deployment = self.studio.create(self.studio.json_body(request))
        await out.json(201, deployment.describe())

    async def _do_delete(self, request: Request, out: Responder) -> None:
        names = self.studio.delete(self.studio.json_body(request))
        await out.json(200, {"deleted": names})

    async def _do_associate(self, request: Request, out: Responder) -> None:
        await out.json(200, self.studio.associate(self.studio.json_body(request)))

    async def _do_prompt(self, request: Request, out: Responder) -> None:
        req = self.studio.prompt_request(self.studio.json_body(request))
        started = time.monotonic()
        messages = []
        for delay, message in script(req, None):
            await asyncio.sleep(delay)
            if isinstance(message, dict):
                messages.append(_refresh(message, started))
        final = messages[-1]
        await out.json(
            200,
            {
                "conversation_id": req.conversation_id,
                "session_id": req.session_id,
                "status": final.get("subtype", final["type"]),
                "result": final,
                "events": messages,
            },
        )

    async def _do_stream(self, request: Request, out: Responder) -> None:
        req = self.studio.prompt_request(self.studio.json_body(request))
        started = time.monotonic()
        await out.start_stream(
            200,
            {
                "Content-Type": "text/event-stream; charset=utf-8",
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",
                "X-Conversation-Id": req.conversation_id,
            },
        )
        try:
            await out.send(b": miniapp studio stream\r\nretry: 3000\r\n\r\n")
            for delay, message in script(req, self.bug):
                if delay:
                    await asyncio.sleep(delay)
                if isinstance(message, str):
                    await out.send(f"{message}\r\n\r\n".encode())
                else:
                    text = _event_text(_refresh(message, started), self.bug)
                    await out.send(text.encode("utf-8"))
            await out.end_stream()
        except (ConnectionError, asyncio.CancelledError):
            out.keep_alive = False
            raise


# --------------------------------------------------------------------------- entry points


@contextlib.contextmanager
def serve(
    bug: str | None = None,
    *,
    api_key: str = API_KEY,
    ready_delay: float = READY_DELAY,
    port: int = 0,
) -> Iterator[str]:
    """Run the server in a background thread on 127.0.0.1; yields its base URL."""
    server = StudioServer(bug=bug, api_key=api_key, ready_delay=ready_delay)
    loop = asyncio.new_event_loop()
    started = threading.Event()
    bound: list[int] = []
    failure: list[BaseException] = []

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            bound.append(loop.run_until_complete(server.start("127.0.0.1", port)))
        except BaseException as err:
            failure.append(err)
            started.set()
            return
        started.set()
        loop.run_forever()
        loop.run_until_complete(server.close())
        loop.close()

    thread = threading.Thread(target=run, name="miniapp-studio-indep", daemon=True)
    thread.start()
    started.wait(10)
    if failure:
        raise failure[0]
    try:
        yield f"http://127.0.0.1:{bound[0]}"
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


async def _main(args: argparse.Namespace) -> None:
    server = StudioServer(
        bug=args.bug, api_key=args.api_key, ready_delay=args.ready_delay, verbose=args.verbose
    )
    port = await server.start("127.0.0.1", args.port)
    print(
        f"miniapp studio (independent) on http://127.0.0.1:{port} bug={args.bug or 'none'}",
        flush=True,
    )
    try:
        await asyncio.Event().wait()
    finally:
        await server.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8731)
    parser.add_argument("--bug", choices=BUGS)
    parser.add_argument("--api-key", default=API_KEY)
    parser.add_argument("--ready-delay", type=float, default=READY_DELAY)
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_main(args))


if __name__ == "__main__":
    main()
