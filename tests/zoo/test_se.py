"""SE-ResNets (Hu et al. 2018, "Squeeze-and-Excitation Networks"): timm's seresnet* reproduced exactly, the SE
placements of the paper's §6.5 / Fig. 5 (standard, SE-PRE, SE-POST, SE-Identity) and the SE width rounding.

* Counts: the specs against a closed form of the architecture written out here (and timm's own count).
* timm: state-dict keys equal, timm's state dict loads with strict=True, eval outputs agree (1x3x64x64).
* Placements: no library implements them, so the reference is timm's SE-ResNet block with its forward rewired as the
  paper describes (``reference_forward``): archc's spec and this independent wiring must compute the same function
  from the same weights.

timm models build locally with pretrained=False; nothing is downloaded. Inputs are 1x3x64x64 (any size works).
"""

from __future__ import annotations

import copy
import types

import pytest

import archc
from archc.api import summarize

# timm 1.0 create_model(<name>).parameters() (also in tests/zoo/test_counts.py and docs/zoo.md)
TIMM = {"se_resnet18": ("seresnet18", 11_779_624), "se_resnet34": ("seresnet34", 21_960_416),
        "se_resnet50": ("seresnet50", 28_088_024), "se_resnet101": ("seresnet101", 49_326_872),
        "se_resnet152": ("seresnet152", 66_821_848), "se_resnext50_32x4d": ("seresnext50_32x4d", 27_559_896)}
ARCH = {  # name: (block, layers, groups, width_per_group)
    "se_resnet18": ("basic", (2, 2, 2, 2), 1, 64), "se_resnet34": ("basic", (3, 4, 6, 3), 1, 64),
    "se_resnet50": ("bottleneck", (3, 4, 6, 3), 1, 64), "se_resnet101": ("bottleneck", (3, 4, 23, 3), 1, 64),
    "se_resnet152": ("bottleneck", (3, 8, 36, 3), 1, 64), "se_resnext50_32x4d": ("bottleneck", (3, 4, 6, 3), 32, 4)}
PLACEMENTS = ("standard", "pre", "post", "identity")
ZOO_PLACEMENTS = {"se_resnet50_pre": "pre", "se_resnet50_post": "post", "se_resnet50_identity": "identity"}


# ---- closed form -------------------------------------------------------------------------------------------------

