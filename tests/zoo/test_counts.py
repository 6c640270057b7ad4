"""The zoo reproduces its references exactly: parameter counts, GMACs, state-dict names and shapes.

Every spec of specs/ has a row in EXPECTED with its source. Published numbers (torchvision's model tables, timm,
the papers' tables as given in docs/zoo.md) are written as constants; where no publication gives an
exact count, the constant is derived by a closed-form formula written out in this file (test_closed_forms), so the
spec is checked against an independent description of the architecture, not against itself.

Core-only (no torch needed) except the reference comparisons, which build torchvision / timm models on the meta
device (no weights are allocated or initialised; ~50 ms each) and are skipped when those packages are missing.
"""

from __future__ import annotations

import pytest

import archc
from archc.api import summarize
from archc.spec.parse import parse
from archc.zoo import zoo_names

TV = "torchvision model table (torchvision.models.<name> weights meta: num_params, GFLOPS = GMACs)"
TIMM = "timm 1.0 create_model(<name>) parameter count"
CF = "closed form in this file (no published exact count)"

# name: (parameters, GMACs as published or None, source). GMACs are compared to the number of decimals written.
EXPECTED: dict[str, tuple[int, str | None, str]] = {
    # ImageNet ResNets, He et al. 2015; torchvision v1.5 (stride on the 3x3)
    "resnet18": (11_689_512, "1.814", TV),
    "resnet34": (21_797_672, "3.664", TV),
    "resnet50": (25_557_032, "4.089", TV),
    "resnet101": (44_549_160, "7.801", TV),
    "resnet152": (60_192_808, "11.514", TV),
    "resnext50_32x4d": (25_028_904, "4.230", TV),
    "resnext101_32x8d": (88_791_336, "16.414", TV),
    "wide_resnet50_2": (68_883_240, "11.398", TV),
    "wide_resnet101_2": (126_886_696, "22.753", TV),
    # SE-ResNets, Hu et al. 2018, as timm's seresnet* (SE after the last BN, make_divisible(C/16, 8), conv fc with bias)
    "se_resnet18": (11_779_624, None, TIMM + " ('seresnet18')"),
    "se_resnet34": (21_960_416, None, TIMM + " ('seresnet34')"),
    "se_resnet50": (28_088_024, "4.09", "timm 'seresnet50'; docs/zoo.md reference table (4.09 GMACs)"),
    "se_resnet101": (49_326_872, None, TIMM + " ('seresnet101')"),
    "se_resnet152": (66_821_848, None, TIMM + " ('seresnet152')"),
    "se_resnext50_32x4d": (27_559_896, None, TIMM + " ('seresnext50_32x4d')"),
    # SE placements, Hu et al. 2018 §6.5 / Fig. 5 (no reference implementation): closed form in tests/zoo/test_se.py
    "se_resnet50_pre": (27_562_656, None, "SE on the residual branch's input; closed form in tests/zoo/test_se.py"),
    "se_resnet50_post": (28_088_024, None, "SE after the add and ReLU; closed form in tests/zoo/test_se.py"),
    "se_resnet50_identity": (28_088_024, None, "SE on the shortcut; closed form in tests/zoo/test_se.py"),
    # CIFAR ResNets with option-A shortcuts, He et al. 2015 Table 6 (0.27M ... 19.4M); exact counts as docs/zoo.md
    "cifar_resnet": (269_722, None, "He et al. 2015 Table 6 (ResNet-20, the base's default depth)"),
    "resnet20": (269_722, None, "He et al. 2015 Table 6 (0.27M); docs/zoo.md"),
    "resnet32": (464_154, None, "He et al. 2015 Table 6 (0.46M); docs/zoo.md"),
    "resnet44": (658_586, None, "He et al. 2015 Table 6 (0.66M); docs/zoo.md"),
    "resnet56": (853_018, None, "He et al. 2015 Table 6 (0.85M); docs/zoo.md"),
    "resnet110": (1_727_962, None, "He et al. 2015 Table 6 (1.7M); docs/zoo.md"),
    "resnet1202": (19_421_274, None, "He et al. 2015 Table 6 (19.4M); exact value: " + CF),
    "plain20": (269_722, None, "He et al. 2015 Fig. 6: plain = ResNet without shortcuts (option A has no params)"),
    "plain56": (853_018, None, "He et al. 2015 Fig. 6: plain = ResNet without shortcuts (option A has no params)"),
    # pre-activation ResNets, He et al. 2016 Table 3 (projection shortcuts where the shape changes)
    "preact_resnet_cifar": (1_703_258, None, "He et al. 2016 Table 3, ResNet-164 (1.7M), the base's default"),
    "preact_resnet164": (1_703_258, None, "He et al. 2016 Table 3 (1.7M); bearpaw/pytorch-classification 1.70M"),
    "preact_resnet110": (1_730_522, None, "He et al. 2016 Table 3 (1.7M); exact value: " + CF),
    "preact_resnet1001": (10_327_706, None, "He et al. 2016 Table 3 (10.2M); exact value: " + CF),
    # Wide ResNets, Zagoruyko & Komodakis 2016
    "wrn_cifar": (36_479_194, None, "Zagoruyko & Komodakis 2016 Table 5, WRN-28-10 (36.5M), the base's default"),
    "wrn_28_10": (36_479_194, None, "Zagoruyko & Komodakis 2016 Table 5 (36.5M); xternalz/WideResNet-pytorch"),
    # DenseNets, Huang et al. 2017
    "densenet121": (7_978_856, "2.834", TV),
    "densenet121_keras": (7_978_856, "2.834", "keras.applications.DenseNet121: 7,978,856 trainable (docs/zoo.md)"),
    "densenet169": (14_149_480, "3.360", TV),
    "densenet201": (20_013_928, "4.291", TV),
    "densenet161": (28_681_000, "7.728", TV),
    "densenet264": (33_337_704, None, "torchvision.models.densenet.DenseNet(32, (6, 12, 64, 48), 64); " + CF),
    "densenet_bc_100_12": (769_162, None, "Huang et al. 2017 Table 2 (0.8M); docs/zoo.md"),
    "se_densenet121": (8_010_872, None, "densenet121 + 58 SE modules of 32->8->32 channels: " + CF),
    # highway networks, Srivastava et al. 2015 (MNIST study §3.1: ~5000 params per layer; CIFAR Table 3: 2.3M)
    "highway_fc": (85_660, None, CF),
    "highway_fc10": (85_660, None, CF),
    "highway_fc20": (136_660, None, CF),
    "highway_fc50": (289_660, None, CF),
    "highway_fc100": (544_660, None, CF),
    "plain_fc10": (102_463, None, CF),
    "plain_fc20": (153_583, None, CF),
    "plain_fc50": (306_943, None, CF),
    "plain_fc100": (562_543, None, CF),
    "highway_cifar": (2_262_714, None, "Srivastava et al. 2015 Table 3 (19 layers, 2.3M); exact value: " + CF),
    "example_residual": (2_995_432, None, CF),
    # the classic baselines and the mobile families, torchvision 0.29 (docs/zoo.md)
    "alexnet": (61_100_840, "0.714", TV),
    "vgg11": (132_863_336, "7.609", TV),
    "vgg11_bn": (132_868_840, "7.609", TV),
    "vgg13": (133_047_848, "11.308", TV),
    "vgg13_bn": (133_053_736, "11.308", TV),
    "vgg16": (138_357_544, "15.470", TV),
    "vgg16_bn": (138_365_992, "15.470", TV),
    "vgg19": (143_667_240, "19.632", TV),
    "vgg19_bn": (143_678_248, "19.632", TV),
    "squeezenet1_0": (1_248_424, "0.819", TV),
    "squeezenet1_1": (1_235_496, "0.349", TV),
    # with the auxiliary heads, as get_model builds them; without (aux_logits: false): test_auxiliary_heads
    "googlenet": (13_004_888, None, "torchvision.models.get_model('googlenet') parameter count (aux1, aux2 included)"),
    "inception_v3": (27_161_264, None, TV + "; the GMACs without AuxLogits: test_auxiliary_heads"),
    "mobilenet_v2": (3_504_872, "0.301", TV),
    "vit_b_16": (86_567_656, "17.56", TV),
    "vit_b_32": (88_224_232, "4.41", TV),
    "vit_l_16": (304_326_632, "61.55", TV),
    "vit_l_32": (306_535_400, "15.38", TV),
    "vit_h_14": (632_045_800, "167.295", TV),
    "swin_t": (28_288_354, "4.491", TV),
    "swin_s": (49_606_258, "8.741", TV),
    "swin_b": (87_768_224, "15.431", TV),
    # Swin V2 at its weights' crop size, 256 (the specs' default resolution)
    "swin_v2_t": (28_351_570, "5.940", TV),
    "swin_v2_s": (49_737_442, "11.546", TV),
    "swin_v2_b": (87_930_848, "20.325", TV),
    "mobilenet_v3_large": (5_483_032, "0.217", TV),
    "mobilenet_v3_small": (2_542_856, "0.057", TV),
    "mnasnet0_5": (2_218_512, "0.104", TV),
    "mnasnet0_75": (3_170_208, "0.215", TV),
    "mnasnet1_0": (4_383_312, "0.314", TV),
    "mnasnet1_3": (6_282_256, "0.526", TV),
    "shufflenet_v2_x0_5": (1_366_792, "0.040", TV),
    "shufflenet_v2_x1_0": (2_278_604, "0.145", TV),
    "shufflenet_v2_x1_5": (3_503_624, "0.296", TV),
    "shufflenet_v2_x2_0": (7_393_996, "0.583", TV),
    "resnext101_64x4d": (83_455_272, "15.460", TV),
    # EfficientNet (Tan & Le 2019) as torchvision: GMACs at the spec's default 224; torchvision's table gives them at
    # each model's own crop size, checked in test_efficientnet_gmacs_at_the_reference_crop_size
    "efficientnet_b0": (5_288_548, "0.386", TV),
    "efficientnet_b1": (7_794_184, None, TV),
    "efficientnet_b2": (9_109_994, None, TV),
    "efficientnet_b3": (12_233_232, None, TV),
    "efficientnet_b4": (19_341_616, None, TV),
    "efficientnet_b5": (30_389_784, None, TV),
    "efficientnet_b6": (43_040_704, None, TV),
    "efficientnet_b7": (66_347_960, None, TV),
    "efficientnet_v2_s": (21_458_488, None, TV),
    "efficientnet_v2_m": (54_139_356, None, TV),
    "efficientnet_v2_l": (118_515_272, None, TV),
    # RegNet (Radosavovic et al. 2020) as torchvision; regnet_y_128gf's 224 row is IMAGENET1K_SWAG_LINEAR_V1
    "regnet_x_400mf": (5_495_976, "0.414", TV),
    "regnet_x_800mf": (7_259_656, "0.800", TV),
    "regnet_x_1_6gf": (9_190_136, "1.603", TV),
    "regnet_x_3_2gf": (15_296_552, "3.177", TV),
    "regnet_x_8gf": (39_572_648, "7.995", TV),
    "regnet_x_16gf": (54_278_536, "15.941", TV),
    "regnet_x_32gf": (107_811_560, "31.736", TV),
    "regnet_y_400mf": (4_344_144, "0.402", TV),
    "regnet_y_800mf": (6_432_512, "0.834", TV),
    "regnet_y_1_6gf": (11_202_430, "1.612", TV),
    "regnet_y_3_2gf": (19_436_338, "3.176", TV),
    "regnet_y_8gf": (39_381_472, "8.473", TV),
    "regnet_y_16gf": (83_590_140, "15.912", TV),
    "regnet_y_32gf": (145_046_770, "32.280", TV),
    "regnet_y_128gf": (644_812_894, "127.518", TV),
    # ConvNeXt (Liu et al. 2022) as torchvision
    "convnext_tiny": (28_589_128, "4.456", TV),
    "convnext_small": (50_223_688, "8.684", TV),
    "convnext_base": (88_591_464, "15.355", TV),
    "convnext_large": (197_767_336, "34.361", TV),
    # ResNet-D (He et al. 2019, "Bag of Tricks"): deep stem, average-pool shortcut; and ECA-Net (Wang et al. 2020)
    "resnet50d": (25_576_264, None, TIMM + " ('resnet50d')"),
    "ecaresnet50d": (25_576_350, None, TIMM + " ('ecaresnet50d')"),
}

