"""The torch passes: memory-efficient training (same outputs, gradients and statistics as the default model) and
inference folding (same eval outputs with non-trivial BatchNorm statistics), docs/optimize.md."""

from __future__ import annotations

import copy

import pytest

torch = pytest.importorskip("torch")

import archc  # noqa: E402
from archc.backends.torch.fold import FusedConv2d  # noqa: E402
from archc.backends.torch.memory import _normalize, bn_relu_conv, feature_statistics, memory_efficient  # noqa: E402

SMALL_DENSENET = {"block_config": [3, 3], "growth": 8, "init_features": 16}


def small(name: str, size: int = 32, **params) -> archc.Spec:
    data = archc.parse(name, **params).to_data()
    data["input"]["shape"] = [3, size, size]
    return archc.parse(data)


def nontrivial_batch_norms(model: torch.nn.Module, seed: int = 1) -> None:
    """Running statistics and affine parameters a trained network could have (a fresh one's are 0 / 1)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                count = module.num_features
                module.running_mean.copy_(torch.randn(count, generator=generator) * 0.2)
                module.running_var.copy_(torch.rand(count, generator=generator) + 0.5)
                module.weight.copy_(torch.rand(count, generator=generator) + 0.5)
                module.bias.copy_(torch.randn(count, generator=generator) * 0.2)


def train_step(model: torch.nn.Module, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    model.train()
    output = model(x)
    torch.nn.functional.cross_entropy(output, labels).backward()
    return output


# ------------------------------------------------------------------------------------------ memory-efficient


# (zoo name, params) tuples, not strings: scaled-down nets, so the suite's cost policy for big zoo specs is not theirs
MEMORY_CASES = [("densenet_bc_100_12", SMALL_DENSENET), ("densenet121", SMALL_DENSENET),
                ("resnet18", {"layers": [1, 1, 1, 1]}), ("preact_resnet110", {"depth": 20})]
FOLD_CASES = [("resnet18", {}), ("resnet50", {"layers": [1, 2, 1, 1]}), ("densenet121", SMALL_DENSENET),
              ("se_resnet50", {"layers": [1, 1, 1, 1]}), ("highway_cifar", {}),
              ("densenet_bc_100_12", {"drop_rate": 0.2, **SMALL_DENSENET})]


@pytest.mark.parametrize("case", MEMORY_CASES, ids=[name for name, _ in MEMORY_CASES])
def test_memory_efficient_step_equals_the_default(case: tuple[str, dict]):
    spec = small(case[0], **case[1])
    default = archc.load(spec, seed=0)
    nontrivial_batch_norms(default)
    ours = archc.load(spec, seed=0, memory_efficient=True)
    ours.load_state_dict(default.state_dict(), strict=True)
    assert list(ours.state_dict()) == list(default.state_dict())  # names and checkpoints unchanged
    assert "bn_relu_conv" in ours.code
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(4, 3, 32, 32, generator=generator)
    labels = torch.randint(0, 10, (4,), generator=generator)
    for _ in range(2):  # the second step starts from updated running statistics
        for model in (default, ours):
            model.zero_grad(set_to_none=True)
        torch.testing.assert_close(train_step(ours, x, labels), train_step(default, x, labels), rtol=1e-5, atol=0)
        for (key, expected), (_, actual) in zip(default.named_parameters(), ours.named_parameters()):
            scale = expected.grad.abs().max().item()
            torch.testing.assert_close(actual.grad, expected.grad, rtol=1e-5, atol=1e-5 * scale, msg=key)
        for key, expected in default.state_dict().items():  # running statistics and num_batches_tracked
            torch.testing.assert_close(ours.state_dict()[key], expected, rtol=1e-6, atol=0, msg=key)
    default.eval(), ours.eval()
    with torch.no_grad():
        torch.testing.assert_close(ours(x), default(x), rtol=1e-6, atol=0)


def test_memory_efficient_rewrites_every_bn_relu_conv_chain_and_absorbs_the_concats():
    model = archc.load(small("densenet_bc_100_12", **SMALL_DENSENET))
    before = sum(node.target is torch.cat for node in model.graph.nodes)
    memory_efficient(model)
    fused = [node for node in model.graph.nodes if node.target is bn_relu_conv]
    # two chains per dense layer (norm1 -> conv1 with the concat absorbed, norm2 -> conv2) and one per transition
    assert len(fused) == 2 * 6 + 1
    # absorbed: every concat but the last block's, which norm5 -> relu -> pooling reads
    assert before == 6 and sum(node.target is torch.cat for node in model.graph.nodes) == 1
    assert not any(isinstance(model.get_submodule(node.target), torch.nn.BatchNorm2d)
                   for node in model.graph.nodes if node.op == "call_module" and "norm1" in node.target)
    # one shared statistics node per concatenated feature (block 1: its input and 3 layers' outputs, all read by the
    # transition; block 2: its input and the 2 outputs its later layers read), read by every norm1 and the transition
    statistics = [node for node in model.graph.nodes if node.target is feature_statistics]
    assert len(statistics) == 4 + 3 and all(node.users for node in statistics)
    assert sum("statistics" in node.kwargs for node in fused) == 2 * 3 + 1


def test_memory_efficient_keeps_less_for_backward():
    spec = small("densenet_bc_100_12", **SMALL_DENSENET)
    x = torch.randn(4, 3, 32, 32)

    def saved_bytes(model: torch.nn.Module) -> int:
        seen: dict[int, int] = {}

        def pack(tensor: torch.Tensor) -> torch.Tensor:
            storage = tensor.untyped_storage()
            seen[storage.data_ptr()] = storage.nbytes()
            return tensor

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
            model(x).sum()
        parameters = {p.untyped_storage().data_ptr() for p in model.parameters()}
        return sum(size for pointer, size in seen.items() if pointer not in parameters)

    default = saved_bytes(archc.load(spec).train())
    ours = saved_bytes(archc.load(spec, memory_efficient=True).train())
    assert ours < 0.5 * default


@pytest.mark.parametrize("memory_format", [torch.contiguous_format, torch.channels_last])
def test_the_recomputed_normalisation_is_the_forward_kernels_bit_for_bit(memory_format):
    generator = torch.Generator().manual_seed(0)
    x = (torch.randn(6, 40, 9, 9, generator=generator) * 3 + 1).contiguous(memory_format=memory_format)
    gamma, beta = torch.rand(40, generator=generator) + 0.5, torch.randn(40, generator=generator)
    out, mean, invstd = torch.ops.aten.native_batch_norm(x, gamma, beta, torch.zeros(40), torch.ones(40), True,
                                                         0.1, 1e-5)
    assert torch.equal(_normalize(x, gamma, beta, mean, invstd), out)


def chain_modules(channels: int, momentum: float | None = 0.1) -> tuple[torch.nn.BatchNorm2d, torch.nn.Conv2d]:
    torch.manual_seed(0)
    bn, conv = torch.nn.BatchNorm2d(channels, momentum=momentum), torch.nn.Conv2d(channels, 6, 3, padding=1)
    nontrivial_batch_norms(bn)
    return bn, conv


@pytest.mark.parametrize("sizes", [[3, 5, 16], [7], [1, 1, 2]], ids=["uneven", "single", "tiny"])
@pytest.mark.parametrize("memory_format", [torch.contiguous_format, torch.channels_last])
@pytest.mark.parametrize("momentum", [0.1, None], ids=["momentum", "cumulative"])
def test_shared_statistics_chain_equals_the_modules(sizes: list[int], memory_format, momentum):
    """The chain with each piece's statistics computed once (feature_statistics) against torch.cat + the modules:
    same output, same gradients of every piece and parameter, same running averages, on uneven pieces too."""
    generator = torch.Generator().manual_seed(0)
    pieces = [(torch.randn(3, size, 7, 7, generator=generator) * 2 + 0.5).contiguous(memory_format=memory_format)
              for size in sizes]
    bn, conv = chain_modules(sum(sizes), momentum)
    bn_ref, conv_ref = copy.deepcopy(bn), copy.deepcopy(conv)
    grad_out = torch.randn(3, 6, 7, 7, generator=generator)
    ours = [piece.clone().requires_grad_(True) for piece in pieces]
    theirs = [piece.clone().requires_grad_(True) for piece in pieces]
    for _ in range(2):  # the second step starts from updated running averages (and a counted batch)
        shared = tuple(feature_statistics(piece, bn.eps) for piece in ours)
        out = bn_relu_conv(bn, conv, *ours, statistics=shared)
        expected = conv_ref(torch.relu(bn_ref(torch.cat(theirs, 1))))
        # within rounding: a one-channel piece is also "contiguous", so torch reduces it with its NCHW kernel while
        # the channels-last concat gets the channels-last one (a DenseNet's pieces, growth channels each, do not)
        torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-6 * expected.abs().max().item())
        out.backward(grad_out)
        expected.backward(grad_out)
    for actual, wanted in [*zip(ours, theirs), *zip(bn.parameters(), bn_ref.parameters()),
                           *zip(conv.parameters(), conv_ref.parameters())]:
        torch.testing.assert_close(actual.grad, wanted.grad, rtol=1e-5, atol=1e-5 * wanted.grad.abs().max().item())
    for key, wanted in bn_ref.state_dict().items():
        torch.testing.assert_close(bn.state_dict()[key], wanted, rtol=1e-6, atol=0, msg=key)


def test_memory_efficient_step_under_bf16_autocast_and_channels_last():
    """bf16 autocast on the CPU (the conv runs in bf16, BatchNorm in float32 statistics) and channels-last: the step
    runs, and its loss and gradients are the default model's within bf16 rounding."""
    spec = small("densenet121", **SMALL_DENSENET)
    default = archc.load(spec, seed=0).to(memory_format=torch.channels_last)
    ours = archc.load(spec, seed=0, memory_efficient=True).to(memory_format=torch.channels_last)
    ours.load_state_dict(default.state_dict(), strict=True)
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(4, 3, 32, 32, generator=generator).contiguous(memory_format=torch.channels_last)
    labels = torch.randint(0, 10, (4,), generator=generator)
    losses = []
    for model in (default, ours):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = torch.nn.functional.cross_entropy(train_step(model, x, labels), labels)
        losses.append(loss)
    torch.testing.assert_close(losses[1], losses[0], rtol=2e-2, atol=0)
    for (key, expected), (_, actual) in zip(default.named_parameters(), ours.named_parameters()):
        assert actual.grad.dtype == expected.dtype and torch.isfinite(actual.grad).all(), key
        scale = expected.grad.abs().max().item()
        torch.testing.assert_close(actual.grad, expected.grad, rtol=0.1, atol=0.1 * scale, msg=key)


