"""The import graph between the package's parts has no cycle.

Every ``.py`` file of the package is parsed with `ast` and every ``import``/``from … import`` is counted — at module
level and inside functions alike, since a function-level import is still a dependency (it only hides the cycle
until the function runs). Nodes are the subpackages (``vta.isa``, ``vta.jit``, ``vta.compiler``, …; ``vta.jit.ops``
belongs to ``vta.jit``) and each module directly in ``vta/`` (``vta.api``, ``vta.config``, …; ``vta/__init__.py``
is the node ``vta``). The intended direction for the model compiler is ``vta.compiler`` ← ``vta.quant`` ←
``vta.api``/``vta.compiled`` (the user API that ties them together).
"""

import ast
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FOLDERS = {"isa": "vta.isa", "hw": "vta.hw", "sim": "vta.sim", "jit": "vta.jit", "compiler": "vta.compiler",
           "quant": "vta.quant", "fpga": "vta.fpga", "vta": "vta"}


def _modules():
    """(dotted module name, is a package __init__, path) of every .py file of the package."""
    for folder, package in FOLDERS.items():
        base = os.path.join(ROOT, folder)
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = [d for d in dirnames if not d.startswith((".", "__"))]
            rel = os.path.relpath(dirpath, base)
            parts = [] if rel == "." else rel.split(os.sep)
            for f in filenames:
                if f.endswith(".py"):
                    stem = f[:-3]
                    init = stem == "__init__"
                    name = ".".join([package] + parts + ([] if init else [stem]))
                    yield name, init, os.path.join(dirpath, f)


def node_of(module):
    """The graph node of a dotted module name inside the package, or None for anything outside it."""
    parts = module.split(".")
    if parts[0] != "vta":
        return None
    if len(parts) == 1:
        return "vta"
    return f"vta.{parts[1]}"       # a module directly in vta/ is its own node


def imported_modules(module, is_init, tree, known=frozenset()):
    """Every module ``module``'s source imports. ``from P import x`` imports ``P.x`` when that is a module in
    ``known`` (the dotted names of the package's modules and subpackages), else ``P`` (x is an attribute of P)."""
    package = module if is_init else module.rsplit(".", 1)[0]
    for n in ast.walk(tree):
        if isinstance(n, ast.Import):
            for a in n.names:
                yield a.name
        elif isinstance(n, ast.ImportFrom):
            if n.level:
                base = package.split(".")
                base = base[:len(base) - (n.level - 1)]
                target = ".".join(base + ([n.module] if n.module else []))
            else:
                target = n.module
            for a in n.names:
                yield f"{target}.{a.name}" if f"{target}.{a.name}" in known else target


def known_modules():
    names = set()
    for module, _, _ in _modules():
        parts = module.split(".")
        names.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    return names


def import_graph():
    """{node: {node: [(file, imported module), …]}} between different nodes."""
    known = known_modules()
    edges = {}
    for module, is_init, path in _modules():
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read(), path)
        src = node_of(module)
        for target in imported_modules(module, is_init, tree, known):
            dst = node_of(target)
            if dst is None or dst == src:
                continue
            edges.setdefault(src, {}).setdefault(dst, []).append((os.path.relpath(path, ROOT), target))
    return edges


def find_cycle(edges):
    """One cycle as a list of nodes, or None."""
    state, stack = {}, []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for m in sorted(edges.get(n, {})):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state:
                found = visit(m)
                if found:
                    return found
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(edges):
        if n not in state:
            found = visit(n)
            if found:
                return found
    return None


def test_import_graph_between_parts_is_acyclic():
    edges = import_graph()
    cycle = find_cycle(edges)
    if cycle:
        why = "\n".join(f"  {a} → {b}: " + ", ".join(f"{f} imports {m}" for f, m in edges[a][b][:3])
                        for a, b in zip(cycle, cycle[1:]))
        pytest.fail(f"import cycle {' → '.join(cycle)}:\n{why}")


def test_compiler_does_not_import_quant_or_the_user_api():
    edges = import_graph()
    out = edges.get("vta.compiler", {})
    assert not {"vta.quant", "vta.api", "vta.compiled", "vta"} & set(out), out


def test_the_checker_sees_function_level_and_relative_imports():
    """Not vacuous: a function-level relative import across parts is an edge, and a cycle is found."""
    tree = ast.parse("def f():\n    from ..quant.plan import Plan\n    from .. import isa, __version__\n")
    known = known_modules()
    assert set(imported_modules("vta.compiler.steps", False, tree, known)) == {"vta.quant.plan", "vta.isa", "vta"}
    assert find_cycle({"a": {"b": []}, "b": {"a": []}}) == ["a", "b", "a"]
    assert find_cycle({"a": {"b": []}, "b": {}}) is None


def main():
    """Print the edges between parts (``python tests/test_import_graph.py``)."""
    edges = import_graph()
    for a in sorted(edges):
        print(f"{a} → {', '.join(sorted(edges[a]))}")
    print("cycle:", find_cycle(edges))


if __name__ == "__main__":
    main()
