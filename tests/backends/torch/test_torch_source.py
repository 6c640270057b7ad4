"""emit_source: a standalone PyTorch file that builds the same model; and `archc compile --backend torch`."""

from __future__ import annotations

import ast

import pytest

torch = pytest.importorskip("torch")

from torch_backend_helpers import EVERY_OP, run_without_archc  # noqa: E402
from zoo.reference import emitted_class  # noqa: E402

import archc  # noqa: E402
from archc.backends.torch import build_model, emit_source  # noqa: E402
from archc.cli import main  # noqa: E402

#: names that collide with what generated code uses (F, torch, nn, self, x), with each other once made identifiers
#: (a.b, a_b), with container methods (keys) or that are no identifiers at all (0, conv-1)
ODD_NAMES = """
archc: 1
name: odd-names
input: {shape: [4]}
network:
  - {name: F, linear: {out: 4}}
  - {name: torch, relu: {}}
  - {name: x, linear: {out: 4}}
  - {name: a.b, linear: {out: 4}}
  - {name: a_b, linear: {out: 4}}
  - {name: keys.0, linear: {out: 4}}
  - {name: "0", linear: {out: 4}}
  - {name: conv-1, linear: {out: 4}}
  - {name: self, add: {}, from: [x, a.b, a_b, "0", conv-1, torch]}
  - {name: nn, tanh: {}}
"""

#: (spec, overrides, input shape or None for the spec's): small variants of the zoo that hold every kind of node
CASES = {
    "resnet18": ("resnet18", {"layers": [1, 1, 1, 1], "width": 16, "num_classes": 10}, (3, 32, 32)),
    "resnet50": ("resnet50", {"layers": [1, 1, 1, 1], "num_classes": 10}, (3, 32, 32)),
    "densenet": ("densenet121", {"block_config": [2, 3], "growth": 8, "init_features": 16, "drop_rate": 0.1},
                 (3, 32, 32)),
    "resnet20": ("resnet20", {}, None),  # option A shortcuts: strided slice and channel padding
    "se_resnet18": ("se_resnet18", {"layers": [1, 1, 1, 1], "num_classes": 10}, (3, 32, 32)),
    "every_op": (EVERY_OP, {}, None),
    "vit": ("vit_b_16", {"resolution": 32, "patch": 8, "layers": 1, "heads": 2, "hidden": 64, "mlp": 32}, None),
    "odd_names": (ODD_NAMES, {}, None),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_round_trip(case):
    spec, params, shape = CASES[case]
    graph = archc.build_graph(spec, **params)
    ours = build_model(graph, seed=0).eval()
    emitted = emitted_class(graph)().eval()
    assert list(emitted.state_dict()) == list(ours.state_dict())
    emitted.load_state_dict(ours.state_dict(), strict=True)
    x = torch.randn(2, *(shape or graph.nodes[graph.input_node]["shape"]))
    with torch.no_grad():
        assert torch.equal(emitted(x), ours(x))


def test_source_imports_torch_only_and_reads_like_torchvision():
    source = emit_source(archc.build_graph("resnet18"))
    imports = {alias.name for node in ast.walk(ast.parse(source)) if isinstance(node, (ast.Import, ast.ImportFrom))
               for alias in node.names} | {node.module for node in ast.walk(ast.parse(source))
                                           if isinstance(node, ast.ImportFrom)}
    assert imports == {"annotations", "__future__", "torch", "torch.nn.functional", "nn"}
    assert "self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)" in source
    assert 'x = self.layer1["0"].conv1(maxpool)' in source
    assert "x = F.relu(x, inplace=True)" in source
    assert max(len(line) for line in source.splitlines()) <= 120


def test_emitted_initialisation_follows_the_spec():
    graph = archc.build_graph("resnet18", zero_init_residual=True, **CASES["resnet18"][1])
    torch.manual_seed(0)
    emitted = emitted_class(graph)()
    assert not emitted.layer1["0"].bn2.weight.any()
    weight = emitted.layer2["0"].conv1.weight  # kaiming normal, fan_out = 32 * 9
    assert weight.std().item() == pytest.approx((2 / (32 * 9)) ** 0.5, rel=0.05)


def test_source_draws_the_vits_bare_parameters_and_biases_as_its_spec():
    """pos_embedding normal(std=0.02) on a bare parameter, MLP biases normal(std=1e-6), a zero head."""
    emitted = emitted_class(archc.build_graph("vit_b_16", **CASES["vit"][1]))()
    assert emitted.encoder.pos_embedding.std().item() == pytest.approx(0.02, rel=0.1)  # 17 x 64 draws
    bias = emitted.encoder.layers.encoder_layer_0.mlp["0"].bias
    assert 0 < bias.abs().max().item() < 1e-5
    assert not emitted.heads.head.weight.any() and not emitted.heads.head.bias.any()


def test_emitted_file_runs_where_archc_is_not_installed(tmp_path):
    graph = archc.build_graph("densenet121", **CASES["densenet"][1])
    (tmp_path / "net.py").write_text(emit_source(graph), encoding="utf-8")
    torch.save(build_model(graph, seed=0).state_dict(), tmp_path / "weights.pt")
    result = run_without_archc(
        "import runpy, sys, torch\n"
        "sys.path.insert(0, '.')\n"
        "from net import Densenet121\n"
        "model = Densenet121()\n"
        "model.load_state_dict(torch.load('weights.pt'), strict=True)\n"
        "runpy.run_path('net.py', run_name='__main__')\n", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "torch.Size([1, 1000])"


@pytest.mark.slow
def test_cli_compile_densenet121_end_to_end(tmp_path, capsys):
    from pathlib import Path

    spec = Path(archc.__file__).resolve().parent.parent / "specs" / "densenet121.yaml"
    model_path, source_path = tmp_path / "x.pt2", tmp_path / "x.py"
    argv = ["compile", str(spec), "--backend", "torch", "-o", str(model_path), "--emit-source", str(source_path)]
    assert main(argv) == 0
    assert f"wrote {model_path}" in capsys.readouterr().out
    assert main(argv) == 2  # exists: needs --force
    program = torch.export.load(model_path)
    graph = archc.build_graph("densenet121")
    reference = build_model(graph, seed=0).eval()  # the CLI's default seed
    emitted = emitted_class(graph)().eval()
    emitted.load_state_dict(reference.state_dict())
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(program.module()(x), reference(x), rtol=1e-4, atol=1e-5)
        assert torch.equal(emitted(x), reference(x))
