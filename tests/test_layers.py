"""The import contract between streamconform's parts, read from the source with `ast`.

Every `import` and `from ... import` of a streamconform module is collected, those inside
functions included (and `importlib.import_module` of a literal name), and mapped to the
top-level package or module it belongs to: a unit. Between units:

(a) there is no import cycle;

(b) the units stand in layers, and a unit imports only from layers below its own (units
    that share a layer do not import each other). Bottom to top:

     1. errors                        the exceptions; imports nothing
     2. decode, formats, resources    the decoders, JSON Schema and RFC 3339 helpers,
                                      bundled files; import nothing but errors
     3. model                         the spec model; its event rules read decoded events
                                      (model.spec uses decode.events.Event)
     4. core                          transcripts, evidence, findings, outcomes, redaction:
                                      records of decoded events and of the spec's cases
                                      (core.transcript uses decode.events; core.evidence
                                      uses model.spec's ErrorCase, Failure, Filter)
     5. capture                       recording a target's answers
     6. scenarios                     what is asked of a target, recorded through capture
     7. checks                        pure judgements of a scenario's evidence
     8. report, servers               rendering results (core, errors only) and the
                                      reference servers (decode, errors, formats, model
                                      only): neither imports the other
     9. engine                        runs scenarios and checks, against the servers too
    10. cli, pytest_plugin            the two front ends; neither imports the other

    core, decode, model, formats and resources were meant as one layer, but the code has
    model -> decode and core -> decode, model (and none the other way), so they are three:
    a stricter order than one layer of peers. report and servers share a layer because
    neither needs the other; with servers above checks, nothing that judges a target
    (capture, scenarios, checks) can import the reference servers. The package root,
    streamconform/__init__.py, is the public facade: it loads any unit lazily by name, so
    no module inside imports from it (that would hide the real dependency);

(c) core imports nothing from capture, scenarios, checks, engine, report or servers;

(d) in a fresh interpreter, importing the decoders loads no HTTP client, server or test
    generator and no other part of streamconform, and importing core.transcript loads no
    HTTP client.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from itertools import pairwise
from pathlib import Path

import pytest

PACKAGE_DIR = Path(__file__).resolve().parents[1] / "src" / "streamconform"
PACKAGE = "streamconform"
FACADE = "streamconform (the package root)"

LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors",),
    ("decode", "formats", "resources"),
    ("model",),
    ("core",),
    ("capture",),
    ("scenarios",),
    ("checks",),
    ("report", "servers"),
    ("engine",),
    ("cli", "pytest_plugin"),
)
LAYER_OF = {unit: n for n, layer in enumerate(LAYERS) for unit in layer}
ABOVE_CORE = frozenset({"capture", "scenarios", "checks", "engine", "report", "servers"})
# what the decoders must not load: the HTTP client, the servers, the test generators
HEAVY = frozenset({"httpx", "schemathesis", "hypothesis", "starlette", "uvicorn"})


@dataclass(frozen=True)
class Import:
    """One import statement's streamconform target, where it is written."""

    module: str  # the importing module, dotted
    line: int
    target: str  # the imported module, or module.name for `from module import name`

    def __str__(self) -> str:
        return f"{self.module}:{self.line} imports {self.target}"


