"""Send an API key wrong on purpose: left out, empty, garbled, look-alike, one character
short or long, or in the query string instead of its header.

A stream opened with an issued token is probed where its key is used: the endpoint
that issues the tokens. The endpoint's setup runs once with the real key, so every
probe asks for a resource that exists and the key is the only thing wrong.
"""

from __future__ import annotations

import random
import re
import string
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import httpx

from streamconform.engine.exchange import exchange, prepared
from streamconform.engine.recorder import Limits
from streamconform.engine.redact import Redactor
from streamconform.engine.requests import RequestPlan, Timeouts, plan_request
from streamconform.errors import SetupError
from streamconform.model.spec import AuthScheme, Endpoint, Spec
from streamconform.model.templates import MissingVariable, render
from streamconform.transcript import Transcript

__all__ = ["KEY_PROBES", "QUERY_NAMES", "look_alike", "probe_keys"]

KEY_PROBES = (
    "key:missing",
    "key:empty",
    "key:garbled",
    "key:look-alike",
    "key:truncated",
    "key:extended",
    "key:in-query",
)
# where clients and servers put a key in a URL; one request tries them all at once
QUERY_NAMES = ("api_key", "apikey", "key", "access_token", "token")
_GARBLED = "not a key"
_PREFIX = re.compile(r"[A-Za-z]{1,7}[-_]")  # "sk-", "pk_": kept, so the shape is plausible


def look_alike(value: str, seed: int = 0) -> str:
    """A value of the same length and shape (letters for letters, digits for digits,
    separators kept) that is not the value: a key or token nobody issued."""
    rng = random.Random(f"{seed}:{len(value)}")
    prefix = _PREFIX.match(value)
    kept = prefix.group(0) if prefix else ""
    out = [kept]
    for char in value[len(kept) :]:
        if char.isdigit():
            out.append(rng.choice(string.digits))
        elif char.islower():
            out.append(rng.choice(string.ascii_lowercase))
        elif char.isupper():
            out.append(rng.choice(string.ascii_uppercase))
        else:
            out.append(char)
    made = "".join(out)
    return made if made != value else made + "x"


def _plan(
    spec: Spec,
    target: Endpoint,
    base_url: str,
    values: Mapping[str, Any],
    scheme: AuthScheme,
    name: str,
    redactor: Redactor,
) -> RequestPlan:
    key = str(render(scheme.value, values))
    plan = plan_request(spec, target, base_url, values, omit_auth=True)
    wrong = {
        "key:empty": "",
        "key:garbled": _GARBLED,
        "key:look-alike": look_alike(key),
        "key:truncated": key[:-1],
        "key:extended": key + "x",
    }
    if name in wrong:
        if name not in ("key:empty", "key:garbled"):
            redactor.add(wrong[name])  # derived from the key: as secret as the key itself
        plan.headers[scheme.header] = scheme.header_value(wrong[name])
    elif name == "key:in-query":
        names = (*QUERY_NAMES, *([scheme.header.lower()] if scheme.type == "header" else []))
        plan.params.update(dict.fromkeys(names, key))
    plan.secrets.append(key)
    return plan


async def probe_keys(
    client: httpx.AsyncClient,
    spec: Spec,
    endpoint: Endpoint,
    base_url: str,
    variables: Mapping[str, Any],
    names: list[str],
    *,
    scale: float,
    redactor: Redactor,
    limits: Limits | None = None,
) -> dict[str, Transcript]:
    """One transcript per probe name, all sent after a single run of the setup."""
    credentials = endpoint.credentials
    assert credentials is not None and credentials.key is not None
    unknown = set(names) - set(KEY_PROBES)
    if unknown:  # an unknown probe would send the real key and read as "accepted"
        raise ValueError(f"unknown key probes {sorted(unknown)}")
    target = endpoint.key_endpoint
    deadline = Timeouts.for_endpoint(target, scale).response
    try:
        async with prepared(
            client, spec, target, base_url, variables, scale=scale, redactor=redactor
        ) as ready:
            out = {}
            for name in names:
                plan = _plan(spec, target, base_url, ready.values, credentials.key, name, redactor)
                sent = await exchange(
                    client,
                    spec,
                    target,
                    plan,
                    deadline=deadline,
                    redactor=redactor,
                    variant=name,
                    limits=limits,
                )
                out[name] = replace(sent, setup_log=tuple(ready.log))
            return out
    except (SetupError, MissingVariable) as err:
        detail = redactor.text(str(err))
        return {
            name: Transcript.unprepared(spec.name, target.name, "", name, detail) for name in names
        }