def se_width(channels: int, reduction: int = 16, rounding: str = "divisible") -> int:
    """timm's SEModule: make_divisible(C / r, 8, round_limit=0) = max(8, round-half-up to a multiple of 8);
    the paper: C // r."""
    if rounding == "floor":
        return channels // reduction
    return max(8, int(channels / reduction + 4) // 8 * 8)


def se_params(channels: int, hidden: int) -> int:
    """gap -> 1x1 conv C->h (+bias) -> relu -> 1x1 conv h->C (+bias) -> sigmoid -> scale."""
    return channels * hidden + hidden + hidden * channels + channels


def resnet_params(block: str, layers, groups: int = 1, width_per_group: int = 64, se: str | None = None,
                  rounding: str = "divisible", reduction: int = 16, classes: int = 1000) -> int:
    """He et al. 2015 ImageNet ResNet (torchvision / timm layout): 7x7 stem + BN, stages of planes 64 * 2**s,
    1x1 conv + BN projection where stride or width changes, fc. ``se``: where each block's SE sits and so the
    width it sees -- the block input (pre) or the block output (standard, post, identity after the projection)."""
    total, c = 3 * 64 * 49 + 2 * 64, 64
    for s, n in enumerate(layers):
        planes = 64 * 2**s
        for i in range(n):
            stride = 2 if s > 0 and i == 0 else 1
            if block == "basic":
                out = planes
                total += 9 * c * planes + 2 * planes + 9 * planes * planes + 2 * planes
            else:
                w, out = planes * width_per_group // 64 * groups, 4 * planes
                total += c * w + 2 * w + 9 * w * (w // groups) + 2 * w + w * out + 2 * out
            if stride != 1 or c != out:
                total += c * out + 2 * out
            if se is not None:
                seen = c if se == "pre" else out
                total += se_params(seen, se_width(seen, reduction, rounding))
            c = out
    return total + c * classes + classes


def _params(name: str, **params) -> int:
    return summarize(archc.build_graph(name, **params)).params


def test_closed_form_reproduces_the_published_counts():
    # torchvision's table for the plain nets, timm's for the SE nets: the closed form itself is right
    assert resnet_params("basic", (2, 2, 2, 2)) == 11_689_512
    assert resnet_params("bottleneck", (3, 4, 6, 3)) == 25_557_032
    assert resnet_params("bottleneck", (3, 4, 6, 3), 32, 4) == 25_028_904
    for name, (block, layers, groups, wpg) in ARCH.items():
        assert resnet_params(block, layers, groups, wpg, se="standard") == TIMM[name][1], name


@pytest.mark.parametrize("name", sorted(ARCH))
def test_se_resnet_counts(name):
    block, layers, groups, wpg = ARCH[name]
    assert _params(name) == resnet_params(block, layers, groups, wpg, se="standard") == TIMM[name][1]


@pytest.mark.parametrize("name", ["se_resnet18", "se_resnet50"])
@pytest.mark.parametrize("placement", PLACEMENTS)
def test_placement_counts(name, placement):
    block, layers, groups, wpg = ARCH[name]
    assert _params(name, se_placement=placement) == resnet_params(block, layers, groups, wpg, se=placement)


def test_zoo_placement_specs():
    counts = {name: _params(name) for name in ZOO_PLACEMENTS}
    assert counts == {name: resnet_params("bottleneck", (3, 4, 6, 3), se=p) for name, p in ZOO_PLACEMENTS.items()}
    # SE-PRE sees the block input: 64 / 256 / 512 / 1024 channels in each stage's first block, so it is smaller;
    # SE-POST and SE-Identity (after the projection) see the block output, as standard SE
    assert counts == {"se_resnet50_pre": 27_562_656, "se_resnet50_post": 28_088_024,
                      "se_resnet50_identity": 28_088_024}
    for name, placement in ZOO_PLACEMENTS.items():  # the zoo spec is se_resnet50 + one param
        ops = [(n, d["op"], d["inputs"]) for n, d in archc.build_graph(name).op_nodes()]
        assert ops == [(n, d["op"], d["inputs"])
                       for n, d in archc.build_graph("se_resnet50", se_placement=placement).op_nodes()]


def test_placement_wiring():
    """Where each SE reads from and where its output goes (layer2.0 has a projection shortcut)."""
    def wiring(placement):
        graph = archc.build_graph("se_resnet18", se_placement=placement)
        return {n: d["inputs"] for n, d in graph.op_nodes() if n.startswith(("layer1.1.", "layer2.0."))}

    standard = wiring("standard")
    assert standard["layer2.0.se.global_avgpool"] == ["layer2.0.bn2"]
    assert standard["layer2.0.add"] == ["layer2.0.se.mul", "layer2.0.downsample.1"]
    pre = wiring("pre")
    assert pre["layer2.0.se.global_avgpool"] == ["layer1.1.relu_1"]  # the block input ...
    assert pre["layer2.0.conv1"] == ["layer2.0.se.mul"]  # ... scaled, feeds the residual branch only
    assert pre["layer2.0.downsample.0"] == ["layer1.1.relu_1"]
    post = wiring("post")
    assert post["layer2.0.se.global_avgpool"] == ["layer2.0.relu_1"]  # after the add and its ReLU
    assert post["layer2.0.add"] == ["layer2.0.bn2", "layer2.0.downsample.1"]
    identity = wiring("identity")
    assert identity["layer1.1.se.global_avgpool"] == ["layer1.0.relu_1"]  # on the identity itself
    assert identity["layer1.1.add"] == ["layer1.1.bn2", "layer1.1.se.mul"]
    assert identity["layer2.0.se.global_avgpool"] == ["layer2.0.downsample.1"]  # after the projection
    assert identity["layer2.0.add"] == ["layer2.0.bn2", "layer2.0.se.mul"]


@pytest.mark.parametrize("name", ["se_resnet18", "se_resnet34", "se_resnet50", "se_resnet50_pre"])
def test_rounding_counts(name):
    """divisible (timm, make_divisible(C / 16, 8)) vs floor (the paper, C // 16): they differ only where C / 16 is
    not a multiple of 8 -- the 64-channel SEs (4 vs 8 wide): ResNet-18/34's layer1, SE-PRE's layer1.0."""
    block, layers, groups, wpg = ARCH["se_resnet50" if name == "se_resnet50_pre" else name]
    se = "pre" if name == "se_resnet50_pre" else "standard"
    divisible, floor = _params(name), _params(name, se_rounding="floor")
    assert divisible == resnet_params(block, layers, groups, wpg, se=se)
    assert floor == resnet_params(block, layers, groups, wpg, se=se, rounding="floor")
    per_se = se_params(64, 8) - se_params(64, 4)  # 1096 - 580
    assert divisible - floor == per_se * {"se_resnet18": 2, "se_resnet34": 3, "se_resnet50": 0,
                                          "se_resnet50_pre": 1}[name]


def test_reduction_param():
    assert _params("se_resnet50", se_reduction=8) == resnet_params("bottleneck", (3, 4, 6, 3), se="standard",
                                                                   reduction=8)


def test_placement_needs_attention_se():
    """se_placement / se_rounding change nothing without attention: se."""
    plain = [(n, d["op"]) for n, d in archc.build_graph("resnet50").op_nodes()]
    for placement in PLACEMENTS:
        graph = archc.build_graph("resnet50", se_placement=placement, se_rounding="floor")
        assert [(n, d["op"]) for n, d in graph.op_nodes()] == plain


def test_misspelt_placement_or_rounding_is_an_error():
    with pytest.raises(archc.SpecError, match="got 'identiy'"):
        archc.build_graph("se_resnet50", se_placement="identiy")
    with pytest.raises(archc.SpecError, match="rounding"):
        archc.build_graph("se_resnet18", se_rounding="round")


# ---- timm ---------------------------------------------------------------------------------------------------------

def _randomize(model, seed: int = 0):
    """Non-trivial BatchNorm statistics and affine parameters, so that wiring mistakes cannot hide behind
    identity-like BNs (in place; returns the model)."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                for tensor, low, high in ((module.running_mean, -0.3, 0.3), (module.running_var, 0.5, 1.5),
                                          (module.weight, 0.5, 1.5), (module.bias, -0.3, 0.3)):
                    tensor.copy_(torch.rand(tensor.shape, generator=generator) * (high - low) + low)
    return model


def _timm(name: str, seed: int = 0):
    torch = pytest.importorskip("torch")
    timm = pytest.importorskip("timm")
    torch.manual_seed(seed)
    return _randomize(timm.create_model(name, pretrained=False), seed).eval()


def _same_outputs(model, reference, tolerance: float = 1e-5) -> None:
    import torch

    model.load_state_dict(reference.state_dict(), strict=True)
    model.eval()
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected, actual = reference(x), model(x)
    torch.testing.assert_close(actual, expected, rtol=tolerance, atol=tolerance)


@pytest.mark.parametrize("name", sorted(TIMM))
def test_timm_keys_count_and_strict_load(name):
    torch = pytest.importorskip("torch")
    timm = pytest.importorskip("timm")
    timm_name, count = TIMM[name]
    with torch.device("meta"):  # no init: the deep ones build in well under a second this way
        reference = timm.create_model(timm_name, pretrained=False)
    assert sum(p.numel() for p in reference.parameters()) == count
    state = reference.to_empty(device="cpu").state_dict()
    model = archc.load(name, backend="torch", seed=0)
    assert list(model.state_dict()) == list(state)  # same keys, same order
    assert {k: v.shape for k, v in model.state_dict().items()} == {k: v.shape for k, v in state.items()}
    model.load_state_dict(state, strict=True)
    assert sum(p.numel() for p in model.parameters()) == count


@pytest.mark.parametrize("name", ["se_resnet18", "se_resnet50", "se_resnext50_32x4d",
                                  pytest.param("se_resnet34", marks=pytest.mark.slow),
                                  pytest.param("se_resnet101", marks=pytest.mark.slow),
                                  pytest.param("se_resnet152", marks=pytest.mark.slow)])
def test_timm_outputs(name):
    _same_outputs(archc.load(name, backend="torch", seed=0), _timm(TIMM[name][0]))


# ---- placements: timm's blocks rewired as Hu et al. 2018 Fig. 5 draws them -----------------------------------------

def reference_forward(block, x, placement: str):
    """A timm BasicBlock / Bottleneck (eval: drop_block, aa, drop_path are identities) with its ``se`` placed
    as ``placement`` says. standard: after the last BN, before the add (timm's own forward); pre: on the residual
    branch's input, the shortcut reads x unscaled; post: after the add and the final ReLU; identity: on the shortcut,
    after the projection where there is one."""
    shortcut = x
    if placement == "pre":
        x = block.se(x)
    if hasattr(block, "conv3"):
        x = block.act1(block.bn1(block.conv1(x)))
        x = block.act2(block.bn2(block.conv2(x)))
        x, act = block.bn3(block.conv3(x)), block.act3
    else:
        x = block.act1(block.bn1(block.conv1(x)))
        x, act = block.bn2(block.conv2(x)), block.act2
    if placement == "standard":
        x = block.se(x)
    if block.downsample is not None:
        shortcut = block.downsample(shortcut)
    if placement == "identity":
        shortcut = block.se(shortcut)
    y = act(x + shortcut)
    if placement == "post":
        y = block.se(y)
    return y


def rewired(reference, placement: str, rounding: str = "divisible"):
    """A copy of a timm SE-ResNet whose blocks compute ``placement``; SE-PRE gets SE modules of the block's input
    width, ``rounding: floor`` SE modules C -> C // 16 -> C (timm's SEModule with rd_channels)."""
    from timm.layers import SEModule

    model = copy.deepcopy(reference)
    for stage in (model.layer1, model.layer2, model.layer3, model.layer4):
        for block in stage:
            channels = block.conv1.in_channels if placement == "pre" else block.se.fc2.out_channels
            if placement == "pre" or rounding == "floor":
                block.se = SEModule(channels, rd_channels=se_width(channels, 16, rounding))
            block.forward = types.MethodType(lambda self, x, p=placement: reference_forward(self, x, p), block)
    return model


@pytest.fixture(scope="module")
def seresnet18():
    return _timm("seresnet18")


@pytest.fixture(scope="module")
def seresnet50():
    return _timm("seresnet50")


def test_reference_forward_is_timms_forward(seresnet18):
    import torch

    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(rewired(seresnet18, "standard")(x), seresnet18(x), rtol=0, atol=0)


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_resnet18_placement_outputs(seresnet18, placement):
    reference = _randomize(rewired(seresnet18, placement), seed=1)
    _same_outputs(archc.load("se_resnet18", backend="torch", seed=0, se_placement=placement), reference)


@pytest.mark.parametrize("name", sorted(ZOO_PLACEMENTS))
def test_zoo_placement_outputs(seresnet50, name):
    reference = _randomize(rewired(seresnet50, ZOO_PLACEMENTS[name]), seed=1)
    _same_outputs(archc.load(name, backend="torch", seed=0), reference)


@pytest.mark.parametrize("placement", ["standard", "pre"])
def test_floor_rounding_outputs(seresnet18, placement):
    reference = _randomize(rewired(seresnet18, placement, rounding="floor"), seed=1)
    assert reference.layer1[0].se.fc1.out_channels == 4  # 64 // 16 (timm's default would give 8)
    _same_outputs(archc.load("se_resnet18", backend="torch", seed=0, se_placement=placement, se_rounding="floor"),
                  reference)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(ZOO_PLACEMENTS))
def test_keras_placement_outputs(name, tmp_path):
    """The Keras backend computes what the torch backend computes (same weights by name, 64x64 input)."""
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    torch = pytest.importorskip("torch")
    pytest.importorskip("keras")
    np = pytest.importorskip("numpy")
    from archc.transfer import transfer_weights

    spec = tmp_path / f"{name}_64.yaml"
    spec.write_text(f"archc: 1\nextends: {name}\nname: {name}_64\ninput: {{shape: [3, 64, 64]}}\n")
    source = _randomize(archc.load(spec, backend="torch", seed=0)).eval()
    keras_model = archc.load(spec, backend="keras", seed=1)
    transfer_weights(source, keras_model)
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = source(x)
    actual = torch.from_numpy(np.asarray(keras_model(x.permute(0, 2, 3, 1).numpy(), training=False)))
    torch.testing.assert_close(actual, expected, rtol=1e-4, atol=1e-4 * max(1.0, expected.abs().max().item()))
