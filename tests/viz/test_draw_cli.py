"""``archc draw``: every format holds every named node, the edge kinds and the errors; files are never clobbered."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

import archc
from archc.cli import main

SPECS = Path(__file__).parent / "specs"
HIGHWAY = str(SPECS / "highway_small.yaml")
BROKEN = str(SPECS / "broken.yaml")
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz `dot` is not installed "
                               "(apt-get install graphviz)")


def draw(tmp_path: Path, spec: str, name: str, *extra: str) -> tuple[int, Path]:
    out = tmp_path / name
    return main(["draw", spec, "-o", str(out), *extra]), out


def named_nodes(spec: str) -> list[str]:
    graph = archc.build_graph(spec, strict=False)
    return [n for n, d in graph.nodes(data=True) if not d.get("auto_name")]


def test_dot_has_every_node_and_labelled_edge_kinds(tmp_path):
    status, out = draw(tmp_path, HIGHWAY, "net.dot")
    assert status == 0
    text = out.read_text()
    for name in archc.build_graph(HIGHWAY).nodes:
        assert f'"{name}" [' in text, name
    assert 'class="edge_gate"' in text and 'class="edge_se"' in text and 'class="edge_data"' in text
    assert re.search(r'"hw1\.sigmoid" -> "hw1\.mul" \[[^]]*label="T"', text)
    assert "highway gate (sub, mul, add)" in text and "squeeze-excitation" in text  # the legend
    assert "subgraph cluster_" in text and "<B>hw1</B>" in text


def test_dot_depth_boxes_show_output_shape_and_total_params(tmp_path):
    status, out = draw(tmp_path, "resnet50", "r50.dot", "--depth", "2")
    assert status == 0
    text = out.read_text()
    assert '"layer3.1" [' in text and '"layer3.1.conv1"' not in text
    box = re.search(r'"layer3\.1" \[label=<(.*?)>, shape', text).group(1)
    assert "1024×14×14" in box and "1.1M params" in box and "residual" in box
    assert 'class="edge_add"' in text


@needs_dot
def test_svg_has_every_node_edge_kind_and_error(tmp_path):
    status, out = draw(tmp_path, "resnet18", "r18.svg")
    assert status == 0
    svg = out.read_text()
    titles = set(re.findall(r"<title>(.*?)</title>", svg))
    for name in archc.build_graph("resnet18").nodes:
        assert name in titles, name
    assert 'class="edge edge_add"' in svg
    status, out = draw(tmp_path, BROKEN, "broken.svg")
    assert status == 2  # the drawing is written, the spec's errors still fail the command
    svg = out.read_text()
    assert "must be divisible by groups" in svg and "shortcut is identity" in svg
    assert re.search(r'<g id="node\d+" class="node op_conv error">\s*<title>conv2</title>', svg)
    for name in ("stem", "block1.conv1", "block1.bn1", "conv2", "pool", "fc"):
        assert f"<title>{name}</title>" in svg


@needs_dot
def test_png(tmp_path):
    status, out = draw(tmp_path, HIGHWAY, "net.png", "--direction", "LR")
    assert status == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_mermaid_has_every_node_kinds_and_errors(tmp_path):
    status, out = draw(tmp_path, HIGHWAY, "net.mmd")
    assert status == 0
    text = out.read_text()
    assert text.splitlines()[1] == "flowchart TB"
    labels = re.findall(r'\["<b>(.*?)</b>', text)
    assert len(labels) == len(archc.build_graph(HIGHWAY))
    for name in named_nodes(HIGHWAY):
        assert name.rsplit(".", 1)[-1] in labels
    assert "-.->|\"T\"|" in text and "-.->|\"T(H-x)\"|" in text and ":::gate" in text and ":::se" in text
    assert re.search(r"linkStyle \d+ stroke:#e07b00", text)
    status, out = draw(tmp_path, BROKEN, "broken.mmd")
    assert status == 2
    text = out.read_text()
    assert ":::error" in text and "must be divisible by groups" in text and "shortcut is identity" in text


def test_html_is_one_file_with_all_data_and_no_network(tmp_path):
    status, out = draw(tmp_path, "densenet121", "d.html", "--depth", "3")
    assert status == 0
    page = out.read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "<script src" not in page and "<link" not in page and "@import" not in page
    data = json.loads(re.search(r'<script type="application/json" id="archc-data">(.*?)</script>', page,
                                re.S).group(1))
    assert data["depth"] == 3
    assert {n["id"] for n in data["nodes"]} == set(archc.build_graph("densenet121").nodes)
    assert {e["kind"] for e in data["edges"]} == {"data", "concat"}


def test_never_overwrites_without_force(tmp_path, capsys):
    out = tmp_path / "net.dot"
    out.write_text("mine")
    assert main(["draw", HIGHWAY, "-o", str(out)]) == 2
    assert out.read_text() == "mine"
    assert "--force" in capsys.readouterr().err
    assert main(["draw", HIGHWAY, "-o", str(out), "--force"]) == 0
    assert out.read_text().startswith("digraph")


def test_bad_spec_exits_2_without_traceback(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("archc: 1\nname: bad\ninput: {shape: [3, 8, 8]\nnetwork: [relu]\n")
    assert main(["draw", str(bad), "-o", str(tmp_path / "bad.svg")]) == 2
    err = capsys.readouterr().err
    assert "bad.yaml:" in err and "Traceback" not in err
    assert not (tmp_path / "bad.svg").exists()
    assert main(["draw", "no_such_spec_anywhere", "-o", str(tmp_path / "x.svg")]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_unknown_format_and_negative_depth_are_usage_errors(tmp_path, capsys):
    assert main(["draw", HIGHWAY, "-o", str(tmp_path / "net.jpg")]) == 2
    assert ".svg" in capsys.readouterr().err
    assert main(["draw", HIGHWAY, "-o", str(tmp_path / "net.svg"), "--depth", "-1"]) == 2


def test_without_graphviz_svg_falls_back_to_dot_and_says_how_to_install(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("ARCHC_DOT", str(tmp_path / "no-dot-here"))
    status, out = draw(tmp_path, HIGHWAY, "net.svg")
    err = capsys.readouterr().err
    assert status == 1
    assert not out.exists() and (tmp_path / "net.dot").read_text().startswith("digraph")
    assert "apt-get install graphviz" in err and "dot -Tsvg" in err
    for suffix in (".html", ".mmd", ".dot"):  # these never need Graphviz
        status, out = draw(tmp_path, HIGHWAY, f"other{suffix}")
        assert status == 0 and out.stat().st_size > 0


def test_default_output_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ARCHC_DOT", str(tmp_path / "no-dot-here"))
    assert main(["draw", HIGHWAY]) == 1  # highway_small.svg wanted, no dot: highway_small.dot written
    assert (tmp_path / "highway_small.dot").exists()
