"""Every example of docs/spec-format.md builds, and the errors it shows are what archc prints.

A ```yaml block is a complete spec that must build. A ```yaml fails FILE block must fail: it is written to FILE and
`archc validate FILE` must print exactly the ```text block that follows it. The op table must list every op.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import archc
from archc.cli import main
from archc.ops.registry import OPS, load_builtin_ops
from archc.spec.context import CONNECTIONS
from archc.viz.view import op_text

DOC = Path(__file__).resolve().parents[2] / "docs" / "spec-format.md"
BLOCK = re.compile(r"^```(\w+)([^\n]*)\n(.*?)^```\n", re.DOTALL | re.MULTILINE)


def blocks() -> list[tuple[str, str, str, int]]:
    text = DOC.read_text(encoding="utf-8")
    return [(match.group(1), match.group(2).strip(), match.group(3), text.count("\n", 0, match.start()) + 1)
            for match in BLOCK.finditer(text)]


EXAMPLES = [(info, body, line) for language, info, body, line in blocks() if language == "yaml"]


@pytest.mark.parametrize(("info", "body", "line"), [e for e in EXAMPLES if not e[0]],
                         ids=[f"line{e[2]}" for e in EXAMPLES if not e[0]])
def test_example_builds(info, body, line):
    graph = archc.build_graph(body)
    assert len(graph) > 1
    archc.summarize(graph)


def test_the_examples_show_what_they_say():
    specs = {archc.parse(body).name: body for info, body, _ in EXAMPLES if not info}
    tiny = archc.build_graph(specs["tiny_cnn"])
    assert tiny.nodes["conv2"]["shape"] == (32, 16, 16) and tiny.nodes["fc"]["shape"] == (10,)
    names = [name for name, _ in archc.build_graph(specs["namespaces"]).op_nodes()]
    assert names[:4] == ["stage.0.conv", "stage.0.relu", "stage.1.conv", "stage.1.relu"]
    assert "block1.add" in names and "block2.add" in names and "flat0" in names and "flat1" in names
    items = archc.build_graph(specs["items"])
    assert items.nodes["act"]["op"] == "gelu" and items.nodes["merged"]["shape"] == (24, 32, 32)
    templates = archc.build_graph(specs["templates"])
    assert templates.nodes["block2.depthwise.conv"]["attrs"].groups == 24 * 6
    residuals = archc.build_graph(specs["residuals"])
    assert "layer2.downsample.0" in residuals and "layer1.downsample.0" not in residuals
    assert residuals.nodes["cifar.shortcut"]["op"] == "channel_pad"
    dense = archc.build_graph(specs["dense"])
    assert dense.nodes["denseblock1.denselayer4.conv"]["shape"] == (12, 8, 8)
    assert dense.nodes["transition"]["shape"] == (32, 8, 8)
    assert "wider.proj" in archc.build_graph(specs["highways"])
    se = archc.build_graph(specs["squeeze_excitation"])
    assert se.nodes["se.fc1"]["shape"] == (16, 1, 1) and se.nodes["se_floor.fc1"]["shape"] == (21, 1, 1)
    expressions = archc.build_graph(specs["expressions"])
    assert expressions.nodes["squeeze"]["shape"][0] == 8 and "pool_32" in expressions
    branches = archc.build_graph(specs["branches"])  # input: x, as the comments say
    assert branches.nodes["mixed1.branch2"]["inputs"] == ["input"]
    assert branches.nodes["mixed2.branch2"]["inputs"] == ["mixed1.cat"]
    swin = archc.build_graph(specs["tiny_swin_v2"])
    assert [swin.nodes[f"block{i}.attn"]["attrs"].shift for i in (0, 1)] == [0, 2]
    assert swin.nodes["block1.norm1"]["inputs"] == ["block1.attn"] and swin.nodes["merge"]["shape"] == (16, 32)
    assert swin.nodes["merge"]["attrs"].norm == "after" and swin.nodes["block0.attn"]["attrs"].cosine
    assert op_text("window_attention", swin.nodes["block1.attn"]["attrs"]) == \
        "window_attention 4×4, shift 2, 2 heads, cosine, mlp bias"
    defaults = archc.build_graph(specs["with_defaults"])
    assert defaults.nodes["conv1"]["attrs"].bias is False and defaults.nodes["conv2"]["attrs"].bias is True
    assert defaults.nodes["bn1"]["attrs"].eps == 1e-3


@pytest.mark.parametrize("index", range(len([e for e in blocks() if e[0] == "yaml" and e[1].startswith("fails")])))
def test_error_example_prints_what_the_doc_shows(index, tmp_path, monkeypatch, capsys):
    listed = blocks()
    failing = [i for i, (language, info, _, _) in enumerate(listed) if language == "yaml" and info.startswith("fails")]
    position = failing[index]
    _, info, body, _ = listed[position]
    file_name = info.split()[1]
    language, _, expected, _ = listed[position + 1]
    assert language == "text"
    monkeypatch.chdir(tmp_path)
    (tmp_path / file_name).write_text(body, encoding="utf-8")
    assert main(["validate", file_name]) == 2
    assert capsys.readouterr().err == expected


def test_the_op_table_lists_every_op_and_connection():
    load_builtin_ops()
    text = DOC.read_text(encoding="utf-8")
    table = text[text.index("## Ops and their defaults"):text.index("## `defaults:`")]
    for name in OPS:
        assert f"`{name}`" in table, name
    for name in CONNECTIONS:
        assert f"### `{name}`" in text, name


@pytest.mark.parametrize("name", ["regnet_y_400mf", "regnet_y_1_6gf", "regnet_x_3_2gf", "regnet_y_32gf"])
def test_the_regnet_width_example_derives_torchvision_stages(name):
    """The docs' RegNet example computes torchvision's stage widths and depths from w0, wa, wm (--set)."""
    regnet = pytest.importorskip("torchvision.models.regnet")
    table = {"regnet_y_400mf": (16, 48, 27.89, 2.09, 8), "regnet_y_1_6gf": (27, 48, 20.71, 2.65, 24),
             "regnet_x_3_2gf": (25, 88, 26.31, 2.25, 48), "regnet_y_32gf": (20, 232, 115.89, 2.53, 232)}
    depth, w0, wa, wm, group_width = table[name]
    expected = regnet.BlockParams.from_init_params(depth=depth, w_0=w0, w_a=wa, w_m=wm, group_width=group_width)
    body = next(body for _, body, _ in EXAMPLES if "name: regnet_widths" in body)
    graph = archc.build_graph(body, depth=depth, w0=w0, wa=wa, wm=wm, group_width=group_width)
    firsts = [data for node, data in graph.op_nodes() if node.endswith("-0.conv")]
    assert [data["shape"][0] for data in firsts] == expected.widths
    stages = [node.split(".")[1] for node, _ in graph.op_nodes()]
    assert [stages.count(f"block{s + 1}") for s in range(len(firsts))] == expected.depths
