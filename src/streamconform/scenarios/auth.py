"""Send an API key wrong on purpose: left out, empty, garbled, look-alike, one character
short or long, or in the query string instead of its header.

A stream opened with an issued token is probed where its key is used: the endpoint
that issues the tokens. The endpoint's setup runs once with the real key, so every
probe asks for a resource that exists and the key is the only thing wrong.
"""

from __future__ import annotations

import json
import random
import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from streamconform.capture.exchange import exchange
from streamconform.capture.requests import RequestPlan
from streamconform.capture.session import TargetSession
from streamconform.core.evidence import Evidence
from streamconform.core.pointer import resolve_pointer
from streamconform.core.transcript import Transcript
from streamconform.errors import SetupError
from streamconform.model.spec import AuthScheme, Endpoint
from streamconform.model.templates import MissingVariable, render
from streamconform.scenarios.registry import Scenario, family

__all__ = [
    "EMPTY",
    "EXTENDED",
    "GARBLED",
    "IN_QUERY",
    "KEYS",
    "LOOK_ALIKE",
    "MISSING",
    "PROBES",
    "QUERY_NAMES",
    "TRUNCATED",
    "look_alike",
]

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
    session: TargetSession,
    target: Endpoint,
    values: Mapping[str, Any],
    scheme: AuthScheme,
    scenario: Scenario,
) -> RequestPlan:
    key = str(render(scheme.value, values))
    plan = session.plan(target, values, omit_auth=True)
    if scenario is IN_QUERY:
        names = (*QUERY_NAMES, *([scheme.header.lower()] if scheme.type == "header" else []))
        plan.params.update(dict.fromkeys(names, key))
    elif scenario is not MISSING:
        wrong = scenario.subject(key)
        if scenario in _DERIVED:
            session.redactor.add(wrong)  # derived from the key: as secret as the key itself
        plan.headers[scheme.header] = scheme.header_value(wrong)
    plan.secrets.append(key)
    return plan


def _hide_issued(session: TargetSession, sent: Transcript) -> None:
    """A token issued to a probe's key (a server that took a wrong key) is a live
    credential all the same: every report hides it, as it hides the key."""
    credentials = session.endpoint.credentials
    step = credentials.issue_step if credentials else None
    if credentials is None or step is None or not (sent.status and 200 <= sent.status < 300):
        return
    source = step.capture.get(credentials.token_variable, "")
    if source.startswith("header:"):
        value: Any = sent.header(source.removeprefix("header:").strip())
    else:
        try:
            value = resolve_pointer(json.loads(b"".join(c.data for c in sent.chunks)), source)
        except ValueError:
            return
    if isinstance(value, str) and value:
        session.redactor.add(value)


@family("auth")
async def KEYS(session: TargetSession, scenarios: Sequence[Scenario]) -> dict[str, Evidence]:
    """One answer per probe, all sent after a single run of the setup, where the key is
    used (the token issuer, for a stream opened with an issued token)."""
    credentials = session.endpoint.credentials
    assert credentials is not None and credentials.key is not None
    target = session.endpoint.key_endpoint
    try:
        async with session.prepared(target) as ready:
            out: dict[str, Evidence] = {}
            for scenario in scenarios:
                plan = _plan(session, target, ready.values, credentials.key, scenario)
                sent = await exchange(session, plan, endpoint=target, variant=scenario.name)
                _hide_issued(session, sent)
                out[scenario.name] = replace(sent, setup_log=tuple(ready.log))
            return out
    except (SetupError, MissingVariable) as err:
        detail = session.redactor.text(str(err))
        spec = session.spec.name
        return {
            s.name: Transcript.unprepared(spec, target.name, "", s.name, detail) for s in scenarios
        }


MISSING = Scenario("key:missing", KEYS)
EMPTY = Scenario("key:empty", KEYS, lambda key: "")
GARBLED = Scenario("key:garbled", KEYS, lambda key: _GARBLED)
LOOK_ALIKE = Scenario("key:look-alike", KEYS, look_alike)
TRUNCATED = Scenario("key:truncated", KEYS, lambda key: key[:-1])
EXTENDED = Scenario("key:extended", KEYS, lambda key: key + "x")
IN_QUERY = Scenario("key:in-query", KEYS)
_DERIVED = (LOOK_ALIKE, TRUNCATED, EXTENDED)
PROBES = (MISSING, EMPTY, GARBLED, LOOK_ALIKE, TRUNCATED, EXTENDED, IN_QUERY)