# torchvision / timm models whose state-dict keys and shapes the specs reproduce exactly
TORCHVISION = ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "resnext50_32x4d", "resnext101_32x8d",
               "resnext101_64x4d", "wide_resnet50_2", "wide_resnet101_2", "densenet121", "densenet169", "densenet201",
               "densenet161", "alexnet", "vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19",
               "vgg19_bn", "squeezenet1_0", "squeezenet1_1", "mobilenet_v2", "mobilenet_v3_large", "mobilenet_v3_small",
               "mnasnet0_5", "mnasnet0_75", "mnasnet1_0", "mnasnet1_3", "shufflenet_v2_x0_5", "shufflenet_v2_x1_0",
               "shufflenet_v2_x1_5", "shufflenet_v2_x2_0"]
TIMM_NAMES = {"se_resnet18": "seresnet18", "se_resnet34": "seresnet34", "se_resnet50": "seresnet50",
              "se_resnet101": "seresnet101", "se_resnet152": "seresnet152",
              "se_resnext50_32x4d": "seresnext50_32x4d", "resnet50d": "resnet50d", "ecaresnet50d": "ecaresnet50d"}


def _summary(name: str, **params):
    return summarize(archc.build_graph(name, **params))


def _gmacs_match(macs: int, published: str) -> bool:
    decimals = len(published.split(".")[1]) if "." in published else 0
    return round(macs / 1e9, decimals) == float(published)


