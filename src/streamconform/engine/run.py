"""One conformance run: specs, targets (or embedded reference servers), captures, verdicts.

Independent of pytest, so the plugin, the CLI and tests drive the same engine. Each
stream is captured once and every check of every suite judges that one transcript.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import socket
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from streamconform.checks import REGISTRY, Check, not_applicable
from streamconform.engine.bad_input import Probe, draw_cases, send_probes
from streamconform.engine.capture import capture_stream
from streamconform.engine.keys import probe_keys
from streamconform.engine.recorder import Limits
from streamconform.engine.redact import Redactor
from streamconform.engine.requests import new_client
from streamconform.engine.resume import (
    BAD_CURSORS,
    SUBSCRIBERS,
    WINDOW,
    Session,
    resume,
    resume_after_window,
    try_bad_cursor,
    two_subscribers,
)
from streamconform.engine.selection import Selection
from streamconform.engine.tokens import DEFAULT_RACE, MAX_RACE, try_tokens, unavailable
from streamconform.engine.verdict import Outcome, Result, case_id, judge
from streamconform.errors import SetupError, SpecError, TargetError
from streamconform.model import Endpoint, Spec, load_spec, resolve_variables
from streamconform.model.profile import Profile, load_profile
from streamconform.model.spec import INPUT_VARIANTS
from streamconform.resources import bundled_dir
from streamconform.servers import BackgroundServer, reference_app_for
from streamconform.servers.faults import Fault, fault_named
from streamconform.servers.http10 import Http10Front
from streamconform.transcript import End, RequestRecord, Transcript

__all__ = ["EMBEDDED", "Binding", "Case", "ConformanceRun", "RunConfig", "parse_assignments"]

EMBEDDED = "embedded"
_PROBE_TIMEOUT = 3.0
CREDENTIAL_PROBES = ("key:", "token:")  # engine.keys probes and engine.tokens scenarios


@dataclass(frozen=True, slots=True)
class RunConfig:
    """What to run: spec files or folders (empty: the bundled specs), target, overrides."""

    specs: Sequence[str | Path] = ()
    target: str | None = None
    profile: str | Path | None = None
    variables: Mapping[str, str] = field(default_factory=dict)
    strict: bool = False
    select: Sequence[str] = ()
    deselect: Sequence[str] = ()
    time_scale: float | None = None
    limits: Limits = field(default_factory=Limits)
    input_cases: int = 12
    seed: int = 0
    token_race: int = DEFAULT_RACE
    fault: str = ""  # a servers.faults name: that spec's reference server breaks so


@dataclass(frozen=True, slots=True, repr=False)
class Case:
    """One check on one endpoint of one spec: the unit a pytest test runs."""

    spec: Spec
    endpoint: Endpoint
    check: Check

    @property
    def id(self) -> str:
        return case_id(self.spec.name, self.endpoint.name, self.check.id)

    def __repr__(self) -> str:
        # Reports (Allure's parameters, pytest's messages) print a case by its id: the
        # whole spec would swamp them, and what a profile put in it is not theirs to show.
        return f"Case({self.id!r})"


@dataclass(slots=True)
class Binding:
    """Where a spec runs: a target URL or an embedded server, with its variables and scale."""

    spec: Spec
    target: str | None
    variables: dict[str, Any]
    scale: float
    server: BackgroundServer | None = None
    front: Http10Front | None = None  # a fault's HTTP/1.0 front to the server

    @property
    def label(self) -> str:
        """The target as reports name it (credentials in the URL removed)."""
        return Redactor().text(self.target) if self.target else EMBEDDED


def parse_assignments(items: Iterable[str]) -> dict[str, str]:
    """`name=value` strings from --var into a dict; a malformed one is a usage error."""
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise SpecError(f"--var {item!r}: expected NAME=VALUE")
        out[name.strip()] = value
    return out


def spec_files(paths: Sequence[str | Path]) -> list[Path]:
    """The spec files named (folders give their *.yaml), or the bundled ones."""
    files: list[Path] = []
    for entry in paths or [bundled_dir("specs")]:
        path = Path(entry)
        if path.is_dir():
            found = sorted(path.glob("*.yaml")) + sorted(path.glob("*.yml"))
            if not found:
                raise SpecError("no spec files (*.yaml) in this folder", location=str(path))
            files.extend(found)
        else:
            files.append(path)
    return files


def _check_target_url(url: str, origin: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SpecError(f"{origin} {url!r}: expected an http:// or https:// URL")
    try:
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        raise SpecError(f"{origin} {url!r}: the port is not a number") from None
    return url.rstrip("/")


def probe(url: str) -> None:
    """Fail fast, with one line, when nothing listens at the target."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname, port), timeout=_PROBE_TIMEOUT):
            pass
    except OSError as err:
        reason = err.strerror or type(err).__name__
        raise TargetError(f"cannot reach target {Redactor().text(url)}: {reason}") from None


