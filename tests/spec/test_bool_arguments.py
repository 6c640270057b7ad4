"""Issue 10: booleans are not integers. `out: true` would pass as 1 (bool is an int subclass); it is a located error."""

from __future__ import annotations

import pytest

import archc
from archc.cli import main

SPEC = """\
archc: 1
name: booleans
input: {{shape: [3, 8, 8]}}
network:
  - {{conv: {args}}}
  - global_avgpool
"""


@pytest.mark.parametrize(("args", "field", "wanted"), [
    ("{out: true, kernel: 3}", "out", "an integer"),
    ("{out: 4, kernel: true}", "kernel", "an integer"),
    ("{out: 4, kernel: [3, false]}", "kernel", "an integer"),
    ("{out: 4, kernel: 3, groups: true}", "groups", "an integer"),
    ("{out: 4, kernel: 3, bias_init: true}", "bias_init", "a number"),
])
def test_a_boolean_is_not_a_count(args, field, wanted):
    with pytest.raises(archc.SpecError) as info:
        archc.build_graph(SPEC.format(args=args))
    (diagnostic,) = info.value.diagnostics
    assert diagnostic.path == f"network[0].conv.{field}"
    assert diagnostic.message.startswith(f"expected {wanted}, not the boolean ")
    assert diagnostic.position is not None and diagnostic.position.line == 5


def test_booleans_still_set_boolean_fields():
    graph = archc.build_graph(SPEC.format(args="{out: 4, kernel: 3, bias: false}"))
    assert graph.nodes["conv"]["attrs"].bias is False
    assert graph.nodes["conv"]["params"] == 4 * 3 * 3 * 3


def test_other_ops_refuse_booleans_too():
    for item in ("{linear: {out: true}}", "{maxpool: {kernel: true}}", "{bn: {eps: true}}", "{dropout: {p: true}}"):
        network = "  - " + item + "\n" if "pool" in item else "  - flatten\n  - " + item + "\n"
        spec = SPEC.split("network:")[0].replace("{{", "{").replace("}}", "}") + "network:\n" + network
        with pytest.raises(archc.SpecError, match="not the boolean true"):
            archc.build_graph(spec)


def test_cli_exits_2_with_the_location(tmp_path, capsys):
    path = tmp_path / "net.yaml"
    path.write_text(SPEC.format(args="{out: true, kernel: 3}"), encoding="utf-8")
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "net.yaml:5:" in err and "network[0].conv.out: expected an integer, not the boolean true" in err