def test_memory_efficient_is_torch_only():
    with pytest.raises(archc.SpecError, match="memory_efficient=True is not available for the keras backend"):
        archc.load("resnet18", backend="keras", memory_efficient=True)


# -------------------------------------------------------------------------------------------------- folding


@pytest.mark.parametrize("case", FOLD_CASES, ids=[name for name, _ in FOLD_CASES])
@pytest.mark.parametrize("prepack", [True, False])
def test_optimize_keeps_the_eval_outputs(case: tuple[str, dict], prepack: bool):
    spec = small(case[0], **case[1])
    model = archc.load(spec, seed=0)
    nontrivial_batch_norms(model)
    model.eval()
    state = copy.deepcopy(model.state_dict())
    optimized = archc.optimize(model, prepack=prepack)
    x = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = model(x)
        actual = optimized(x)
    torch.testing.assert_close(actual, expected, rtol=1e-4, atol=1e-4 * expected.abs().max().item())
    for key, value in model.state_dict().items():  # the model itself is unchanged
        assert torch.equal(value, state[key]), key
    assert not optimized.training and not any(p.requires_grad for p in optimized.parameters())
    assert not any(isinstance(m, torch.nn.Dropout) for m in optimized.modules())


def test_optimize_folds_bn_and_fuses_residual_adds_and_relus():
    optimized = archc.optimize(archc.load(small("resnet18")), prepack=False)
    names = [name for name, module in optimized.named_modules() if isinstance(module, torch.nn.BatchNorm2d)]
    assert names == []  # every BN of a ResNet follows a conv
    conv2 = optimized.get_submodule("layer1.0.conv2")
    assert isinstance(conv2, FusedConv2d) and conv2.residual and conv2.relu
    assert "relu" not in optimized.code and "add" not in optimized.code
    modules = {key.rsplit(".", 1)[0] for key in optimized.state_dict()}  # names kept; folded convs gain a bias
    assert modules <= {key.rsplit(".", 1)[0] for key in archc.load(small("resnet18")).state_dict()}


