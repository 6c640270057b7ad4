"""archc.errors.did_you_mean: the one mechanism behind every "did you mean" hint."""

from __future__ import annotations

import pytest

from archc.errors import did_you_mean
from archc.ops.registry import OPS, load_builtin_ops

load_builtin_ops()

INITS = ["torch_default", "kaiming_normal", "kaiming_normal_fan_out", "kaiming_uniform", "xavier_uniform",
         "xavier_normal", "zeros"]
ITEMS = [*OPS, "residual", "dense", "highway", "se"]


@pytest.mark.parametrize(("word", "known", "target"), [
    ("ReLU", ITEMS, "relu"), ("batchnorm", ITEMS, "bn"), ("BatchNorm2d", ITEMS, "bn"), ("Conv2d", ITEMS, "conv"),
    ("Dense", ITEMS, "linear"), ("MaxPool2d", ITEMS, "maxpool"), ("he_normal", INITS, "kaiming_normal"),
    ("glorot_uniform", INITS, "xavier_uniform"), ("kaiming", INITS, "kaiming_normal"), ("stirde", ["stride"], "stride"),
    ("kernel_size", ["kernel", "stride"], "kernel"),
])
def test_hint_names_the_archc_word(word, known, target):
    assert did_you_mean(word, known) == f"did you mean '{target}'?"


@pytest.mark.parametrize(("word", "known"), [
    ("drop_path", ITEMS), ("he_normal", ["xavier_normal", "zeros"]), ("swish", ["relu", "gelu"]), ("x" * 200, ITEMS),
    ("relu", ["relu"]),
])
def test_no_hint_rather_than_a_different_operation(word, known):
    assert did_you_mean(word, known) is None
