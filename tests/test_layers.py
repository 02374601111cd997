"""Imports point down: every product module belongs to one layer and imports only from its own
layer or the ones below it, and no two modules import each other, however indirectly.

The layers, bottom up (a module belongs to the longest prefix that names it):

1. kernel: settings, errors, logging, Kafka client settings, the pseudonymizer;
2. contracts: ``schemas`` (every topic's records and what they embed, validation, the registry);
3. storage: the ClickHouse client, tables, the topic → table routes and migrations
   (``sinks.client``, ``sinks.tables``, ``sinks.engines``, ``sinks.routes``, ``sinks.migrations``);
4. cores: ``orchestration``, pure decisions that import no Kafka or ClickHouse client;
5. processes: the stream stages, the sink, the dashboard, the ingestion front doors, and
   marketing's I/O (campaign store, audiences, uplift) and the service catalogue's (its
   follower and store) that the stages, the dashboard and the CLI share;
6. the roof: the CLI, the local platform that starts the processes, the simulator, recovery,
   and the catalogue's seed, which reads the simulator's static catalogue.

The test reads the source (``ast``), so it sees imports inside functions too.
"""

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("kernel", "schemas", "sinks", "streams", "orchestration", "dashboards", "channelhub")
#: The packages under ``channelhub`` that the stages and the dashboard share with the CLI.
PROCESS_PACKAGES = ("channelhub.ingest", "channelhub.marketing", "channelhub.catalogue")
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("kernel", ("kernel",)),
    ("contracts", ("schemas",)),
    (
        "storage",
        ("sinks.client", "sinks.engines", "sinks.tables", "sinks.routes", "sinks.migrations"),
    ),
    ("cores", ("orchestration",)),
    ("processes", ("streams", "sinks", "dashboards", *PROCESS_PACKAGES)),
    ("roof", ("channelhub", "channelhub.catalogue.seed")),
)
#: Client libraries of the outside world that a pure core must not touch.
IO_CLIENTS = ("kafka", "aiokafka", "clickhouse_driver")


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


MODULES = _modules()


def _layer(module: str) -> int | None:
    """The index of ``module``'s layer; None for what is not the product's."""
    best: tuple[int, int] | None = None
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and (
                best is None or len(prefix) > best[1]
            ):
                best = (index, len(prefix))
    return None if best is None else best[0]


def _imports(path: Path) -> Iterator[str]:
    """What every absolute import of the file names: ``from a import b`` is module ``a.b`` when
    there is one (importing a submodule through its package is no import of the package's
    other modules), else ``a``."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                yield submodule if submodule in MODULES else node.module


def _wrong_way() -> set[tuple[str, str]]:
    wrong = set()
    for module, path in MODULES.items():
        own = _layer(module)
        assert own is not None, module
        for target in _imports(path):
            layer = _layer(target)
            if layer is not None and layer > own:
                wrong.add((module, target))
            if LAYERS[own][0] == "cores" and target.split(".")[0] in IO_CLIENTS:
                wrong.add((module, target.split(".")[0]))
    return wrong


def test_every_import_points_down_to_its_own_layer_or_below() -> None:
    wrong = sorted(_wrong_way())
    assert not wrong, "imports that point up a layer (or a core that does I/O):\n" + "\n".join(
        f"  {module} imports {target}" for module, target in wrong
    )


def _cycles(graph: dict[str, set[str]]) -> list[str]:
    """Every import cycle a depth-first walk meets, as ``a → b → a``."""
    cycles: list[str] = []
    done: set[str] = set()
    path: list[str] = []

    def visit(module: str) -> None:
        if module in path:
            cycles.append(" → ".join([*path[path.index(module) :], module]))
            return
        if module in done:
            return
        path.append(module)
        for target in sorted(graph[module]):
            visit(target)
        path.pop()
        done.add(module)

    for module in sorted(graph):
        visit(module)
    return cycles


def test_no_two_modules_import_each_other() -> None:
    graph = {
        module: {t for t in _imports(path) if t in MODULES and t != module}
        for module, path in MODULES.items()
    }
    cycles = _cycles(graph)
    assert not cycles, "import cycles:\n" + "\n".join(f"  {c}" for c in cycles)


@pytest.mark.parametrize(
    ("module", "layer"),
    [
        ("kernel.settings", "kernel"),
        ("sinks.tables.events", "storage"),
        ("sinks.stage", "processes"),
        ("channelhub.ingest.collector", "processes"),
        ("channelhub.cli", "roof"),
    ],
)
def test_a_module_belongs_to_the_longest_prefix_that_names_it(module: str, layer: str) -> None:
    index = _layer(module)
    assert index is not None
    assert LAYERS[index][0] == layer
