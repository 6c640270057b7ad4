"""Drawing and diff read the connection a node records; they never guess it from the ops around it."""

from __future__ import annotations

import archc
from archc.diff import diff_graphs
from archc.viz.view import build_view, connection_of

#: squeeze-excitation written out by hand: the same names, ops and wiring as the se connection's
HAND_WRITTEN_SE = """
archc: 1
name: hand_se
input: {shape: [16, 8, 8]}
network:
  - {name: stem, conv: {out: 16, kernel: 3, padding: 1}}
  - name: se
    body:
      - global_avgpool
      - {name: fc1, conv: {out: 8, kernel: 1, bias: true}}
      - relu
      - {name: fc2, conv: {out: 16, kernel: 1, bias: true}}
      - {name: sigmoid, sigmoid: {}}
      - {name: mul, mul: {}, from: [stem, sigmoid]}
"""
CONNECTION_SE = """
archc: 1
name: hand_se
input: {shape: [16, 8, 8]}
network:
  - {name: stem, conv: {out: 16, kernel: 3, padding: 1}}
  - {name: se, se: {channels: 8}}
"""


def test_a_hand_written_mul_after_a_sigmoid_is_not_drawn_as_se():
    graph = archc.build_graph(HAND_WRITTEN_SE)
    assert connection_of(graph, "se.mul") is None
    view = build_view(graph)
    assert {edge.kind for edge in view.edges} == {"data"}
    assert view.kinds == []


def test_the_se_connection_is_drawn_as_se():
    graph = archc.build_graph(CONNECTION_SE)
    assert connection_of(graph, "se.mul") == "se"
    view = build_view(graph)
    se_edges = sorted((edge.source, edge.label) for edge in view.edges if edge.kind == "se")
    assert se_edges == [("se.sigmoid", "σ"), ("stem", "")]
    assert view.kinds == ["se"]


def test_diff_reports_which_connection_made_a_node():
    hand, connection = archc.build_graph(HAND_WRITTEN_SE), archc.build_graph(CONNECTION_SE)
    result = diff_graphs(hand, connection, depth=0)
    assert not result.added and not result.removed and not result.shapes
    changed = {change.name: (change.connection_old, change.connection_new) for change in result.changed}
    names = ["se.global_avgpool", "se.fc1", "se.relu", "se.fc2", "se.sigmoid", "se.mul"]
    assert changed == {name: (None, "se") for name in names}
    assert all(not change.attrs and not change.inputs_changed for change in result.changed)
    data = result.to_dict()
    assert data["changed"][0]["connection"] == {"old": None, "new": "se"}


def test_archc_diff_prints_the_connection_change(tmp_path, capsys):
    from archc.cli import main

    (tmp_path / "hand.yaml").write_text(HAND_WRITTEN_SE, encoding="utf-8")
    (tmp_path / "se.yaml").write_text(CONNECTION_SE, encoding="utf-8")
    assert main(["diff", str(tmp_path / "hand.yaml"), str(tmp_path / "se.yaml"), "--exit-code"]) == 1
    lines = [" ".join(line.split()) for line in capsys.readouterr().out.splitlines()]
    assert "~ se.mul mul made by no connection -> se" in lines