ACCUMULATE = """\
archc: 1
name: accumulate
input: {shape: [4, 8, 8]}
params: {later: false}
network:
  - {name: stem, conv: {out: 8, kernel: 3, padding: 1}}
  - {name: same, residual: {body: [{name: conv, conv: {out: 8, kernel: 3, padding: 1}}]}}   # conv(x) + x
  - {name: down, conv: {out: 8, kernel: 1}}
  - {name: block, residual: {body: [{name: a, conv: {out: 8, kernel: 3, padding: 1}}, relu,
                                    {name: b, conv: {out: 8, kernel: 3, padding: 1}}]}}
  - {name: cat, concat: {}, from: [block, down], when: $later}                              # reads down again
"""


@pytest.mark.parametrize(("later", "outputs"), [(False, None), (True, None), (False, ["down", "block"])])
def test_prepacked_residual_adds_write_only_into_dead_tensors(later: bool, outputs: list[str] | None):
    model = archc.load(archc.parse(ACCUMULATE), later=later, outputs=outputs, seed=0).eval()
    optimized = archc.optimize(model, prepack=True)
    accumulating = {name for name, module in optimized.named_modules() if getattr(module, "accumulate", False)}
    # same.conv's residual is its own input; down is read again by cat when `later`, or returned
    assert accumulating == (set() if later or outputs else {"block.b"})
    x = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected, actual = model(x), optimized(x)
    torch.testing.assert_close(actual, expected, rtol=1e-4, atol=1e-5)


