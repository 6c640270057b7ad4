"""Third-party ops: the example plugin of docs/plugins/example, really installed, found through its entry point.

The package is installed with pip into a folder of tmp_path (no network, no build isolation), and every check runs
in a fresh interpreter with that folder on PYTHONPATH: the same discovery as for a user's ``pip install``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "docs" / "plugins" / "example"

SPEC = """\
archc: 1
name: lecun
input: {shape: [6]}
network:
  - {name: fc1, linear: {out: 8}}
  - {name: act, scaled_tanh: {}}
  - {name: fc2, linear: {out: 3}}
"""

#: the plugin op in torch and in emitted source, against the formula written out by hand
TORCH_CHECK = """\
import torch
import archc
from archc.backends.torch import build_model, emit_source

graph = archc.build_graph("lecun.yaml")
model = build_model(graph, seed=0).eval()
x = torch.randn(4, 6)
with torch.no_grad():
    expected = model.fc2(1.7159 * torch.tanh(model.fc1(x) * (2 / 3)))
    assert torch.allclose(model(x), expected, atol=1e-6), (model(x), expected)
namespace = {"__name__": "emitted"}
exec(emit_source(graph), namespace)
emitted = namespace["Lecun"]().eval()
emitted.load_state_dict(model.state_dict())
with torch.no_grad():
    assert torch.equal(emitted(x), model(x))
print("torch ok", graph.num_params)
"""

#: a spec using the plugin validates with torch, TensorFlow and Keras impossible to import
CORE_CHECK = """\
import sys

class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "tensorflow", "keras"):
            raise ImportError(name + " is blocked")
        return None

sys.meta_path.insert(0, Block())
from archc.cli import main
assert main(["validate", "lecun.yaml"]) == 0
print("core ok")
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The example package installed with pip into a fresh folder."""
    pytest.importorskip("setuptools")
    base = tmp_path_factory.mktemp("plugin")
    source = base / "source"
    shutil.copytree(EXAMPLE, source)  # pip builds in the source folder: keep the repository clean
    target = base / "site"
    result = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
                             "--no-build-isolation", "--target", str(target), str(source)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (target / "archc_example_ops.py").is_file()
    return target


def run(site: Path, cwd: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    (cwd / "lecun.yaml").write_text(SPEC, encoding="utf-8")
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


def test_list_ops_shows_the_plugin_and_its_origin(site, tmp_path):
    result = run(site, tmp_path, "-m", "archc", "list", "--ops", "--json")
    assert result.returncode == 0, result.stderr[-3000:]
    import json

    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert rows["scaled_tanh"]["origin"] == "plugin archc-example-ops (archc_example_ops)"
    assert rows["conv"]["origin"] == "built-in"
    assert "activation" in rows["scaled_tanh"]["traits"]


def test_list_ops_lists_the_built_in_ops(capsys):
    from archc.cli import main

    assert main(["list", "--ops"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in ("layernorm", "groupnorm", "conv", "built-in"))


def test_without_the_plugin_the_op_is_unknown(tmp_path):
    (tmp_path / "lecun.yaml").write_text(SPEC, encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "archc", "validate", "lecun.yaml"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and "scaled_tanh" in result.stderr and "Traceback" not in result.stderr


def test_a_spec_compiles_with_the_plugin_op_in_torch(site, tmp_path):
    pytest.importorskip("torch")
    (tmp_path / "check.py").write_text(TORCH_CHECK, encoding="utf-8")
    result = run(site, tmp_path, "check.py")
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == f"torch ok {6 * 8 + 8 + 8 * 3 + 3}"


def test_the_plugin_keeps_the_core_framework_free(site, tmp_path):
    (tmp_path / "check.py").write_text(CORE_CHECK, encoding="utf-8")
    result = run(site, tmp_path, "check.py")
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("core ok")


@pytest.mark.slow  # a second interpreter importing torch, TensorFlow and onnxruntime: about a minute on 2 cores
def test_the_plugin_op_passes_the_conformance_test(site, tmp_path):
    """The registry-generated conformance test picks the plugin op up: torch, Keras, emitted source and ONNX."""
    pytest.importorskip("keras")
    result = run(site, tmp_path, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "0",
                 str(ROOT / "tests" / "test_op_conformance.py"), "-k", "scaled_tanh", "--rootdir", str(ROOT),
                 timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "2 passed" in result.stdout


#: an op whose torch layer is the plugin's own nn.Module class, imported by name from the emitted file
AFFINE_PLUGIN = '''\
import torch
from torch import nn

from archc.backends.torch.registry import Module, register_lowering
from archc.ops.registry import Example, OpSpec, TensorDecl, register_op


def _channels(attrs, inputs):
    return (inputs[0][0],)


class ChannelAffine(nn.Module):
    def __init__(self, channels: int, scale: float = 1.0) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.full((channels,), scale))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x):
        shape = (1, -1) + (1,) * (x.dim() - 2)
        return x * self.weight.view(shape) + self.bias.view(shape)


@register_op("channel_affine")
class ChannelAffineOp(OpSpec):
    summary = "x * weight + bias per channel"
    traits = {"elementwise"}
    tensors = (TensorDecl("weight", "per-channel vector", _channels, init=lambda a: a.scale, constructor_init=None),
               TensorDecl("bias", "per-channel vector", _channels, init=lambda a: 0.0, constructor_init=0.0))
    examples = (Example((4, 3, 3)),)
    scale: float = 0.5


@register_lowering("channel_affine")
def lower(node):
    return Module(ChannelAffine, (node.in_channels,), {"scale": node.attrs.scale})
'''

AFFINE_CHECK = '''\
import torch
import affine_plugin  # registers the op, as an entry point would
import archc
from archc.backends.torch import build_model, emit_source

spec = """
archc: 1
name: affine
input: {shape: [4, 3, 3]}
network:
  - {name: conv, conv: {out: 6, kernel: 1}}
  - {name: scale, channel_affine: {scale: 0.25}}
"""
graph = archc.build_graph(spec)
assert graph.nodes["scale"]["params"] == 12, graph.nodes["scale"]["params"]
model = build_model(graph, seed=0).eval()
assert type(model.scale) is affine_plugin.ChannelAffine and torch.all(model.scale.weight == 0.25)
source = emit_source(graph)
assert "import affine_plugin" in source and "affine_plugin.ChannelAffine(6, scale=0.25)" in source, source
namespace = {"__name__": "emitted"}
exec(source, namespace)
emitted = namespace["Affine"]().eval()
emitted.load_state_dict(model.state_dict(), strict=True)
x = torch.randn(2, 4, 3, 3)
with torch.no_grad():
    assert torch.equal(emitted(x), model(x))
print("affine ok")
'''


def test_a_plugin_layer_class_is_built_and_emitted_by_name(tmp_path):
    """A lowering may describe the plugin's own nn.Module subclass: the GraphModule holds it at the node's name, the
    emitted file imports its module, and both agree."""
    pytest.importorskip("torch")
    (tmp_path / "affine_plugin.py").write_text(AFFINE_PLUGIN, encoding="utf-8")
    (tmp_path / "check.py").write_text(AFFINE_CHECK, encoding="utf-8")
    result = subprocess.run([sys.executable, "check.py"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "affine ok"
