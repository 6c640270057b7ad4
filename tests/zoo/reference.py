"""The shared harness of the zoo's reference tests: a zoo spec against the model it reproduces.

A reference is built locally with random weights (``torchvision.models.get_model(name)``, ``timm.create_model``),
never downloaded. Before outputs are compared every BatchNorm of the reference gets non-trivial, deterministic
affine parameters and running statistics (``randomize_batchnorm``): a fresh BatchNorm in eval mode is nearly the
identity and hides wiring mistakes; every LayerNorm gets random affine parameters too (``randomize_layernorm``),
every all-zero weight matrix random values (``randomize_zero_weights``: a zero-initialised head makes every output
0).
The reference's ``state_dict`` then loads into the archc model with ``strict=True`` and both must compute the same
eval outputs (``TOLERANCE``, relative to the output's magnitude).

Cheap always, per the cost policy of tests/conftest.py: counts and strict loads (on the meta device, no weights
allocated) and outputs at a small resolution (``small_resolution``); full resolution (224, 299 for Inception-v3)
belongs in ``@pytest.mark.slow`` tests. Importable from any test as ``zoo.reference`` (tests/ is on sys.path through
tests/conftest.py), e.g. ``from zoo.reference import check_outputs``.
"""

from __future__ import annotations

import contextlib
import re
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import archc

#: eval outputs agree to this, relative to the output's magnitude (at least 1)
TOLERANCE = 1e-4
#: the resolution of the always-run output checks; nets whose reductions need more say so in SMALL
DEFAULT_SMALL = 64
#: zoo name -> a cheap input side where the default one does not fit the net's reductions, or is ill-conditioned
SMALL: dict[str, int] = {"inception_v3": 75,
                         # at 64 the last stages are 2x2: BatchNorm statistics of a few values make the eval outputs
                         # of a deep random net ill-conditioned (float32 rounding alone ~1e-3 of the scale)
                         **{f"efficientnet_b{i}": 96 for i in range(8)},
                         **{f"efficientnet_v2_{v}": 96 for v in "sml"}}
#: zoo name -> params of the small-resolution check, given to the archc spec and as keyword arguments to the reference
#: (Inception-v3's auxiliary head needs 299x299: its 5x5 conv reads a 5x5 map of Mixed_6e only from there up)
SMALL_PARAMS: dict[str, dict[str, Any]] = {"inception_v3": {"aux_logits": False}}
#: zoo name -> full input side of the reference (slow checks); 224 otherwise
FULL: dict[str, int] = {"inception_v3": 299, **{f"swin_v2_{v}": 256 for v in "tsb"}}


def small_resolution(name: str) -> int:
    return SMALL.get(name, DEFAULT_SMALL)


def small_params(name: str) -> dict[str, Any]:
    return dict(SMALL_PARAMS.get(name, {}))


def full_resolution(name: str) -> int:
    return FULL.get(name, 224)


def reference_size(name: str, resolution: int) -> dict[str, Any]:
    """Keyword arguments that tell the reference its input size, where it fixes one (torchvision's ViTs hold a
    position embedding per patch of ``image_size``)."""
    return {"image_size": resolution} if name.startswith("vit_") else {}


def torchvision_reference(name: str, device: str = "cpu", seed: int = 0, **kwargs: Any) -> Any:
    """``torchvision.models.get_model(name, **kwargs)`` with random weights from torch's generator seeded ``seed``
    (weights=None: nothing is downloaded). GoogLeNet's and Inception-v3's ``init_weights`` warning is silenced."""
    import torch
    import torchvision

    torch.manual_seed(seed)
    with warnings.catch_warnings(), torch.device(device), _regnet_widths_on_the_cpu():
        warnings.simplefilter("ignore", FutureWarning)
        return torchvision.models.get_model(name, weights=None, **kwargs)


@contextlib.contextmanager
def _regnet_widths_on_the_cpu() -> Iterator[None]:
    """torchvision's RegNet derives its widths with torch tensors read back by ``.tolist()``, which a meta tensor
    cannot do: that arithmetic (no weights) runs on the CPU, the model itself on the requested device."""
    import torch
    from torchvision.models.regnet import BlockParams

    derive = BlockParams.from_init_params

    def on_cpu(*args: Any, **kwargs: Any) -> Any:
        with torch.device("cpu"):
            return derive(*args, **kwargs)

    BlockParams.from_init_params = on_cpu
    try:
        yield
    finally:
        BlockParams.from_init_params = derive