def test_prepacked_resnet_accumulates_and_keeps_its_feature_maps():
    spec = small("resnet50", layers=[2, 1, 1, 1])
    model = archc.load(spec, seed=0, features=True)
    nontrivial_batch_norms(model)
    model.eval()
    optimized = archc.optimize(model, prepack=True)
    accumulating = [name for name, module in optimized.named_modules() if getattr(module, "accumulate", False)]
    assert accumulating == ["layer1.0.conv3", "layer1.1.conv3", "layer2.0.conv3", "layer3.0.conv3"]
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        for actual, expected in zip(optimized(x), model(x), strict=True):
            torch.testing.assert_close(actual, expected, rtol=1e-4, atol=1e-4 * expected.abs().max().item())


def test_optimized_model_exports_and_reloads(tmp_path):
    from archc.backends.torch import save

    model = archc.load(small("resnet18"), seed=0)
    nontrivial_batch_norms(model)
    model.eval()
    optimized = archc.optimize(model, prepack=False)
    path = tmp_path / "model.pt2"
    save(optimized, archc.build_graph(small("resnet18")), path)
    program = torch.export.load(str(path)).module()
    x = torch.randn(5, 3, 32, 32)
    with torch.no_grad():
        expected = model(x)
        torch.testing.assert_close(program(x), expected, rtol=1e-4, atol=1e-4 * expected.abs().max().item())


def test_prepacked_model_copies_and_falls_back_when_grad_is_needed():
    model = archc.load(small("resnet18"), seed=0).eval()
    optimized = archc.optimize(model, prepack=True)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        expected = optimized(x)
    clone = copy.deepcopy(optimized)
    with torch.no_grad():
        torch.testing.assert_close(clone(x), expected)
    x.requires_grad_(True)
    torch.testing.assert_close(optimized(x).detach(), expected, rtol=1e-4, atol=1e-4)


def test_optimize_refuses_other_models():
    with pytest.raises(archc.SpecError, match="archc.optimize takes a model built by archc"):
        archc.optimize(torch.nn.Linear(2, 2))
