"""One conformance run: specs, targets (or embedded reference servers), captures, verdicts.

Independent of pytest, so the plugin, the CLI and tests drive the same engine. Each
stream is captured once and every check of every suite judges that one transcript.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import socket
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from streamconform.capture.session import ScenarioSettings, TargetSession
from streamconform.checks import REGISTRY, Check, not_applicable
from streamconform.core.evidence import Evidence
from streamconform.core.outcome import Outcome, Result, case_id
from streamconform.core.redact import Redactor
from streamconform.core.transcript import Transcript
from streamconform.engine.background import Background
from streamconform.engine.selection import Selection
from streamconform.engine.verdict import crash_message, judge
from streamconform.errors import InternalError, SpecError, TargetError
from streamconform.model import Endpoint, Spec, load_spec, resolve_variables
from streamconform.model.load import link_credentials
from streamconform.model.profile import Profile, load_profile
from streamconform.resources import bundled_dir
from streamconform.scenarios.registry import Family, Scenario
from streamconform.scenarios.stream import PLAIN
from streamconform.scenarios.token import DEFAULT_RACE, MAX_RACE
from streamconform.servers import BackgroundServer, reference_app_for
from streamconform.servers.faults import Fault, fault_named
from streamconform.servers.http10 import Http10Front

__all__ = [
    "DEFAULT_CONCURRENCY",
    "EMBEDDED",
    "Binding",
    "Case",
    "ConformanceRun",
    "RunConfig",
    "parse_assignments",
]

EMBEDDED = "embedded"
DEFAULT_CONCURRENCY = 8
_PROBE_TIMEOUT = 3.0


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
    # the suite's capture bounds (bytes), over the profile's and the spec's
    max_event_bytes: int | None = None
    max_body_bytes: int | None = None
    input_cases: int = 12
    seed: int = 0
    token_race: int = DEFAULT_RACE
    fault: str = ""  # a servers.faults name: that spec's reference server breaks so
    concurrency: int = DEFAULT_CONCURRENCY  # plays at once, where they do not disturb each other


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
    strict_assumptions: bool = False  # the profile's `strict`: assumed findings fail
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


def load_specs(paths: Sequence[str | Path]) -> list[Spec]:
    """The specs of these files and folders (the bundled ones if none), each name once."""
    known = set(REGISTRY)
    specs = [load_spec(p, known_checks=known) for p in spec_files(paths)]
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise SpecError(f"two spec files share a name: {sorted(names)}")
    return specs


def cases_of(specs: Sequence[Spec], selection: Selection, suite: str | None = None) -> list[Case]:
    """Every (spec, endpoint, check) of a suite that the selection keeps: each stream
    endpoint's, and the checks of any endpoint (bad input) on the others. Needs no target:
    what is listed is what a run would judge."""
    out = []
    for spec in specs:
        for endpoint in spec.endpoints.values():
            for chk in REGISTRY.values():
                if suite is not None and chk.suite != suite:
                    continue
                if endpoint.framing is None and not chk.any_endpoint:
                    continue
                if endpoint.framing is not None and endpoint.framing not in chk.framings:
                    continue
                case = Case(spec, endpoint, chk)
                if selection.keeps(case.id, chk.id, chk.suite):
                    out.append(case)
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


@dataclass(slots=True, eq=False)
class _Batch:
    """One play of a family, planned: the scenarios it plays, the target whose plays it
    takes turns with (None: it waits for none), the plain capture it waits for (an
    after-plain family), and a future per scenario."""

    session: TargetSession
    family: Family
    scenarios: list[Scenario]
    turns: str | None
    plain: Future[Evidence] | None
    futures: dict[str, Future[Evidence]]


def disturbs(endpoint: Endpoint) -> bool:
    """Whether a play on this endpoint can see or change what another play on the same
    target does: a multiplexed stream (it declares filters, so it carries events that other
    requests start) or a teardown (it destroys what its setup made, which a play beside it
    may be using). Such a target's plays run one after another."""
    return bool(endpoint.teardown or (endpoint.events and endpoint.events.filters))