def test_every_zoo_spec_has_an_expected_count():
    assert sorted(EXPECTED) == zoo_names()


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_params_and_gmacs(name):
    params, gmacs, _source = EXPECTED[name]
    summary = _summary(name)
    assert summary.params == params
    if gmacs is not None:
        assert _gmacs_match(summary.macs, gmacs), summary.macs


def test_resnet50_v1_stride_on_conv1():
    # He et al. 2015 Table 1 (3.8 GFLOPs); torchvision documents v1.5 as 4.089 vs v1's 3.858 GMACs
    summary = _summary("resnet50", stride_on="conv1")
    assert summary.params == 25_557_032
    assert _gmacs_match(summary.macs, "3.858")


@pytest.mark.parametrize("name", zoo_names())
def test_spec_metadata(name):
    spec = parse(name)
    assert spec.model.name == name  # name = file stem
    assert len(spec.model.description) > 40  # says what it is and cites its source


@pytest.mark.parametrize("name", zoo_names())
def test_builds_deterministically(name):
    first, second = archc.build_graph(name), archc.build_graph(name)
    assert [n for n, _ in first.op_nodes()] == [n for n, _ in second.op_nodes()]
    assert [(d["op"], d["shape"], d["inputs"]) for _, d in first.op_nodes()] == \
           [(d["op"], d["shape"], d["inputs"]) for _, d in second.op_nodes()]