def module_name(path: Path) -> str:
    parts = [PACKAGE, *path.relative_to(PACKAGE_DIR).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def units() -> frozenset[str]:
    """The top-level packages and modules of streamconform, as they are on disk."""
    found = {p.name for p in PACKAGE_DIR.iterdir() if (p / "__init__.py").is_file()}
    found |= {p.stem for p in PACKAGE_DIR.glob("*.py") if p.name != "__init__.py"}
    return frozenset(found)


def unit_of(name: str) -> str | None:
    """The unit a dotted name belongs to; FACADE for the package root, None outside it."""
    parts = name.split(".")
    if parts[0] != PACKAGE:
        return None
    return parts[1] if len(parts) > 1 and parts[1] in units() else FACADE


def imports_in(path: Path, name: str) -> Iterator[Import]:
    """Every import of a streamconform name in module `name` (at `path`), at any depth."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            # `from streamconform import x` names a unit only through x
            targets = [f"{base}.{a.name}" for a in node.names] if base == PACKAGE else [base]
        elif isinstance(node, ast.Call) and node.args:
            func, first = node.func, node.args[0]
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called == "import_module" and isinstance(first, ast.Constant):
                targets = [str(first.value)]
        for target in targets:
            if unit_of(target) is not None:
                yield Import(name, node.lineno, target)


@cache
def all_imports() -> tuple[Import, ...]:
    found = []
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        if path.parent == PACKAGE_DIR and path.name == "__init__.py":
            continue  # the facade loads everything lazily, by design
        found.extend(imports_in(path, module_name(path)))
    return tuple(found)


def graph() -> dict[str, dict[str, list[Import]]]:
    """unit -> unit it imports -> the imports that make the edge."""
    edges: dict[str, dict[str, list[Import]]] = defaultdict(lambda: defaultdict(list))
    for imp in all_imports():
        source, target = unit_of(imp.module), unit_of(imp.target)
        assert source is not None and target is not None
        if source != target:
            edges[source][target].append(imp)
    return edges


def cycles(edges: dict[str, dict[str, list[Import]]]) -> list[list[str]]:
    """One shortest cycle through each strongly connected set of units (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    components: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in edges.get(node, {}):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                component.add(member)
                if member == node:
                    break
            components.append(component)

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return [shortest_cycle(edges, c) for c in components if len(c) > 1]


def shortest_cycle(edges: dict[str, dict[str, list[Import]]], component: set[str]) -> list[str]:
    """A shortest cycle from the component's first unit back to it (breadth first)."""
    start = min(component)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        step = []
        for node in frontier:
            for nxt in sorted(edges.get(node, {})):
                if nxt == start:
                    return [*paths[node], start]
                if nxt in component and nxt not in paths:
                    paths[nxt] = [*paths[node], nxt]
                    step.append(nxt)
        frontier = step
    raise AssertionError(f"no cycle through {sorted(component)}")


def sites(imports: list[Import], shown: int = 3) -> str:
    more = f" (and {len(imports) - shown} more)" if len(imports) > shown else ""
    return "; ".join(str(i) for i in imports[:shown]) + more


def test_the_parser_finds_imports_at_any_depth(tmp_path: Path) -> None:
    """The contract is only as good as the parser: it finds imports at module level, in
    functions and under TYPE_CHECKING, relative ones, `from streamconform import x`, and
    `importlib.import_module` of a literal name; it leaves other packages out."""
    package = tmp_path / "checks"
    package.mkdir()
    (package / "__init__.py").write_text("")
    source = package / "sample.py"
    source.write_text(
        "import json\n"
        "import streamconform.core.transcript\n"
        "from typing import TYPE_CHECKING\n"
        "from streamconform import errors\n"
        "from . import registry\n"
        "from ..model import spec\n"
        "if TYPE_CHECKING:\n"
        "    from streamconform.report.wire import excerpt\n"
        "def late():\n"
        "    from streamconform.engine.run import ConformanceRun\n"
        "    return importlib.import_module('streamconform.servers')\n"
    )
    found = [(i.line, i.target) for i in imports_in(source, "streamconform.checks.sample")]
    assert found == [
        (2, "streamconform.core.transcript"),
        (4, "streamconform.errors"),
        (5, "streamconform.checks"),
        (6, "streamconform.model"),
        (8, "streamconform.report.wire"),
        (10, "streamconform.engine.run"),
        (11, "streamconform.servers"),
    ]


def test_every_unit_has_a_layer() -> None:
    """A new top-level package or module has to be placed in the layers; a renamed one
    has to be renamed here."""
    on_disk = units()
    assert on_disk - LAYER_OF.keys() == set(), "units with no layer: add them to LAYERS"
    assert LAYER_OF.keys() - on_disk == set(), "LAYERS names units that no longer exist"


def test_no_cycles_between_units() -> None:
    """(a) No import cycle between the top-level packages and modules."""
    edges = graph()
    shown = []
    for cycle in cycles(edges):
        steps = [f"    {a} -> {b}: {sites(edges[a][b])}" for a, b in pairwise(cycle)]
        shown.append(" -> ".join(cycle) + "\n" + "\n".join(steps))
    assert not shown, "import cycles between units:\n" + "\n".join(shown)


def test_units_import_only_from_layers_below() -> None:
    """(b) Each unit imports only from layers below its own; none imports the facade."""
    bad = []
    for source, targets in sorted(graph().items()):
        for target, imports in sorted(targets.items()):
            if target == FACADE:
                bad.append(f"{source} imports from {FACADE}: {sites(imports)}")
            elif LAYER_OF[target] >= LAYER_OF[source]:
                how = "beside it" if LAYER_OF[target] == LAYER_OF[source] else "above it"
                bad.append(
                    f"{source} (layer {LAYER_OF[source] + 1}) imports {target} "
                    f"(layer {LAYER_OF[target] + 1}, {how}): {sites(imports)}"
                )
    assert not bad, "imports against the layering:\n" + "\n".join(bad)


def test_core_imports_nothing_above_it() -> None:
    """(c) core is below capture, scenarios, checks, engine, report and servers."""
    bad = [
        str(i)
        for i in all_imports()
        if unit_of(i.module) == "core" and unit_of(i.target) in ABOVE_CORE
    ]
    assert not bad, "core imports from above it:\n" + "\n".join(bad)


def loaded_by(module: str, tmp_path: Path) -> list[str]:
    """The modules a fresh interpreter loads to import `module`."""
    code = (
        "import importlib, json, sys\n"
        "before = set(sys.modules)\n"
        f"importlib.import_module({module!r})\n"
        "print(json.dumps(sorted(set(sys.modules) - before)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=60
    )
    assert done.returncode == 0, done.stderr
    loaded: list[str] = json.loads(done.stdout)
    return loaded


def top(names: list[str], wanted: frozenset[str]) -> list[str]:
    """Which of the `wanted` top-level packages the module names belong to."""
    return sorted({n.partition(".")[0] for n in names} & wanted)


def test_the_decoders_load_alone(tmp_path: Path) -> None:
    """(d) `import streamconform.decode` loads none of the HTTP, server or test-generation
    libraries, and no part of streamconform but the decoders and the package root."""
    loaded = loaded_by("streamconform.decode", tmp_path)
    assert top(loaded, HEAVY) == [], "importing streamconform.decode loads these libraries"
    others = [
        n for n in loaded if unit_of(n) is not None and n != PACKAGE and unit_of(n) != "decode"
    ]
    assert others == [], "importing streamconform.decode loads other parts of streamconform"


def test_the_transcript_loads_no_http_client(tmp_path: Path) -> None:
    """(d) `import streamconform.core.transcript` does not load httpx."""
    loaded = loaded_by("streamconform.core.transcript", tmp_path)
    assert top(loaded, frozenset({"httpx"})) == [], "core.transcript loads the HTTP client"


@pytest.mark.parametrize(
    ("edges", "expected"),
    [
        ({"a": {"b": []}, "b": {"a": []}}, [["a", "b", "a"]]),
        ({"a": {"b": []}, "b": {"c": []}, "c": {"a": [], "d": []}}, [["a", "b", "c", "a"]]),
        ({"a": {"b": []}, "b": {"c": []}}, []),
    ],
)
def test_cycles_are_found_and_shown(
    edges: dict[str, dict[str, list[Import]]], expected: list[list[str]]
) -> None:
    """The cycle search itself: a cycle is found and shown from its first unit round."""
    assert cycles(edges) == expected