async def _play(batch: _Batch, plain: Transcript | None) -> dict[str, Evidence]:
    """One play of a family on a session of its own; its connections close with it. A
    keep-alive connection left idle until a later play could be closed by the server just
    as it is reused, and a request lost that way would read as the server's failure."""
    session = batch.session.fork()
    session.plain = plain
    try:
        return await batch.family.play(session, batch.scenarios)
    finally:
        await session.aclose()


class ConformanceRun:
    """Loads specs, binds each to a target, captures streams once and judges cases."""

    def __init__(self, config: RunConfig, environ: Mapping[str, str] | None = None) -> None:
        if config.concurrency < 1:
            raise SpecError(f"--concurrency {config.concurrency}: give 1 or more")
        for name in ("max_event_bytes", "max_body_bytes"):
            value = getattr(config, name)
            if value is not None and value < 1:
                raise SpecError(f"--{name.replace('_', '-')} {value}: give 1 or more")
        if not 2 <= config.token_race <= MAX_RACE:
            raise SpecError(f"--token-race {config.token_race}: give 2 to {MAX_RACE}")
        self.config = config
        self.selection = Selection(config.select, config.deselect)
        self.specs = load_specs(config.specs)
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
        self._evidence: dict[tuple[str, str, str], Future[Evidence]] = {}
        self._sessions: dict[tuple[str, str], TargetSession] = {}
        self._background = Background()
        self._shared: dict[str, bool] = {}  # by target: whether its plays disturb each other
        self._locks: dict[str, asyncio.Lock] = {}  # by target; on the background loop only
        self._slots: asyncio.Semaphore | None = None
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
        cli = {
            name: value
            for name, value in (
                ("event_bytes", self.config.max_event_bytes),
                ("body_bytes", self.config.max_body_bytes),
            )
            if value is not None
        }
        if cli:
            sized = {n: replace(e, sizes=e.sizes.changed(**cli)) for n, e in spec.endpoints.items()}
            spec = link_credentials(replace(spec, endpoints=sized))
        target = self.config.target or (settings.target if settings else None)
        if target:
            origin = "--target" if self.config.target else "target profile"
            target = _check_target_url(target, origin)
        elif spec.reference is None:
            raise SpecError(
                f"{spec.name}: no --target given, and the spec has no reference server to "
                "run instead; give --target URL or a target profile's target"
            )
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
        strict = bool(settings and settings.strict)
        return Binding(spec, target, variables, scale, strict_assumptions=strict)

    def cases(self, suite: str | None = None) -> list[Case]:
        """Every (spec, endpoint, check) of a suite that the selection keeps: each stream
        endpoint's, and the checks of any endpoint (bad input) on the others.

        A check written for another framing is left out altogether; one the spec makes
        inapplicable (data that is not JSON, say) is kept and reported as a skip.
        """
        return cases_of(self.specs, self.selection, suite)

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

    def session(self, spec: Spec, endpoint: Endpoint) -> TargetSession:
        """The endpoint's target session, built once (starting its server on first use)."""
        key = (spec.name, endpoint.name)
        if key not in self._sessions:
            binding = self.bindings[spec.name]
            self._sessions[key] = TargetSession(
                spec,
                endpoint,
                self.base_url(spec),
                binding.variables,
                binding.scale,
                self.redactor,
                on_target=binding.target is not None,
                settings=ScenarioSettings(
                    self.config.input_cases, self.config.seed, self.config.token_race
                ),
            )
        return self._sessions[key]

    def _target_key(self, spec: Spec) -> str:
        binding = self.bindings[spec.name]
        return binding.target or f"{EMBEDDED}:{spec.name}"

    def _turns(self, spec: Spec) -> str | None:
        """The target whose plays take turns (see `disturbs`; all of them when plays run
        one at a time), or None where a play waits for no other."""
        target = self._target_key(spec)
        if target not in self._shared:
            self._shared[target] = any(
                disturbs(ep)
                for other in self.specs
                if self._target_key(other) == target
                for ep in other.stream_endpoints
            )
        return target if self._shared[target] or self.config.concurrency == 1 else None

    def prefetch(self, cases: Iterable[Case]) -> None:
        """Start gathering, in the background, the evidence these cases will be judged on.

        Each family plays the same scenarios together as when the cases are judged one by
        one; plays that do not disturb each other overlap, at most `concurrency` at once.
        """
        self._submit(self._plan(cases))

    def _submit(self, batches: Iterable[_Batch]) -> None:
        for batch in batches:
            self._background.submit(self._run_batch(batch))

    def _plan(self, cases: Iterable[Case]) -> list[_Batch]:
        planned: list[_Batch] = []
        for case in cases:
            chk, spec, endpoint = case.check, case.spec, case.endpoint
            if not_applicable(chk, endpoint) is not None:
                continue
            scenarios = chk.scenarios(endpoint) if chk.scenarios else [PLAIN]
            along = scenarios if chk.scenarios else []
            session = self.session(spec, endpoint)
            for scenario in scenarios:
                if not scenario.unavailable(session):
                    self._plan_one(session, scenario, along, planned)
        return planned

    def _plan_one(
        self,
        session: TargetSession,
        scenario: Scenario,
        along: Sequence[Scenario],
        planned: list[_Batch],
    ) -> None:
        """Plan the play that gathers a scenario, if none has: with it, the scenarios of
        its family in `along` (a check's others) and, for a batched family, every one the
        selected checks want of this endpoint."""
        spec, endpoint = session.spec, session.endpoint
        if (spec.name, endpoint.name, scenario.name) in self._evidence:
            return
        family = scenario.family
        plain = None
        if family.after_plain:
            self._plan_one(session, PLAIN, (), planned)
            plain = self._evidence[(spec.name, endpoint.name, PLAIN.name)]
        wanted = {scenario.name: scenario}
        others = [*along, *(self._wanted(spec, endpoint) if family.batched else ())]
        for other in others:
            done = (spec.name, endpoint.name, other.name) in self._evidence
            if other.family is family and not done and not other.unavailable(session):
                wanted.setdefault(other.name, other)
        batch = sorted(wanted.values(), key=lambda s: s.name)
        futures: dict[str, Future[Evidence]] = {s.name: Future() for s in batch}
        for name, future in futures.items():
            self._evidence[(spec.name, endpoint.name, name)] = future
        planned.append(_Batch(session, family, batch, self._turns(spec), plain, futures))

    async def _run_batch(self, batch: _Batch) -> None:
        """Play a planned batch in its lane and settle its futures, whatever happens."""
        try:
            plain = None
            if batch.plain is not None:
                waited = await asyncio.wrap_future(batch.plain)
                assert isinstance(waited, Transcript)
                plain = waited
            turn = (
                self._locks.setdefault(batch.turns, asyncio.Lock())
                if batch.turns is not None
                else contextlib.nullcontext()
            )
            if self._slots is None:
                self._slots = asyncio.Semaphore(self.config.concurrency)
            async with turn, self._slots:
                played = await _play(batch, plain)
        except asyncio.CancelledError:
            for future in batch.futures.values():
                future.cancel()
            raise
        except Exception as err:  # raised again where a case waits for it
            played = {}
            for future in batch.futures.values():
                if not future.done():
                    future.set_exception(err)
        for name, future in batch.futures.items():
            if not future.done():
                if name in played:
                    future.set_result(played[name])
                else:
                    future.set_exception(InternalError(f"scenario {name!r} was not played"))

    def evidence(self, spec: Spec, endpoint: Endpoint, scenario: Scenario) -> Evidence:
        """A scenario's evidence, gathered once (played now if nothing planned it), once its
        play has ended; what the play raised, if it did."""
        key = (spec.name, endpoint.name, scenario.name)
        if key not in self._evidence:
            planned: list[_Batch] = []
            self._plan_one(self.session(spec, endpoint), scenario, (), planned)
            self._submit(planned)
        return self._evidence[key].result()

    def transcript(self, spec: Spec, endpoint: Endpoint) -> Transcript:
        """The endpoint's plain stream, captured once and reused."""
        plain = self.evidence(spec, endpoint, PLAIN)
        assert isinstance(plain, Transcript)
        return plain

    def _wanted(self, spec: Spec, endpoint: Endpoint) -> list[Scenario]:
        """Every scenario the selected, applicable checks judge on this endpoint."""
        out: list[Scenario] = []
        for chk in REGISTRY.values():
            if chk.scenarios is None or not_applicable(chk, endpoint) is not None:
                continue
            if self.selected(Case(spec, endpoint, chk)):
                out.extend(chk.scenarios(endpoint))
        return out

    def judge_all(self, cases: Sequence[Case]) -> list[Result]:
        """The verdicts of these cases, in order, their evidence gathered ahead, side by side
        where plays cannot disturb each other."""
        self.prefetch(cases)
        return [self.judge(case) for case in cases]

    def judge(self, case: Case) -> Result:
        """The verdict of one case (gathers the evidence it needs if no earlier case did)."""
        binding = self.bindings[case.spec.name]
        chk, spec, endpoint = case.check, case.spec, case.endpoint

        def one(evidence: Evidence | None) -> Result:
            return judge(
                chk,
                spec,
                endpoint,
                evidence,
                target=binding.label,
                strict=self.config.strict,
                redactor=self.redactor,
                strict_assumptions=self.config.strict or binding.strict_assumptions,
            )

        def played(scenario: Scenario) -> Evidence | Result:
            """The scenario's evidence, or this case's error when its play raised."""
            try:
                return self.evidence(spec, endpoint, scenario)
            except (SpecError, TargetError):
                raise  # no verdict at all: the run stops with its one line
            except Exception as err:  # a defect of ours: this case's error, not the run's end
                name = scenario.name
                what = f"the play of scenario {name!r}" if name else "the stream's capture"
                message = crash_message(f"{what} (for check {chk.id})", err, self.redactor)
                return replace(one(None), outcome=Outcome.ERROR, message=message)

        if not_applicable(chk, endpoint) is not None:
            return one(None)
        self.prefetch([case])  # what no earlier prefetch planned
        if chk.scenarios is None:
            plain = played(PLAIN)
            if isinstance(plain, Result):
                return plain
            assert isinstance(plain, Transcript)
            return replace(one(plain), timing=_timing(plain))
        named = []
        scenarios = chk.scenarios(endpoint)
        for scenario in scenarios:
            reason = scenario.unavailable(self.session(spec, endpoint))
            if reason:
                named.append((scenario.name, replace(one(None), message=reason)))
                continue
            gathered = played(scenario)
            named.append(
                (scenario.name, gathered if isinstance(gathered, Result) else one(gathered))
            )
        # a case judged on several scenarios takes the gravest of their outcomes
        worst_name, worst = max(named, key=lambda item: item[1].outcome.gravity)
        summary = "; ".join(f"{name}: {result.outcome.value}" for name, result in named)
        if worst.outcome is Outcome.PASS:
            return replace(worst, message=summary)
        return replace(worst, message=f"{worst_name}: {worst.message}\n(all: {summary})")

    def evidence_of(self, case: Case) -> list[tuple[str, Evidence]]:
        """What the case was judged on, by scenario name ("" for the plain stream): every
        piece already gathered, for reports."""
        spec, endpoint = case.spec.name, case.endpoint.name
        names = (
            [s.name for s in case.check.scenarios(case.endpoint)] if case.check.scenarios else [""]
        )
        out = []
        for name in dict.fromkeys(names):
            future = self._evidence.get((spec, endpoint, name))
            settled = future is not None and future.done() and not future.cancelled()
            if future is not None and settled and future.exception() is None:
                out.append((name, future.result()))
        return out

    def close(self) -> None:
        """Close every session's client and the run's event loop, and stop every embedded
        server this run started."""
        self._background.close()
        self._sessions.clear()
        self._evidence.clear()
        self._locks.clear()
        self._slots = None
        for binding in self.bindings.values():
            if binding.front is not None:
                binding.front.stop()
                binding.front = None
            if binding.server is not None:
                binding.server.stop()
                binding.server = None