# ---- closed forms: independent descriptions of the architectures -------------------------------------------------

def cifar_resnet_params(depth: int, widths=(16, 32, 64), classes: int = 10) -> int:
    """He et al. 2015 §4.2: conv3x3(16)+BN, 3 stages of n basic blocks (two conv3x3+BN), option-A shortcuts, fc."""
    n = (depth - 2) // 6
    total, c = 3 * widths[0] * 9 + 2 * widths[0], widths[0]
    for w in widths:
        for _ in range(n):
            total += 9 * c * w + 2 * w + 9 * w * w + 2 * w
            c = w
    return total + c * classes + classes


def preact_params(depth: int, bottleneck: bool = True, classes: int = 10) -> int:
    """He et al. 2016: conv3x3(16); pre-activation units, 1x1 projection (no bias) where the shape changes;
    final BN and fc."""
    n = (depth - 2) // (9 if bottleneck else 6)
    total, c = 3 * 16 * 9, 16
    for s, planes in enumerate((16, 32, 64)):
        out = 4 * planes if bottleneck else planes
        for i in range(n):
            if bottleneck:
                total += 2 * c + c * planes + 2 * planes + 9 * planes * planes + 2 * planes + planes * out
            else:
                total += 2 * c + 9 * c * planes + 2 * planes + 9 * planes * planes
            if c != out or (s > 0 and i == 0):
                total += c * out
            c = out
    return total + 2 * c + c * classes + classes


def wrn_params(depth: int, k: int, classes: int = 10) -> int:
    """Zagoruyko & Komodakis 2016: conv3x3(16); 3 groups of (depth-4)/6 pre-activation basic blocks of 16k/32k/64k;
    1x1 shortcut conv where the width changes; final BN and fc."""
    n = (depth - 4) // 6
    total, c = 3 * 16 * 9, 16
    for w in (16 * k, 32 * k, 64 * k):
        for _ in range(n):
            total += 2 * c + 9 * c * w + 2 * w + 9 * w * w + (c * w if c != w else 0)
            c = w
    return total + 2 * c + c * classes + classes


