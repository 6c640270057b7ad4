"""extends (zoo name and relative path), merge rules, cycles, depth, and --set / keyword overrides."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

import archc
from archc import SpecError
from archc.spec import resolve
from archc.spec.loader import load_text
from archc.spec.resolve import apply_overrides, merge, parse_override

BASE = """\
archc: 1
name: base
description: a small base
input: {shape: [3, 8, 8]}
params: {width: 8, layers: [1, 2], act: relu}
blocks:
  unit:
    params: {out: required}
    body: [{conv: {out: $out, kernel: 3}}, $act]
network:
  - {name: stem, unit: {out: $width}}
  - {name: head, global_avgpool: {}}
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_merge_rules():
    base = load_text("a: {x: 1, y: [1, 2], z: 3}\nb: [1, 2, 3]\nc: keep\n")
    child = load_text("a: {y: [9], z: null, w: 4}\nb: [7]\n")
    merged = merge(base, child)
    assert merged == {"a": {"x": 1, "y": [9], "w": 4}, "b": [7], "c": "keep"}
    assert list(merged["a"]) == ["x", "y", "w"]  # base order, new keys last


def test_merge_positions_follow_the_winning_value():
    base = load_text("a: {x: 1, y: 2}\n", "base.yaml")
    child = load_text("a: {y: 3}\n", "child.yaml")
    merged = merge(base, child)
    assert merged["a"].where("x").file == "base.yaml"
    assert merged["a"].where("y").file == "child.yaml"


def test_extends_zoo_name():
    spec = archc.parse("archc: 1\nextends: resnet18\nname: resnet18_small\nparams: {num_classes: 10}\n")
    assert spec.name == "resnet18_small"
    assert spec.params["num_classes"] == 10 and spec.params["layers"] == [2, 2, 2, 2]
    assert archc.summarize(spec).output_shape == (10,)


def test_extends_relative_path(tmp_path):
    write(tmp_path, "nets/base.yaml", BASE)
    child = write(tmp_path, "nets/variants/wide.yaml", """\
        archc: 1
        extends: ../base.yaml
        name: wide
        params: {width: 16}
        """)
    with pytest.raises(SpecError, match="lies outside the folder of the spec"):
        archc.build_graph(child)  # a spec is untrusted: it reads below its own folder only, unless allowed
    graph = archc.build_graph(child, allow_paths=[tmp_path / "nets"])
    assert graph.graph["name"] == "wide"
    assert graph.nodes["stem.conv"]["shape"] == (16, 8, 8)
    write(tmp_path, "nets/variants/sub/deep.yaml", "archc: 1\nextends: ../wide.yaml\nname: deep\n")
    top = write(tmp_path, "nets/variants/top.yaml", "archc: 1\nextends: sub/deep.yaml\nname: top\n")
    with pytest.raises(SpecError, match="'../base.yaml' lies outside"):  # the top-level spec's folder bounds all
        archc.build_graph(top)
    assert archc.build_graph(top, allow_paths=[tmp_path / "nets"]).graph["name"] == "top"


SECRET = "password: hunter2\napi_key: 0123456789\n"


