"""The layering of docs/architecture.md: a module imports only from its own layer or below, and
the top-level imports have no cycle."""

import ast
from pathlib import Path

import ecomsft
from ecomsft.tasks import TASKS

ROOT = Path(ecomsft.__file__).parent
# Lowest first. A module may import its own layer and the layers before it.
LAYERS = [
    {"errors", "distributed", "verbosity"},
    {"run_folder", "metrics_file", "config", "config_sections"},
    {"data"},
    {"models"},
    {"evaluation"},
    {"inference"},
    {"training"},
    {"tasks"},
    {"report"},
    {"readers"},
    {"runner"},
    {"compare", "quickstart"},
    {"api"},
    {"cli", "ui", "__main__", "__init__"},
]
RANK = {name: i for i, layer in enumerate(LAYERS) for name in layer}
# config asks the task registry for a task's section by name (tasks/__init__.py imports nothing of ecomsft).
ALLOWED_UPWARD = {("config", "tasks")}


def _unit(module: str) -> str:
    """ecomsft.data.reading -> data; ecomsft.api -> api."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _imports(path: Path, top_level_only: bool = False):
    module = "ecomsft." + ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = tree.body if top_level_only else ast.walk(tree)
    for node in nodes:
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names = [target] if node.module else [f"{target}.{a.name}" for a in node.names]
            for name in names:
                if name.startswith("ecomsft"):
                    yield module, name, node.lineno
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("ecomsft"):
                    yield module, alias.name, node.lineno


def test_no_module_imports_a_higher_layer():
    wrong = []
    for path in ROOT.rglob("*.py"):
        for source, target, line in _imports(path):
            a, b = _unit(source), _unit(target)
            if a in RANK and b in RANK and RANK[b] > RANK[a] and (a, b) not in ALLOWED_UPWARD:
                wrong.append(f"{path.relative_to(ROOT)}:{line} {source} imports {target}")
    assert not wrong, "\n".join(wrong)


def test_data_imports_neither_tasks_nor_models():
    for path in (ROOT / "data").rglob("*.py"):
        for _, target, line in _imports(path):
            assert _unit(target) not in ("tasks", "models", "training", "inference"), f"{path}:{line} {target}"


def _assert_no_cycle(top_level_only: bool, only: str = "") -> None:
    graph: dict[str, set[str]] = {}
    for path in ROOT.rglob("*.py"):
        for source, target, _ in _imports(path, top_level_only=top_level_only):
            graph.setdefault(source, set()).add(target)
    # What config's validation imports by name through the registry (task_spec): each task's spec.
    graph.setdefault("ecomsft.config", set()).update(f"ecomsft.tasks.{name}.config" for name in TASKS)

    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for child in graph.get(node, ()):
            if child == node or child.startswith(node + "."):  # a package importing its own modules
                continue
            assert state.get(child) != 1, " -> ".join([*trail, node, child])
            if child not in state:
                visit(child, [*trail, node])
        state[node] = 2

    for node in sorted(graph):
        if node not in state and node.startswith(only):
            visit(node, [])


def test_top_level_imports_have_no_cycle():
    _assert_no_cycle(top_level_only=True)


def test_checking_a_configuration_has_no_import_loop_hidden_in_a_function():
    """config -> the task registry -> each task's spec never leads back to config, even through
    an import inside a function (the tasks' training code is not on that path)."""
    _assert_no_cycle(top_level_only=False, only="ecomsft.config")


def test_checking_a_configuration_loads_no_training_code():
    import subprocess
    import sys

    code = ("import sys; from ecomsft.config import build_config; "
            "[build_config(None, {'data.train': 'x.csv', 'task.type': t}) for t in "
            "('classification', 'relevance', 'retrieval', 'extraction', 'generation')]; "
            "loaded = sorted(m for m in sys.modules if m.endswith('.task') or m in ('torch', 'transformers')); "
            "print(loaded); assert not loaded")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