def randomize_batchnorm(model: Any, resolution: int, seed: int = 0, batch: int = 4) -> Any:
    """Give every BatchNorm of ``model`` random gamma in [0.5, 1.5], beta in [-0.3, 0.3] and the running statistics
    of one training-mode pass over a seeded random batch (so they are far from 0 / 1 yet keep activations finite in
    1000-layer nets). Deterministic; returns ``model`` in eval mode."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    layers = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    with torch.no_grad():
        for layer in layers:
            layer.weight.copy_(torch.rand(layer.weight.shape, generator=generator) + 0.5)
            layer.bias.copy_(torch.rand(layer.bias.shape, generator=generator) * 0.6 - 0.3)
            layer.reset_running_stats()
            layer.momentum, layer.saved_momentum = None, layer.momentum  # cumulative: running = batch statistics
        if layers:
            torch.manual_seed(seed)  # dropout / stochastic depth of the training-mode pass
            model.train()
            model(torch.randn(batch, 3, resolution, resolution, generator=generator))
        for layer in layers:
            layer.momentum = layer.saved_momentum
            del layer.saved_momentum
    return model.eval()


def randomize_layernorm(model: Any, seed: int = 0) -> Any:
    """Give every LayerNorm of ``model`` (ConvNeXt's, the transformers') random gamma in [0.5, 1.5] and beta in
    [-0.3, 0.3]: fresh ones are all alike, so two of them swapped (a block's norm1 and norm2) compute the same."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in (m for m in model.modules() if isinstance(m, torch.nn.LayerNorm) and m.elementwise_affine):
            layer.weight.copy_(torch.rand(layer.weight.shape, generator=generator) + 0.5)
            if layer.bias is not None:
                layer.bias.copy_(torch.rand(layer.bias.shape, generator=generator) * 0.6 - 0.3)
    return model


def randomize_zero_weights(model: Any, seed: int = 0) -> Any:
    """Give every all-zero weight matrix / kernel of ``model`` random values (normal, std 0.02): a zero-initialised
    head (torchvision's ViT ``heads.head``) makes every output 0, and outputs compared then agree whatever the rest
    of the net computes."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.dim() >= 2 and not parameter.any():
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.02)
    return model


def archc_torch(name: str, resolution: int | None = None, device: str = "cpu", **params: Any) -> Any:
    """The archc torch model of zoo spec ``name`` with uninitialised weights (built on the meta device, then moved):
    the weights come from the reference, so archc's own initialisation (seconds for VGG) is skipped."""
    from archc.backends.torch.build import build_graph_module, make_plan

    if resolution is not None:
        params["resolution"] = resolution
    model = build_graph_module(make_plan(archc.build_graph(name, **params), device="meta"))
    return model if device == "meta" else model.to_empty(device=device)


def check_counts_and_names(name: str, build_reference: Callable[..., Any], **params: Any) -> None:
    """Same parameter count as the reference and archc's summary; the reference's state dict (keys in the same order)
    loads strictly. On the meta device: no weights are allocated, so this is cheap for every model."""
    reference = build_reference(device="meta")
    ours = archc_torch(name, device="meta", **params)
    count = sum(p.numel() for p in reference.parameters())
    assert sum(p.numel() for p in ours.parameters()) == count
    assert archc.summarize(archc.build_graph(name, **params)).params == count
    assert list(ours.state_dict()) == reference_key_order(name, list(reference.state_dict()))
    ours.load_state_dict(reference.state_dict(), strict=True)


#: Swin V2's blocks (torchvision's SwinTransformerBlockV2) register norm1 / norm2 before attn / mlp, as V1 does, but
#: apply them after (res-post-norm); archc's modules come in the order they run
_POST_NORM = re.compile(r"^(features\.\d+\.\d+\.)(norm1|attn|norm2|mlp)\.")
_RUN_ORDER = {"attn": 0, "norm1": 1, "mlp": 2, "norm2": 3}


def reference_key_order(name: str, keys: list[str]) -> list[str]:
    """The reference's state-dict keys in the order archc's model holds them: the reference's own order, except Swin
    V2's post-norms, which follow the attention / MLP they normalise (the keys themselves are the same)."""
    if not name.startswith("swin_v2_"):
        return keys
    first: dict[str, int] = {}  # a block (or a key outside the blocks) -> where it starts
    ranks = []
    for index, key in enumerate(keys):
        found = _POST_NORM.match(key)
        group = found.group(1) if found else key
        ranks.append((first.setdefault(group, index), _RUN_ORDER[found.group(2)] if found else 0, index))
    return [keys[rank[2]] for rank in sorted(ranks)]


def check_outputs(name: str, build_reference: Callable[..., Any], resolution: int, batch: int = 2,
                  **params: Any) -> float:
    """The reference (BatchNorms randomized) and the archc model with its weights compute the same eval outputs on a
    seeded random input at ``resolution``; returns the largest difference. ``params`` go to the archc spec and, as
    keyword arguments, to the reference builder."""
    import torch

    reference = randomize_batchnorm(build_reference(**params, **reference_size(name, resolution)), resolution)
    randomize_layernorm(reference)
    randomize_zero_weights(reference)
    ours = archc_torch(name, resolution, **params)
    ours.load_state_dict(reference.state_dict(), strict=True)
    ours.eval()
    x = torch.randn(batch, 3, resolution, resolution, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected, got = reference(x), ours(x)
    assert got.shape == expected.shape
    assert torch.isfinite(expected).all()
    difference, scale = (got - expected).abs().max().item(), expected.abs().max().item()
    assert difference <= TOLERANCE * max(1.0, scale), f"max |archc - reference| = {difference} (scale {scale})"
    return difference



def emitted_class(graph: archc.Graph) -> Any:
    """The nn.Module class of ``graph``'s ``--emit-source`` file, imported from that file as a user imports it
    (archc's own generated code, never the spec's: a spec never runs code)."""
    import importlib.util
    import tempfile
    from pathlib import Path

    from archc.backends.torch import emit_source
    from archc.backends.torch.build import class_name

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "emitted.py"
        path.write_text(emit_source(graph))
        spec = importlib.util.spec_from_file_location("emitted", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return getattr(module, class_name(graph.name_))


def check_emitted_source(name: str, resolution: int, **params: Any) -> None:
    """The ``--emit-source`` file of a spec computes exactly what the GraphModule computes."""
    import torch

    graph = archc.build_graph(name, resolution=resolution, **params)
    model = archc.load(name, resolution=resolution, seed=0, **params).eval()
    emitted = emitted_class(graph)().eval()
    emitted.load_state_dict(model.state_dict(), strict=True)
    x = torch.randn(2, 3, resolution, resolution)
    with torch.no_grad():
        assert torch.equal(emitted(x), model(x))


def check_initialisation(name: str, build_reference: Callable[..., Any], seed: int = 0, **params: Any) -> None:
    """archc's default initialisation draws every tensor as the reference does: equal where the reference sets a
    constant (zero-init gammas, biases), the same spread (std within 10%) where it draws at random."""
    import torch

    reference = build_reference().state_dict()
    ours = archc.load(name, seed=seed, **params).state_dict()
    for key, expected in reference.items():
        got = ours[key].double()
        expected = expected.double()
        if expected.numel() < 2 or key.endswith(("running_mean", "running_var")):
            continue
        if expected.std() == 0:
            assert torch.equal(got, expected), f"{key}: {got.flatten()[:4]} != constant {expected.flatten()[0]}"
        elif expected.numel() >= 256:  # a std or mean estimate errs by ~std / sqrt(n): a 6-sigma band
            band = 6 / expected.numel() ** 0.5
            ratio = (got.std() / expected.std()).item()
            assert abs(ratio - 1) < band, f"{key}: std {got.std().item():.4g}, reference {expected.std().item():.4g}"
            assert abs(got.mean() - expected.mean()).item() < band * expected.std().item(), f"{key}: mean differs"


# ---- which reference each zoo spec reproduces ------------------------------------------------------------------------
#: zoo name -> timm model name, where the zoo spec is named differently (added to the se_* rule below)
TIMM: dict[str, str] = {"resnet50d": "resnet50d", "ecaresnet50d": "ecaresnet50d"}


def timm_reference(timm_name: str, device: str = "cpu", seed: int = 0, **kwargs: Any) -> Any:
    """``timm.create_model(timm_name, pretrained=False)`` with torch's generator seeded ``seed``."""
    import timm
    import torch

    torch.manual_seed(seed)
    with torch.device(device):
        return timm.create_model(timm_name, pretrained=False, **kwargs)


def counterparts() -> dict[str, Callable[..., Any]]:
    """zoo name -> a builder ``(device="cpu") -> reference model`` (random weights), discovered by name: a spec named
    like a torchvision classifier is that classifier; ``se_<x>`` is timm's ``se<x>``; TIMM lists the others."""
    import functools

    import torchvision

    from archc.zoo import zoo_names

    zoo = set(zoo_names())
    found: dict[str, Callable[..., Any]] = {
        name: functools.partial(torchvision_reference, name)
        for name in sorted(zoo & set(torchvision.models.list_models(module=torchvision.models)))}
    try:
        import timm
    except ImportError:
        return found
    for name in sorted(zoo):
        reference = TIMM.get(name) or ("se" + name[len("se_"):] if name.startswith("se_") else None)
        if reference and timm.is_model(reference):
            found[name] = functools.partial(timm_reference, reference)
    return found