def densenet_params(growth: int, blocks, init: int, cifar_stem: bool = False, classes: int = 1000,
                    bn_size: int = 4, se_hidden: int = 0) -> int:
    """Huang et al. 2017 DenseNet-BC: stem, dense layers BN-1x1(bn_size*k)-BN-3x3(k), transitions BN-1x1(c/2),
    final BN and classifier. se_hidden > 0 adds SE (k -> se_hidden -> k, 1x1 convs with bias) to every layer."""
    total = 3 * init * 9 if cifar_stem else 3 * init * 49 + 2 * init
    c = init
    for b, layers in enumerate(blocks):
        for _ in range(layers):
            total += 2 * c + c * bn_size * growth + 2 * bn_size * growth + 9 * bn_size * growth * growth
            if se_hidden:
                total += growth * se_hidden + se_hidden + se_hidden * growth + growth
            c += growth
        if b < len(blocks) - 1:
            total += 2 * c + c * (c // 2)
            c //= 2
    return total + 2 * c + c * classes + classes


def highway_fc_params(depth: int, width: int, gated: bool, classes: int = 10) -> int:
    """Srivastava et al. 2015 §3.1: plain 784->width, depth-1 layers (highway: H and T, both width x width + bias),
    linear classifier."""
    layer = (2 if gated else 1) * (width * width + width)
    return 784 * width + width + (depth - 1) * layer + width * classes + classes


def highway_cifar_params(widths=(32, 80, 128), layers=(5, 5, 5), classes: int = 10) -> int:
    total, c = 0, 3
    for w, n in zip(widths, layers):
        total += 9 * c * w + w + n * 2 * (9 * w * w + w)
        c = w
    return total + c * classes + classes


def example_residual_params() -> int:
    total, c = 0, 3
    for w in (64, 64, 128, 128, 256, 256):
        total += 9 * c * w + 2 * w + 9 * w * w + 2 * w + (c * w + 2 * w if c != w else 0)
        c = w
    return total + 256 * 1000 + 1000


CLOSED_FORMS = {
    **{f"resnet{d}": (cifar_resnet_params, d) for d in (20, 32, 44, 56, 110, 1202)},
    **{f"plain{d}": (cifar_resnet_params, d) for d in (20, 56)},
    "preact_resnet164": (preact_params, 164),
    "preact_resnet1001": (preact_params, 1001),
    "preact_resnet110": (preact_params, 110, False),
    "wrn_28_10": (wrn_params, 28, 10),
    "densenet121": (densenet_params, 32, (6, 12, 24, 16), 64),
    "densenet169": (densenet_params, 32, (6, 12, 32, 32), 64),
    "densenet201": (densenet_params, 32, (6, 12, 48, 32), 64),
    "densenet161": (densenet_params, 48, (6, 12, 36, 24), 96),
    "densenet264": (densenet_params, 32, (6, 12, 64, 48), 64),
    "densenet_bc_100_12": (densenet_params, 12, (16, 16, 16), 24, True, 10),
    "se_densenet121": (densenet_params, 32, (6, 12, 24, 16), 64, False, 1000, 4, 8),
    **{f"highway_fc{d}": (highway_fc_params, d, 50, True) for d in (10, 20, 50, 100)},
    **{f"plain_fc{d}": (highway_fc_params, d, 71, False) for d in (10, 20, 50, 100)},
    "highway_cifar": (highway_cifar_params,),
    "example_residual": (example_residual_params,),
}


@pytest.mark.parametrize("name", sorted(CLOSED_FORMS))
def test_closed_forms(name):
    """The closed-form count of the paper's architecture equals the expected constant (and so the spec)."""
    formula, *args = CLOSED_FORMS[name]
    assert formula(*args) == EXPECTED[name][0]


def test_plain_nets_have_no_shortcuts():
    for plain, resnet in (("plain20", "resnet20"), ("plain56", "resnet56")):
        ops = [d["op"] for _, d in archc.build_graph(plain).op_nodes()]
        assert "add" not in ops and "channel_pad" not in ops
        assert "channel_pad" in [d["op"] for _, d in archc.build_graph(resnet).op_nodes()]
    for plain in ("plain_fc10", "plain_fc100"):
        ops = {d["op"] for _, d in archc.build_graph(plain).op_nodes()}
        assert not ops & {"add", "sub", "mul", "sigmoid"}


def test_highway_gate_bias_is_negative():
    graph = archc.build_graph("highway_fc20")
    gates = [d["attrs"] for n, d in graph.op_nodes() if n.endswith(".gate")]
    assert len(gates) == 19 and all(g.bias_init == -2.0 for g in gates)


# ---- reference models, built locally (meta device: no weights allocated) ------------------------------------------

def state_dict_shapes(graph) -> dict[str, tuple[int, ...]]:
    """The torch state-dict keys and shapes the graph implies (a node's name is its module path)."""
    out: dict[str, tuple[int, ...]] = {}
    for name, data in graph.op_nodes():
        op, attrs = data["op"], data["attrs"]
        in_channels = graph.nodes[data["inputs"][0]]["shape"][0] if data["inputs"] else None
        if op == "conv":
            out[f"{name}.weight"] = (attrs.out, in_channels // attrs.groups, *attrs.kernel_hw)
            if attrs.bias:
                out[f"{name}.bias"] = (attrs.out,)
        elif op == "linear":
            out[f"{name}.weight"] = (attrs.out, in_channels)
            if attrs.bias:
                out[f"{name}.bias"] = (attrs.out,)
        elif op == "bn":
            for key in ("weight", "bias", "running_mean", "running_var"):
                out[f"{name}.{key}"] = (in_channels,)
            out[f"{name}.num_batches_tracked"] = ()
        elif op == "channel_conv":  # ECA: nn.Conv1d(1, 1, k, bias=False)
            out[f"{name}.weight"] = (1, 1, attrs.kernel)
    return out


def _reference_shapes(model) -> dict[str, tuple[int, ...]]:
    return {key: tuple(value.shape) for key, value in model.state_dict().items()}


@pytest.mark.parametrize("name", [f"efficientnet_b{i}" for i in range(8)] + [f"efficientnet_v2_{v}" for v in "sml"])
def test_efficientnet_gmacs_at_the_reference_crop_size(name):
    torchvision = pytest.importorskip("torchvision")
    weights = torchvision.models.get_model_weights(name).DEFAULT  # the published table, no download
    crop = weights.transforms().crop_size[0]
    assert _gmacs_match(_summary(name, resolution=crop).macs, f"{weights.meta['_ops']:.3f}")
    assert weights.meta["num_params"] == EXPECTED[name][0]


@pytest.mark.parametrize("name", TORCHVISION)
def test_torchvision_state_dict_and_table(name):
    torch = pytest.importorskip("torch")
    torchvision = pytest.importorskip("torchvision")
    with torch.device("meta"):
        model = torchvision.models.get_model(name)
    assert state_dict_shapes(archc.build_graph(name)) == _reference_shapes(model)
    params = EXPECTED[name][0]
    assert sum(p.numel() for p in model.parameters()) == params
    meta = torchvision.models.get_model_weights(name).DEFAULT.meta  # the published table, no download
    assert meta["num_params"] == params
    assert _gmacs_match(_summary(name).macs, f"{meta['_ops']:.3f}")


@pytest.mark.parametrize(("name", "heads"), [("googlenet", ("aux1.", "aux2.")), ("inception_v3", ("AuxLogits.",))])
def test_auxiliary_heads(name, heads):
    """torchvision's published table counts GoogLeNet without its auxiliary heads (its weights drop them) and both
    nets' GMACs without them (eval mode skips them): aux_logits: false is that net, aux_logits: true adds the heads."""
    torch = pytest.importorskip("torch")
    torchvision = pytest.importorskip("torchvision")
    meta = torchvision.models.get_model_weights(name).DEFAULT.meta
    without = _summary(name, aux_logits=False)
    assert _gmacs_match(without.macs, f"{meta['_ops']:.3f}")
    with torch.device("meta"):
        reference = torchvision.models.get_model(name, aux_logits=False, init_weights=False)
    assert without.params == sum(p.numel() for p in reference.parameters())
    if name == "googlenet":
        assert without.params == meta["num_params"]
    with_heads = state_dict_shapes(archc.build_graph(name))
    assert {key for key in with_heads if not key.startswith(heads)} == set(state_dict_shapes(archc.build_graph(
        name, aux_logits=False)))


def test_densenet264_state_dict():
    torch = pytest.importorskip("torch")
    densenet = pytest.importorskip("torchvision.models.densenet")
    with torch.device("meta"):
        model = densenet.DenseNet(growth_rate=32, block_config=(6, 12, 64, 48), num_init_features=64)
    assert state_dict_shapes(archc.build_graph("densenet264")) == _reference_shapes(model)
    assert sum(p.numel() for p in model.parameters()) == EXPECTED["densenet264"][0]


@pytest.mark.parametrize("name", sorted(TIMM_NAMES))
def test_timm_state_dict(name):
    torch = pytest.importorskip("torch")
    timm = pytest.importorskip("timm")
    with torch.device("meta"):
        model = timm.create_model(TIMM_NAMES[name], pretrained=False)
    assert state_dict_shapes(archc.build_graph(name)) == _reference_shapes(model)
    assert sum(p.numel() for p in model.parameters()) == EXPECTED[name][0]