_GAPS_KEPT = 200


def _timing(t: Transcript) -> dict[str, Any] | None:
    """Seconds from the request to the first event and to the end of an opened stream, and
    the gaps between its first events (for reports and comparisons)."""
    if not t.opened:
        return None
    timing: dict[str, Any] = {"duration": round(t.duration, 4)}
    if t.events:
        timing["first_event"] = round(t.events[0].time, 4)
        times = [e.time for e in t.events[: _GAPS_KEPT + 1]]
        timing["gaps"] = [round(b - a, 4) for a, b in itertools.pairwise(times)]
    return timing


class ConformanceRun:
    """Loads specs, binds each to a target, captures streams once and judges cases."""

    def __init__(self, config: RunConfig, environ: Mapping[str, str] | None = None) -> None:
        if not 2 <= config.token_race <= MAX_RACE:
            raise SpecError(f"--token-race {config.token_race}: give 2 to {MAX_RACE}")
        self.config = config
        self.selection = Selection(config.select, config.deselect)
        known = set(REGISTRY)
        self.specs = [load_spec(p, known_checks=known) for p in spec_files(config.specs)]
        names = [s.name for s in self.specs]
        if len(set(names)) != len(names):
            raise SpecError(f"two spec files share a name: {sorted(names)}")
        profile = load_profile(config.profile) if config.profile else None
        declared = {v for s in self.specs for v in s.variables}
        unknown = sorted(set(config.variables) - declared)
        if unknown:
            raise SpecError(f"--var {unknown[0]}: no spec declares this variable")
        env = os.environ if environ is None else environ
        self.bindings = {s.name: self._bind(s, profile, env) for s in self.specs}
        self.specs = [self.bindings[s.name].spec for s in self.specs]
        self.redactor = Redactor()
        for binding in self.bindings.values():
            secret = binding.spec.secret_variables
            self.redactor.add(*(str(v) for k, v in binding.variables.items() if k in secret))
        self._transcripts: dict[tuple[str, str, str], Transcript] = {}
        self._probed: set[str] = set()
        self.fault = self._find_fault(config.fault) if config.fault else None

    def _find_fault(self, name: str) -> Fault:
        fault = fault_named({s.name: s for s in self.specs}, name)
        if fault is None:
            raise SpecError(f"--fault {name}: no such fault (streamconform faults lists them)")
        if self.bindings[fault.spec].target is not None:
            raise SpecError(f"--fault {name}: faults break the reference servers, not a target")
        return fault

    def _bind(self, spec: Spec, profile: Profile | None, env: Mapping[str, str]) -> Binding:
        settings = profile.for_spec(spec.name) if profile else None
        if profile is not None:
            spec = profile.apply(spec)
        target = self.config.target or (settings.target if settings else None)
        if target:
            origin = "--target" if self.config.target else "target profile"
            target = _check_target_url(target, origin)
        elif spec.reference is None:
            raise SpecError(f"{spec.name}: no --target given and the spec has no reference server")
        variables = resolve_variables(
            spec,
            overrides=self.config.variables,
            profile=settings.vars if settings else {},
            environ=env,
            secret_defaults=target is None,
        )
        if self.config.time_scale is not None:
            scale = self.config.time_scale
        elif settings and settings.time_scale:
            scale = settings.time_scale
        elif target is None and spec.reference is not None:
            scale = spec.reference.time_scale
        else:
            scale = 1.0
        return Binding(spec, target, variables, scale)

    def cases(self, suite: str | None = None) -> list[Case]:
        """Every (spec, stream endpoint, check) of a suite that the selection keeps.

        A check written for another framing is left out altogether; one the spec makes
        inapplicable (data that is not JSON, say) is kept and reported as a skip.
        """
        out = []
        for spec in self.specs:
            for endpoint in spec.stream_endpoints:
                for chk in REGISTRY.values():
                    if suite is not None and chk.suite != suite:
                        continue
                    if endpoint.framing not in chk.framings:
                        continue
                    case = Case(spec, endpoint, chk)
                    if self.selected(case):
                        out.append(case)
        return out

    def selected(self, case: Case) -> bool:
        """Whether --select and --deselect keep the case (engine.selection)."""
        return self.selection.keeps(case.id, case.check.id, case.check.suite)

    def probe_targets(self) -> None:
        """Check that every real target answers TCP connections (TargetError otherwise)."""
        for binding in self.bindings.values():
            if binding.target is not None and binding.target not in self._probed:
                probe(binding.target)
                self._probed.add(binding.target)

    def base_url(self, spec: Spec) -> str:
        """The target URL, probing it once; or the embedded server, started on first use."""
        binding = self.bindings[spec.name]
        if binding.target is not None:
            if binding.target not in self._probed:
                probe(binding.target)
                self._probed.add(binding.target)
            return binding.target
        if binding.server is None:
            fault = self.fault if self.fault and self.fault.spec == spec.name else None
            app = reference_app_for(spec, binding.variables, binding.scale, fault)
            binding.server = BackgroundServer(app).start()
            if fault is not None and fault.transport == "http/1.0":
                binding.front = Http10Front(binding.server.port).start()
        return binding.front.url if binding.front else binding.server.url

    def transcript(self, spec: Spec, endpoint: Endpoint, variant: str = "") -> Transcript:
        """The endpoint's stream (or a variant of it), captured once and reused."""
        key = (spec.name, endpoint.name, variant)
        if key not in self._transcripts:
            binding = self.bindings[spec.name]
            base_url = self.base_url(spec)
            chosen = endpoint.variant(variant) if variant else None
            if variant in INPUT_VARIANTS:
                self._transcripts[key] = self._probe(spec, endpoint, variant, binding, base_url)
                return self._transcripts[key]
            if variant.startswith(("resume:", "cursor:", "subscribers:")):
                self._transcripts[key] = self._resume(spec, endpoint, variant, binding, base_url)
                return self._transcripts[key]
            if variant.startswith(CREDENTIAL_PROBES):
                self._probe_credentials(spec, endpoint, variant, binding, base_url)
                return self._transcripts[key]

            async def capture() -> Transcript:
                async with new_client() as client:
                    return await capture_stream(
                        client,
                        spec,
                        endpoint,
                        base_url,
                        binding.variables,
                        scale=binding.scale,
                        redactor=self.redactor,
                        limits=self.config.limits,
                        variant=chosen,
                    )

            self._transcripts[key] = asyncio.run(capture())
        return self._transcripts[key]

    def _probe(
        self, spec: Spec, endpoint: Endpoint, variant: str, binding: Binding, base_url: str
    ) -> Transcript:
        """Generated requests, as a transcript whose `probes` the bad-input checks read."""
        mode = variant.split(":", 1)[1]
        cases = draw_cases(endpoint, mode, self.config.input_cases, self.config.seed)

        async def send() -> tuple[list[Probe], list[str]]:
            async with new_client() as client:
                return await send_probes(
                    client,
                    spec,
                    endpoint,
                    base_url,
                    binding.variables,
                    cases,
                    mode=mode,
                    scale=binding.scale,
                    redactor=self.redactor,
                )

        try:
            probes, log = asyncio.run(send())
        except SetupError as err:
            return Transcript.unprepared(spec.name, endpoint.name, "", variant, str(err))
        return Transcript(
            spec.name,
            endpoint.name,
            "",
            RequestRecord("", ""),
            status=200,
            end=End.CLOSED,
            setup_log=tuple(log),
            variant=variant,
            probes=tuple(probes),
        )

    def _probe_credentials(
        self, spec: Spec, endpoint: Endpoint, variant: str, binding: Binding, base_url: str
    ) -> None:
        """Every key probe (or token scenario) the selected checks want of this endpoint,
        sent in one go: the endpoint's setup runs once for all of them."""
        family = variant.split(":", 1)[0] + ":"
        wanted = {variant}
        for chk in REGISTRY.values():
            if chk.variants is None or not_applicable(chk, endpoint) is not None:
                continue
            if self.selected(Case(spec, endpoint, chk)):
                wanted.update(n for n in chk.variants(endpoint) if n.startswith(family))
        on_target = binding.target is not None
        names = sorted(
            n
            for n in wanted
            if family == "key:" or not unavailable(spec, endpoint, n, on_target, binding.scale)
        )
        scale, redactor, limits, race = (
            binding.scale,
            self.redactor,
            self.config.limits,
            self.config.token_race,
        )

        async def send() -> dict[str, Transcript]:
            async with new_client() as client:
                args = (client, spec, endpoint, base_url, binding.variables, names)
                if family == "key:":
                    return await probe_keys(*args, scale=scale, redactor=redactor, limits=limits)
                return await try_tokens(
                    *args, scale=scale, redactor=redactor, limits=limits, race=race
                )

        for name, transcript in asyncio.run(send()).items():
            self._transcripts[(spec.name, endpoint.name, name)] = transcript

    def _resume(
        self, spec: Spec, endpoint: Endpoint, variant: str, binding: Binding, base_url: str
    ) -> Transcript:
        """A cut-and-resume scenario (or a bad cursor, or a wait past the window)."""
        return asyncio.run(self._resume_many(spec, endpoint, [variant], binding, base_url))[0]

    def _prefetch_resumes(
        self, spec: Spec, endpoint: Endpoint, names: list[str], binding: Binding
    ) -> None:
        """Run the resume scenarios a check needs side by side: each mostly waits on a run."""
        todo = [
            n
            for n in names
            if n.startswith(("resume:", "cursor:", "subscribers:"))
            and (spec.name, endpoint.name, n) not in self._transcripts
            and endpoint.variant(n) is not None
        ]
        if len(todo) < 2:
            return
        self.transcript(spec, endpoint)  # the plain capture first: it sizes the scenarios
        base_url = self.base_url(spec)
        done = asyncio.run(self._resume_many(spec, endpoint, todo, binding, base_url))
        for name, result in zip(todo, done, strict=True):
            self._transcripts[(spec.name, endpoint.name, name)] = result

    async def _resume_many(
        self, spec: Spec, endpoint: Endpoint, names: list[str], binding: Binding, base_url: str
    ) -> list[Transcript]:
        main = self._transcripts.get((spec.name, endpoint.name, ""))
        rules = endpoint.events
        key = rules.key_field if rules else ""
        run = main.captures.get(key) if key and main else None
        expected = sum(
            1
            for e in (main.events if main else ())
            if not key or (rules is not None and rules.run_of(e) == run)
        )
        async with new_client() as client:
            session = Session(
                client,
                spec,
                endpoint,
                base_url,
                binding.variables,
                binding.scale,
                self.redactor,
                self.config.limits,
            )

            async def one(name: str) -> Transcript:
                if name in BAD_CURSORS:
                    return await try_bad_cursor(session, name)
                if name == WINDOW:
                    return await resume_after_window(session, name)
                if name == SUBSCRIBERS:
                    return await two_subscribers(session, name)
                return await resume(session, name, max(expected, 1))

            return list(await asyncio.gather(*(one(n) for n in names)))

    def judge(self, case: Case) -> Result:
        """The verdict of one case (captures the streams it needs if no earlier case did)."""
        binding = self.bindings[case.spec.name]
        chk, spec, endpoint = case.check, case.spec, case.endpoint

        def one(transcript: Transcript | None) -> Result:
            return judge(
                chk,
                spec,
                endpoint,
                transcript,
                target=binding.label,
                strict=self.config.strict,
                redactor=self.redactor,
            )

        if not_applicable(chk, endpoint) is not None:
            return one(None)
        if chk.variants is None:
            plain = self.transcript(spec, endpoint)
            return replace(one(plain), timing=_timing(plain))
        self._prefetch_resumes(spec, endpoint, chk.variants(endpoint), binding)
        named = [
            (name, self._judge_variant(one, spec, endpoint, name, binding))
            for name in chk.variants(endpoint)
        ]
        # a case judged on several captures takes the gravest of their outcomes
        worst_name, worst = max(named, key=lambda item: item[1].outcome.gravity)
        summary = "; ".join(f"{name}: {result.outcome.value}" for name, result in named)
        if worst.outcome is Outcome.PASS:
            return replace(worst, message=summary)
        return replace(worst, message=f"{worst_name}: {worst.message}\n(all: {summary})")

    def _judge_variant(
        self,
        one: Callable[[Transcript | None], Result],
        spec: Spec,
        endpoint: Endpoint,
        name: str,
        binding: Binding,
    ) -> Result:
        if name.startswith("token:"):
            reason = unavailable(spec, endpoint, name, binding.target is not None, binding.scale)
            if reason:
                return replace(one(None), outcome=Outcome.UNTESTABLE, message=reason)
        if name.startswith(CREDENTIAL_PROBES):
            return one(self.transcript(spec, endpoint, name))
        variant = endpoint.variant(name)
        if variant is None:
            return replace(
                one(None),
                outcome=Outcome.UNTESTABLE,
                message=f"the spec gives no way to provoke {name} on this endpoint",
            )
        if variant.reference_only and binding.target is not None:
            return replace(
                one(None),
                outcome=Outcome.UNTESTABLE,
                message=f"{name} is provoked only on the reference server; a target "
                "profile would need to say how",
            )
        return one(self.transcript(spec, endpoint, name))

    def close(self) -> None:
        """Stop every embedded server this run started."""
        for binding in self.bindings.values():
            if binding.front is not None:
                binding.front.stop()
                binding.front = None
            if binding.server is not None:
                binding.server.stop()
                binding.server = None
