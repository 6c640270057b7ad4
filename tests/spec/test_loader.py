"""The located YAML loader: positions of every key and value, and every hostile input as a located SpecError."""

from __future__ import annotations

import time

import pytest

from archc import SpecError
from archc.spec import loader
from archc.spec.loader import LList, LMap, load_file, load_text, position_of


def error_of(text: str) -> SpecError:
    with pytest.raises(SpecError) as info:
        load_text(text, "spec.yaml")
    return info.value


def test_positions_of_keys_values_and_items():
    tree = load_text("archc: 1\nnetwork:\n  - relu\n  - {conv: {out: 64, kernel: 3}}\n", "net.yaml")
    assert isinstance(tree, LMap) and isinstance(tree["network"], LList)
    assert (tree.key_pos["network"].line, tree.key_pos["network"].col) == (2, 1)
    assert (tree.value_pos["archc"].line, tree.value_pos["archc"].col) == (1, 8)
    items = tree["network"]
    assert (items.where(0).line, items.where(0).col) == (3, 5)
    conv = items[1]["conv"]
    assert (conv.where("kernel").line, conv.where("kernel").col) == (4, 30)
    assert conv.key_pos["out"].col == 13
    assert conv.where("kernel").file == "net.yaml"
    assert conv.where("kernel").line_text == "  - {conv: {out: 64, kernel: 3}}"
    assert position_of(items, 1).line == 4
    assert position_of({"plain": 1}, "plain") is None


def test_plain_data_and_scalars():
    tree = load_text("a: [1, 2.5, true, null, x, '3', 1e-5, 2E3, 0x10]\n")
    assert tree == {"a": [1, 2.5, True, None, "x", "3", 1e-5, 2000.0, 16]}
    assert isinstance(tree, dict) and isinstance(tree["a"], list)


def test_exponent_floats_read_as_numbers_not_strings():
    # YAML 1.1 (PyYAML) reads 1e-5 as the string "1e-5"; specs write BatchNorm eps that way
    assert load_text("eps: 1e-5")["eps"] == pytest.approx(1e-5)
    assert load_text("eps: '1e-5'")["eps"] == "1e-5"


def test_expression_flags():
    tree = load_text("a: {b: [1, '${x}']}\nc: {d: 1}\n")
    assert tree.exprs and tree["a"].exprs and tree["a"]["b"].exprs
    assert tree["c"].exprs is False


def test_empty_document_is_none():
    assert load_text("") is None
    assert load_text("# only a comment\n") is None


def test_duplicate_keys_are_all_reported():
    error = error_of("a: 1\nb: 2\na: 3\nb: 4\n")
    assert [d.message for d in error.diagnostics] == ["duplicate key 'a'", "duplicate key 'b'"]
    first = error.diagnostics[0]
    assert (first.position.file, first.position.line, first.position.col) == ("spec.yaml", 3, 1)
    assert "first set at line 1, column 1" in first.hint


def test_syntax_error_is_located():
    error = error_of("a: [1, 2\nb: 3\n")
    (diagnostic,) = error.diagnostics
    assert diagnostic.message.startswith("invalid YAML")
    assert diagnostic.position.file == "spec.yaml" and diagnostic.position.line == 2


def test_merge_keys_are_refused():
    error = error_of("base: &b {x: 1}\nchild:\n  <<: *b\n  y: 2\n")
    (diagnostic,) = error.diagnostics
    assert "merge keys" in diagnostic.message and diagnostic.position.line == 3
    assert "extends" in diagnostic.hint


def test_alias_bomb_is_a_located_error_not_a_hang():
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for level in range(1, 9):
        previous = f"*a{level - 1}"
        lines.append(f"a{level}: &a{level} [{', '.join([previous] * 10)}]")
    start = time.perf_counter()
    error = error_of("\n".join(lines) + "\n")
    assert time.perf_counter() - start < 10
    assert "expands to more than" in error.diagnostics[0].message
    assert error.diagnostics[0].position is not None


def test_small_aliases_are_fine():
    tree = load_text("a: &a [1, 2]\nb: *a\n")
    assert tree["b"] == [1, 2]


def test_depth_limit():
    nested = "x: " + "[" * (loader.MAX_YAML_DEPTH + 5) + "]" * (loader.MAX_YAML_DEPTH + 5) + "\n"
    error = error_of(nested)
    assert "deeper" in error.diagnostics[0].message or "nesting" in error.diagnostics[0].message


def test_very_deep_input_does_not_crash():
    for text in ("[" * 100_000, "- " * 20_000 + "x", "".join(" " * i + "k:\n" for i in range(2000))):
        error = error_of(text)
        assert error.diagnostics


def test_size_limit(monkeypatch):
    monkeypatch.setattr(loader, "MAX_SOURCE_BYTES", 100)
    assert "larger than" in error_of("a: " + "x" * 200).diagnostics[0].message


def test_complex_keys_and_bad_tags():
    assert "plain value" in error_of("? [a, b]\n: 1\n").diagnostics[0].message
    assert "cannot read" in error_of("a: !!int\n").diagnostics[0].message
    assert "cannot read" in error_of("a: !!python/name:os.system ''\n").diagnostics[0].message
    assert load_text("a: !!python/object:os.system {}\n") == {"a": {}}  # tags never construct objects


def test_control_characters():
    error = error_of("a: b\x00c\n")
    diagnostic = error.diagnostics[0]
    assert "not allowed" in diagnostic.message and diagnostic.position.line == 1
    assert "\x00" not in diagnostic.format()


def test_line_breaks_as_yaml_counts_them():
    # U+2028 ends a line for YAML 1.1 as for str.splitlines; \x0c does not end one for YAML (and is refused)
    tree = load_text("# a\u2028b: 1\nc: 2\n")
    assert tree.key_pos["c"].line == 3 and tree.key_pos["c"].line_text == "c: 2"
    assert error_of("a: 1\n# \x0c\nb: 2\n").diagnostics[0].position.line == 2


def test_missing_file(tmp_path):
    with pytest.raises(SpecError, match="no such file"):
        load_file(tmp_path / "absent.yaml")


def test_folder_is_not_a_file(tmp_path):
    with pytest.raises(SpecError, match="folder"):
        load_file(tmp_path)


def test_non_utf8_file(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("archc: 1\nname: caf\xe9\n".encode("latin-1"))
    with pytest.raises(SpecError) as info:
        load_file(path)
    (diagnostic,) = info.value.diagnostics
    assert "not UTF-8" in diagnostic.message
    assert (diagnostic.position.line, diagnostic.position.col) == (2, 10)


def test_byte_order_mark_is_ignored(tmp_path):
    path = tmp_path / "bom.yaml"
    path.write_bytes("\ufeffa: 1\n".encode())
    assert load_file(path) == {"a": 1}
