"""The layout: stage packages whose imports run one way, an installed project, thin scripts."""

import ast
import subprocess
import sys

from conftest import REPO

LEAVES = {"seedsift", "seedsift.errors", "seedsift.jsonio", "seedsift.cli", "seedsift.stats", "seedsift.provenance",
          "seedsift.manifests"}


def _module_name(path):
    rel = path.relative_to(REPO).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _modules():
    return {_module_name(p): p for top in ("seedsift", "models") for p in sorted((REPO / top).rglob("*.py"))}


def _imports(path, known):
    """Project modules imported anywhere in ``path`` (also inside functions)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        for name in names:
            # "from seedsift.x import y" names module seedsift.x.y when y is a module, else seedsift.x.
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name:
                found.add(name)
    return found


def _graph():
    modules = _modules()
    return {name: _imports(path, modules) - {name} for name, path in modules.items()}


def _cycles(graph):
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_circle():
    graph = _graph()
    assert len(graph) > 40
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_circle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_leaves_and_models_import_only_leaves():
    graph = _graph()
    for name, deps in graph.items():
        if name in LEAVES or name == "models" or name.startswith("models."):
            stages = {d for d in deps if d.startswith("seedsift") and d not in LEAVES}
            assert not stages, f"{name} imports stage modules {sorted(stages)}"


def test_arrows_do_not_run_back_up():
    """A stage's modules import leaves, models, generators and earlier stages, never a later one."""
    order = ["prng", "data", "sieve", "scoring", "training", "prediction", "report", "cluster", "pipeline", "bench"]
    graph = _graph()
    for name, deps in graph.items():
        parts = name.split(".")
        if parts[0] != "seedsift" or len(parts) < 2 or parts[1] not in order:
            continue
        rank = order.index(parts[1])
        for dep in deps:
            dep_parts = dep.split(".")
            if dep_parts[0] == "seedsift" and len(dep_parts) > 1 and dep_parts[1] in order:
                assert order.index(dep_parts[1]) <= rank or parts[1] in ("pipeline", "bench"), (name, dep)


# The one module that names PYTHONPATH: it builds the environment of a job on a node that has no
# shared checkout, where the copied project is importable only through it (no code of ours
# changes its own import path).
NODE_ENVIRONMENT = REPO / "seedsift" / "cluster" / "remote.py"


def test_scripts_and_rules_do_not_patch_the_import_path():
    for path in [*(REPO / "scripts").glob("*.py"), *(REPO / "rules").glob("*.smk"), REPO / "Snakefile",
                 *(REPO / "seedsift").rglob("*.py")]:
        text = path.read_text(encoding="utf-8")
        assert "sys.path" not in text, path
        assert "PYTHONPATH" not in text or path == NODE_ENVIRONMENT, path
    uses = [line for line in NODE_ENVIRONMENT.read_text(encoding="utf-8").splitlines() if "PYTHONPATH" in line]
    assert len(uses) == 1 and "export PYTHONPATH" in uses[0]


def test_the_project_imports_from_any_directory(tmp_path):
    code = "import seedsift, models, seedsift.sieve.search, models.model_factory; print(seedsift.__version__)"
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip()


def test_parsing_the_snakefile_imports_no_kernel():
    """Config validation runs at every Snakefile parse: it must not compile numba or load ML backends."""
    code = ("import sys, seedsift.pipeline.config; "
            "print(','.join(m for m in ('numba', 'torch', 'xgboost', 'lightgbm', 'catboost') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == ""


def test_tests_mirror_the_packages():
    packages = {p.parent.name for p in (REPO / "seedsift").glob("*/__init__.py")} - {"bench"}
    folders = {p.name for p in (REPO / "tests").iterdir() if p.is_dir() and list(p.glob("test_*.py"))}
    assert packages | {"models"} <= folders, sorted(packages | {"models"} - folders)
    assert not list((REPO / "tests").glob("test_*.py")), "tests live in the folder of the package they test"