@pytest.mark.parametrize(("reference", "message"), [
    ("{secret}", "not the absolute path"),
    ("../outside/secret.yml", "lies outside the folder of the spec"),
    ("link.yaml", "lies outside the folder of the spec"),  # a symbolic link out of the folder
    ("notes.txt", "extends takes a zoo name or a .yaml / .yml file"),
    ("inside.yml", "is not an archc spec (no archc: key at its top)"),
    ("broken.yaml", "cannot read the spec 'broken.yaml' extends"),
])
def test_extends_is_confined_and_never_quotes_a_foreign_file(tmp_path, capsys, reference, message):
    from archc.cli import main

    secret = write(tmp_path, "outside/secret.yml", SECRET)
    spec_dir = tmp_path / "spec"
    write(spec_dir, "inside.yml", SECRET)
    write(spec_dir, "broken.yaml", "password: [hunter2\n")
    write(spec_dir, "notes.txt", SECRET)
    (spec_dir / "link.yaml").symlink_to(secret)
    child = write(spec_dir, "child.yaml", f"archc: 1\nextends: {reference.format(secret=secret)}\nname: x\n")
    assert main(["validate", str(child)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert "hunter2" not in err and "0123456789" not in err


def test_allow_path_opens_a_folder_on_the_command_line(tmp_path, capsys):
    from archc.cli import main

    write(tmp_path, "shared/base.yaml", BASE)
    child = write(tmp_path, "mine/child.yaml", "archc: 1\nextends: ../shared/base.yaml\nname: child\n")
    assert main(["validate", str(child)]) == 2
    assert "--allow-path DIR" in capsys.readouterr().err
    assert main(["validate", str(child), "--allow-path", str(tmp_path / "shared")]) == 0
    assert main(["--allow-path", str(tmp_path / "shared"), "summary", str(child)]) == 0
    absolute = write(tmp_path, "mine/abs.yaml", f"archc: 1\nextends: {tmp_path / 'shared/base.yaml'}\nname: a\n")
    assert main(["validate", str(absolute), "--allow-path", str(tmp_path / "shared")]) == 0


def test_zoo_specs_are_always_readable(tmp_path):
    child = write(tmp_path, "child.yaml", "archc: 1\nextends: se_resnet50\nname: mine\n")  # which extends resnet50
    assert archc.build_graph(child).graph["name"] == "mine"


def test_extends_chain_and_null_deletes(tmp_path):
    write(tmp_path, "base.yaml", BASE)
    write(tmp_path, "middle.yaml", "archc: 1\nextends: base.yaml\nname: middle\nparams: {act: sigmoid}\n")
    child = write(tmp_path, "child.yaml", "archc: 1\nextends: middle.yaml\nname: child\ndescription: null\n")
    spec = archc.parse(child)
    assert spec.name == "child" and spec.model.description == ""
    assert spec.params["act"] == "sigmoid"
    assert [data["op"] for _, data in archc.build_graph(spec).op_nodes()] == ["conv", "sigmoid", "global_avgpool"]


def test_lists_replace(tmp_path):
    write(tmp_path, "base.yaml", BASE)
    child = write(tmp_path, "child.yaml", "archc: 1\nextends: base.yaml\nnetwork: [relu]\n")
    assert [name for name, _ in archc.build_graph(child).op_nodes()] == ["relu"]


def test_error_in_inherited_line_points_into_the_base(tmp_path):
    write(tmp_path, "base.yaml", BASE)
    child = write(tmp_path, "child.yaml", "archc: 1\nextends: base.yaml\nparams: {width: -2}\n")
    with pytest.raises(SpecError) as info:
        archc.build_graph(child)
    (diagnostic,) = info.value.diagnostics
    assert diagnostic.message == "expected a positive integer, got -2"
    assert Path(diagnostic.position.file).name == "base.yaml" and diagnostic.position.line == 9
    assert diagnostic.notes and diagnostic.notes[0].position.line == 11  # the use of the template


def test_extends_cycle(tmp_path):
    write(tmp_path, "a.yaml", "archc: 1\nextends: b.yaml\nname: a\n")
    write(tmp_path, "b.yaml", "archc: 1\nextends: a.yaml\nname: b\n")
    with pytest.raises(SpecError) as info:
        archc.parse(tmp_path / "a.yaml")
    (diagnostic,) = info.value.diagnostics
    assert diagnostic.message == "the chain of extends loops: a.yaml -> b.yaml -> a.yaml"
    assert diagnostic.position.line == 2


def test_extends_itself(tmp_path):
    path = write(tmp_path, "self.yaml", "archc: 1\nextends: self.yaml\n")
    with pytest.raises(SpecError, match="extends loops"):
        archc.parse(path)


def test_extends_depth_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(resolve, "MAX_EXTENDS_DEPTH", 3)
    write(tmp_path, "s0.yaml", BASE)
    for index in range(1, 6):
        write(tmp_path, f"s{index}.yaml", f"archc: 1\nextends: s{index - 1}.yaml\nname: s{index}\n")
    assert archc.parse(tmp_path / "s3.yaml").name == "s3"
    with pytest.raises(SpecError, match="deeper than 3"):
        archc.parse(tmp_path / "s5.yaml")


def test_extends_unknown_targets(tmp_path):
    with pytest.raises(SpecError) as info:
        archc.parse("archc: 1\nextends: resnet_18\n")
    assert info.value.diagnostics[0].hint == "did you mean 'resnet18'?"
    path = write(tmp_path, "child.yaml", "archc: 1\nextends: ./missing.yaml\n")
    with pytest.raises(SpecError, match="no such file"):
        archc.parse(path)
    with pytest.raises(SpecError, match="zoo name or a relative path, or a list of them"):
        archc.parse("archc: 1\nextends: [resnet18, 3]\n")
    with pytest.raises(SpecError, match="unknown zoo spec 'a'"):  # a list names bases, each checked
        archc.parse("archc: 1\nextends: [resnet18, a]\n")


def test_extends_a_list_merges_the_bases_in_order():
    """The later base wins where both set a key; the templates of the first stay."""
    spec = archc.parse("archc: 1\nextends: [attention/blocks, resnet18]\nname: r\n")
    assert spec.name == "r" and {"eca", "cbam", "se_at"} <= set(spec.tree["blocks"])
    assert spec.tree["input"]["shape"][0] == 3 and spec.tree["network"][0]["name"] == "conv1"


@pytest.mark.parametrize(("text", "expected"), [
    ("num_classes=10", ("num_classes", 10)),
    ("layers=[2,2,2,2]", ("layers", [2, 2, 2, 2])),
    ("layers=[1, 1]", ("layers", [1, 1])),
    ("ratio=0.25", ("ratio", 0.25)),
    ("eps=1e-5", ("eps", 1e-5)),
    ("attention=se", ("attention", "se")),
    ("flag=false", ("flag", False)),
    ("name=", ("name", "")),
    (" key = 3", ("key", 3)),
    ("expr=${width * 2}", ("expr", "${width * 2}")),
    ("cfg={a: 1}", ("cfg", {"a": 1})),
])
def test_parse_override(text, expected):
    assert parse_override(text) == expected


@pytest.mark.parametrize("text", ["layers=[2,2", "cfg={a: 1", "odd=!!int", "x=a: b: c"])
def test_parse_override_refuses_what_is_not_yaml(text):
    with pytest.raises(SpecError, match="is not valid YAML") as info:
        parse_override(text)
    assert info.value.diagnostics[0].position.file == "<--set>"


@pytest.mark.parametrize(("spec", "override", "expected"), [
    ("resnet18", "layers=abc", "expected a list like the default [2, 2, 2, 2], got a string 'abc'"),
    ("resnet18", "num_classes=[1]", "expected a number like the default 1000, got a list [1]"),
    ("resnet18", "num_classes=true", "expected a number like the default 1000, got true"),
    ("resnet18", "attention=[se]", "expected a string like the default 'none', got a list ['se']"),
    ("swin_t", "v2=maybe", "expected true or false like the default false, got a string 'maybe'"),  # not 'False'
])
def test_set_contradicting_the_default_type_is_an_error(spec, override, expected):
    with pytest.raises(SpecError) as info:
        archc.parse(spec, [override])
    assert info.value.diagnostics[0].message == expected
    assert info.value.diagnostics[0].path == f"params.{override.split('=')[0]}"


def test_load_params_are_checked_against_the_default_type_too():
    with pytest.raises(SpecError, match="expected a list like the default"):
        archc.parse("resnet18", layers=3)
    spec = archc.parse("resnet18", layers=(1, 1, 1, 1), num_classes=10.0)  # a tuple is a list; any number a number
    assert spec.params["layers"] == (1, 1, 1, 1)


def test_parse_override_needs_an_equals_sign():
    with pytest.raises(SpecError, match="key=value"):
        parse_override("num_classes")


def test_set_overrides_params():
    spec = archc.parse("resnet18", ["num_classes=10", "layers=[1,1,1,1]"])
    assert spec.params["num_classes"] == 10 and spec.params["layers"] == [1, 1, 1, 1]
    assert archc.summarize(spec).nodes < archc.summarize("resnet18").nodes
    assert archc.parse("resnet18", num_classes=7).params["num_classes"] == 7


def test_set_of_an_unknown_param_is_an_error():
    with pytest.raises(SpecError) as info:
        archc.parse("resnet18", ["num_clases=10", "depht=3"])
    first, second = info.value.diagnostics
    assert first.message == "unknown parameter 'num_clases'" and first.hint == "did you mean 'num_classes'?"
    assert second.message == "unknown parameter 'depht'" and "known parameters" in second.hint
    assert first.position.file == "<--set>"


def test_overrides_keep_positions_of_other_params():
    tree = load_text(BASE, "base.yaml")
    out = apply_overrides(tree, {"width": 4})
    assert out["params"]["width"] == 4 and out["params"].where("width").file == "<--set>"
    assert out["params"].where("layers").file == "base.yaml"
    assert tree["params"]["width"] == 8  # the input tree is not modified
