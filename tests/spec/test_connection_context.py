"""Connections expand through the public Context only, and every node records the connection that made it."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import archc
from archc.spec.context import CONNECTIONS

ROOT = Path(__file__).resolve().parents[2]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_the_spec_layer_does_not_import_the_connections():
    for path in sorted((ROOT / "archc" / "spec").glob("*.py")):
        assert not any(name.startswith("archc.connections") for name in _imports(path)), path.name


def test_connections_see_only_the_public_context():
    allowed = {"archc.spec.context", "archc.spec.expr"}
    for path in sorted((ROOT / "archc" / "connections").glob("*.py")):
        spec_imports = {name for name in _imports(path) if name.startswith("archc.spec")}
        assert spec_imports <= allowed, (path.name, spec_imports - allowed)


def test_the_registry_is_the_generic_one_and_holds_the_built_in_kinds():
    from archc.registry import Registry, UnknownName

    assert isinstance(CONNECTIONS, Registry)
    assert CONNECTIONS.names() == ["dense", "gate", "highway", "residual", "se", "split"]
    try:
        CONNECTIONS.get("residul")
    except UnknownName as exc:
        assert exc.hint == "did you mean 'residual'?"
    else:  # pragma: no cover - the lookup must fail
        raise AssertionError("an unknown connection was found")


def test_nodes_record_the_connection_that_made_them():
    graph = archc.build_graph("se_resnet50")
    se = [name for name, data in graph.op_nodes() if name.startswith("layer1.0.se.")]
    assert se == [f"layer1.0.se.{n}" for n in ("global_avgpool", "fc1", "relu", "fc2", "sigmoid", "mul")]
    assert all(graph.nodes[n]["connection"] == {"kind": "se", "name": "layer1.0.se"} for n in se)
    # the residual adds its sum; the body's own items (written by the user) belong to no connection
    assert graph.nodes["layer1.0.add"]["connection"] == {"kind": "residual", "name": "layer1.0.residual"}
    assert graph.nodes["layer1.0.conv1"]["connection"] is None
    assert graph.nodes["conv1"]["connection"] is None and graph.nodes[graph.input_node]["connection"] is None


def test_dense_and_highway_nodes_and_unnamed_connections_get_distinct_names():
    spec = """
archc: 1
name: mixed
input: {shape: [4, 8, 8]}
network:
  - {name: block, dense: {repeat: 2, body: [{name: conv, conv: {out: 2, kernel: 3, padding: 1}}]}}
  - {name: hw, highway: {body: [{conv: {out: 6, kernel: 3, padding: 1}}]}}
  - residual: {body: [relu]}
  - residual: {body: [relu]}
"""
    graph = archc.build_graph(spec)
    records = {name: data["connection"] for name, data in graph.op_nodes()}
    assert records["block.1.concat"] == {"kind": "dense", "name": "block"}
    assert records["block.concat"] == {"kind": "dense", "name": "block"}
    assert records["block.0.conv"] is None
    assert records["hw.gate"] == records["hw.proj"] == records["hw.add"] == {"kind": "highway", "name": "hw"}
    assert records["hw.conv"] is None
    assert records["add"] == {"kind": "residual", "name": "residual"}
    assert records["add_1"] == {"kind": "residual", "name": "residual_1"}


#: the example of docs/architecture.md, "Adding a connection", then a spec that uses it
DOC = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
EXAMPLE = DOC.split("## Adding a connection", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
USE = '''
import archc

graph = archc.build_graph("""
archc: 1
name: t
input: {shape: [8]}
network:
  - {name: t, twice: {body: [{name: fc, linear: {out: 8}}]}}
  - {twice: {body: [{linear: {out: 4}}]}}
  - {twice: {bdy: [relu]}}
""", strict=False)
print(sorted(name for name, _ in graph.op_nodes() if name.startswith("t.")))
print(graph.nodes["t.out"]["connection"])
print(graph.diagnostics[0].format(source=False))
'''


def test_the_documented_new_connection_works_through_the_public_context():
    result = subprocess.run([sys.executable, "-c", EXAMPLE + USE], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    names, record, error = result.stdout.splitlines()
    assert names == "['t.first.fc', 't.out', 't.second.fc']"
    assert record == "{'kind': 'twice', 'name': 't'}"
    assert error == ("<string>:8:14: error: network[2].twice: unknown key 'bdy' (hint: did you mean 'body'?)")


def test_the_registry_loads_the_built_in_connections_on_first_lookup_in_a_fresh_process():
    code = "from archc.spec.context import CONNECTIONS\nprint(CONNECTIONS.names())"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.stdout.strip() == "['dense', 'gate', 'highway', 'residual', 'se', 'split']", result.stderr
