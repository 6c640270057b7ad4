"""Fuzzing: whatever the input — random bytes, random text, random YAML-ish specs — only SpecError comes out.

A spec is untrusted input; a Python traceback from the compiler is a bug. Graphs that build are rendered and built
again, and must come back the same.
"""

from __future__ import annotations

import os

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import archc
from archc import SpecError
from archc.ops.registry import OPS, load_builtin_ops
from archc.render import render_graph
from archc.spec.context import CONNECTIONS
from archc.spec.loader import load_text

load_builtin_ops()

# ARCHC_FUZZ_EXAMPLES=5000 for a longer hunt
FUZZ = settings(max_examples=int(os.environ.get("ARCHC_FUZZ_EXAMPLES", "150")), deadline=None,
                suppress_health_check=list(HealthCheck))

YAML_PIECES = st.sampled_from([
    *"abc:-[]{}&*!|>'\"#%@`,?\n \t$0123456789.<=", "<<", "!!int", "!!float", "!!python/object", "\x00", "\u2028",
    "\x85", "\ufeff", "---", "...", "${", "}", "&a", "*a", "name", "network", "archc: 1\n", "input: {shape: [3]}\n",
    "- relu\n", "  ", "conv:", "{out: 4, kernel: 3}",
])


def check(source, *, build: bool = True) -> None:
    try:
        graph = archc.build_graph(source, strict=False) if build else load_text(source)
    except SpecError as error:
        assert error.diagnostics and error.format()
        return
    if build:
        for diagnostic in graph.diagnostics:
            assert diagnostic.format()
        archc.summarize(graph)


@FUZZ
@given(st.lists(YAML_PIECES, max_size=60).map("".join))
def test_loader_on_yaml_ish_text(text):
    check(text, build=False)
    check("archc: 1\nname: x\ninput: {shape: [3, 4, 4]}\nnetwork:\n  - " + text + "\n")


@FUZZ
@given(st.text(max_size=200))
def test_loader_on_random_text(text):
    check(text, build=False)


@FUZZ
@given(st.binary(max_size=120))
def test_files_of_random_bytes(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("fuzz") / "spec.yaml"
    path.write_bytes(data)
    check(path)


# ---- whole specs built from the vocabulary ------------------------------------------------------------------------

ARGUMENT = st.one_of(
    st.integers(-2, 9),
    st.sampled_from(["${in_channels}", "$x", "${in_channels * 2}", "${x // 0}", "${[2, 2]}", "${in_shape}", 1.5,
                     "2", [2, 2], [1, 0], [3, 3, 3], None, "same", "zeros", True, "${undefined}", "${x > 1}", ""]),
)
ARGUMENTS = st.dictionaries(st.sampled_from(["out", "kernel", "stride", "padding", "dilation", "groups", "bias", "p",
                                             "keepdims", "reduction", "channels", "divisor", "rounding", "eps",
                                             "momentum", "init", "bias_init", "typo"]), ARGUMENT, max_size=4)
NAMES = st.sampled_from([None, "a", "b", "c", "a.b", "", "${'n' + str(1)}", "bad name"])
SOURCES = st.sampled_from([None, "a", "b", ["a", "b"], ["a", "a"], "input", "nowhere"])


def items(children):
    def op(kind, args, name, source):
        return {**({"name": name} if name is not None else {}), **({"from": source} if source else {}), kind: args}

    def connection(kind, body, extra, name):
        return {**({"name": name} if name is not None else {}), kind: {"body": body, **extra}}

    def group(body, repeat, name, when):
        item = {"body": body}
        for key, value in (("repeat", repeat), ("name", name), ("when", when)):
            if value is not None:
                item[key] = value
        return item

    extras = st.fixed_dictionaries({}, optional={
        "shortcut": st.sampled_from(["identity", "zero_pad", {"body": [{"conv": {"out": 4, "kernel": 1}}]},
                                     {"body": [{"conv": {"out": 4, "kernel": 1}}], "use": "always"}]),
        "repeat": st.integers(-1, 4), "after": st.sampled_from(["relu", ["relu"]]),
        "gate": st.sampled_from([{}, {"bias": -2}])})
    return st.one_of(
        st.builds(op, st.sampled_from(sorted(OPS)), ARGUMENTS, NAMES, SOURCES),
        st.builds(connection, st.sampled_from(sorted(CONNECTIONS)), st.lists(children, min_size=1, max_size=3),
                  extras, st.sampled_from([None, "a", "b", ""])),
        st.builds(group, st.lists(children, max_size=3), st.sampled_from([None, 0, 1, 2, -1, "${x}", 2.5]),
                  st.sampled_from([None, "", "a", "r${x}"]), st.sampled_from([None, True, False, "${x > 1}", 3])),
        st.builds(lambda args: {"se": args}, ARGUMENTS),
        st.sampled_from(["unit", {"unit": {"p": 3}}, {"unit": {"q": 1}}, "missing_block"]),
    )


ITEMS = st.recursive(st.sampled_from(["relu", "flatten", "bn", "identity", {"conv": {"out": 4, "kernel": 3}},
                                      {"global_avgpool": {}}, "${'relu'}"]), items, max_leaves=12)


@FUZZ
@given(network=st.lists(ITEMS, min_size=1, max_size=6), unit=st.lists(ITEMS, min_size=1, max_size=3),
       shape=st.sampled_from([[3, 8, 8], [4], [4, 2, 2], ["${x}", 4, 4], [0]]), as_text=st.booleans())
def test_whole_pipeline_on_generated_specs(network, unit, shape, as_text):
    spec = {"archc": 1, "name": "fuzz", "input": {"shape": shape}, "params": {"x": 2},
            "blocks": {"unit": {"params": {"p": 1}, "body": unit}}, "network": network}
    source = yaml.safe_dump(spec) if as_text else spec
    try:
        graph = archc.build_graph(source, strict=False)
    except SpecError as error:
        assert error.diagnostics
        return
    archc.summarize(graph)
    if not graph.diagnostics:
        again = archc.build_graph(yaml.safe_dump(render_graph(graph)))
        assert [(n, d["op"], d["attrs"], d["shape"], d["inputs"]) for n, d in graph.op_nodes()] == \
            [(n, d["op"], d["attrs"], d["shape"], d["inputs"]) for n, d in again.op_nodes()]


@FUZZ
@given(st.dictionaries(st.sampled_from(["archc", "name", "input", "params", "defaults", "blocks", "network",
                                        "extends", "description", "netwrk"]),
                       st.recursive(st.one_of(st.none(), st.integers(-3, 3), st.text(max_size=4), st.booleans()),
                                    lambda children: st.one_of(st.lists(children, max_size=3),
                                                               st.dictionaries(st.text(max_size=4), children,
                                                                               max_size=3)),
                                    max_leaves=10), max_size=7))
def test_top_level_of_any_shape(tree):
    check(tree)
    check(yaml.safe_dump(tree))
