"""Initial weights as the spec asks: each op declares its tensors' initial values (``TensorDecl.init`` in
archc/ops/*.py: ``attrs.init`` / ``attrs.bias_init`` for conv and linear, ``gamma_init`` / ``beta_init`` for norms).

Every scheme is written twice, side by side: as the call that fills a tensor (with an optional local generator, so a
seed never touches torch's global random state) and as the source line ``emit_source`` writes. Modules are created
without their constructor's initialisation (``uninitialised``), so each weight is drawn exactly once.
"""

from __future__ import annotations

import functools
import keyword
import math
from typing import Any

import torch
from torch import nn

from archc.ops.initializers import Constant, Normal, TruncNormal, Uniform
from archc.ops.registry import ROLES


def uninitialised(cls: type[nn.Module], *args: Any, device: str | torch.device = "cpu", **kwargs: Any) -> nn.Module:
    """``cls(*args, **kwargs)`` on ``device`` with its parameters allocated but not initialised.

    The spec's initialisation overwrites whatever the constructor draws, so the draw is skipped: the module is built as
    a subclass whose ``reset_parameters`` does nothing, then given back its own class (same attributes, same layout).
    ``torch.nn.utils.skip_init`` does the same through the meta device, where the constructor's draw still runs, in
    slow Python reference kernels: several times slower for a few hundred layers.
    """
    module = _without_reset(cls)(*args, device=device, **kwargs)
    module.__class__ = cls
    return module


@functools.cache
def _without_reset(cls: type[nn.Module]) -> type[nn.Module]:
    return type(f"Uninitialised{cls.__name__}", (cls,), {"reset_parameters": lambda self: None})


#: scheme -> source of the statement that applies it to ``{}`` (a weight), as emitted into standalone files.
WEIGHT_INIT_SOURCE = {
    "kaiming_normal": "nn.init.kaiming_normal_({})",  # fan_in, gain sqrt(2): torchvision DenseNet
    "kaiming_normal_fan_out": 'nn.init.kaiming_normal_({}, mode="fan_out", nonlinearity="relu")',  # torchvision ResNet
    "kaiming_uniform": 'nn.init.kaiming_uniform_({}, nonlinearity="relu")',
    "xavier_uniform": "nn.init.xavier_uniform_({})",
    "xavier_normal": "nn.init.xavier_normal_({})",
    "zeros": "nn.init.zeros_({})",
}


def _with_arguments(weight: torch.Tensor, init: Any, generator: torch.Generator | None) -> None:
    """An initialiser with arguments (archc.ops.initializers): torch's nn.init function of the same name."""
    if isinstance(init, Normal):
        nn.init.normal_(weight, init.mean, init.std, generator=generator)
    elif isinstance(init, Uniform):
        nn.init.uniform_(weight, init.a, init.b, generator=generator)
    elif isinstance(init, TruncNormal):
        nn.init.trunc_normal_(weight, init.mean, init.std, init.a, init.b, generator=generator)
    else:
        nn.init.constant_(weight, init.value)


def init_source(init: Any) -> str:
    """The source statement that applies ``init`` (a scheme name or one with arguments) to ``{}``."""
    if isinstance(init, Normal):
        return f"nn.init.normal_({{}}, mean={init.mean!r}, std={init.std!r})"
    if isinstance(init, Uniform):
        return f"nn.init.uniform_({{}}, a={init.a!r}, b={init.b!r})"
    if isinstance(init, TruncNormal):
        return f"nn.init.trunc_normal_({{}}, mean={init.mean!r}, std={init.std!r}, a={init.a!r}, b={init.b!r})"
    if isinstance(init, Constant):
        return f"nn.init.constant_({{}}, {init.value!r})"
    return WEIGHT_INIT_SOURCE[str(init)]


def init_weight(weight: torch.Tensor, scheme: Any, generator: torch.Generator | None) -> None:
    """Fill a conv / linear weight with ``scheme`` (see archc.ops.conv.WeightInit)."""
    if weight.is_meta:  # no values to fill; random ops on meta tensors run slow Python reference kernels
        return
    with torch.no_grad():
        if not isinstance(scheme, str):
            _with_arguments(weight, scheme, generator)
        elif scheme == "torch_default":  # what nn.Conv2d / nn.Linear.reset_parameters draw
            nn.init.kaiming_uniform_(weight, a=math.sqrt(5), generator=generator)
        elif scheme == "kaiming_normal":
            nn.init.kaiming_normal_(weight, generator=generator)
        elif scheme == "kaiming_normal_fan_out":
            nn.init.kaiming_normal_(weight, mode="fan_out", nonlinearity="relu", generator=generator)
        elif scheme == "kaiming_uniform":
            nn.init.kaiming_uniform_(weight, nonlinearity="relu", generator=generator)
        elif scheme == "xavier_uniform":
            nn.init.xavier_uniform_(weight, generator=generator)
        elif scheme == "xavier_normal":
            nn.init.xavier_normal_(weight, generator=generator)
        elif scheme == "zeros":
            nn.init.zeros_(weight)
        else:
            raise ValueError(f"unknown weight init '{scheme}'; known: torch_default, {', '.join(WEIGHT_INIT_SOURCE)}")


def init_bias(bias: torch.Tensor, scheme: Any, weight: torch.Tensor, generator: torch.Generator | None) -> None:
    """Fill a bias: ``torch_default`` (uniform ±1/sqrt(fan_in), as torch's layers), ``zeros``, a constant or an
    initialiser with arguments (torchvision's ViT MLP: normal(std=1e-6))."""
    if bias.is_meta:
        return
    with torch.no_grad():
        if not isinstance(scheme, (str, int, float)):
            _with_arguments(bias, scheme, generator)
        elif scheme == "torch_default":
            fan_in = weight[0].numel()
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
            nn.init.uniform_(bias, -bound, bound, generator=generator)
        elif scheme == "zeros":
            nn.init.zeros_(bias)
        else:
            nn.init.constant_(bias, float(scheme))


def initialise(module: nn.Module, node: Any) -> None:
    """Give ``module`` (built for ``node``, a LoweringNode) the initial values the node's op declares.

    Drawn tensors (conv kernel, linear weight, bias) are drawn in declaration order, weight before bias, as torch's own
    ``reset_parameters``; constants are written where they differ from what the layer's constructor left.
    """
    weight: torch.Tensor | None = None
    for tensor in node.attrs.declared_tensors(list(node.input_shapes)):
        value = tensor.decl.initial(node.attrs)
        if value is None:
            continue
        target = functools.reduce(getattr, tensor.name.split("."), module)  # "qkv.weight": a child's tensor
        if tensor.decl.role == "bias":
            assert weight is not None, "a bias follows the weight whose fan-in it reads"
            init_bias(target, value, weight, node.generator)
        elif ROLES[tensor.decl.role].drawn:
            init_weight(target, value, node.generator)
            weight = target
        elif drawn(value):  # a bare parameter the spec draws (a ViT's position embedding: normal(std=0.02))
            init_weight(target, value, node.generator)
        elif constant(value) != tensor.decl.constructor_init and not target.is_meta:
            with torch.no_grad():
                target.fill_(constant(value))


def drawn(value: Any) -> bool:
    """A scheme drawn at random (not zeros, not a constant): how a bare parameter's spec ``init`` is told apart."""
    return isinstance(value, (Normal, Uniform, TruncNormal)) or (isinstance(value, str) and value != "zeros")


def constant(value: Any) -> float:
    if isinstance(value, Constant):
        return float(value.value)
    return 0.0 if value == "zeros" else float(value)


def _child(target: str, path: str) -> str:
    """``target.qkv.weight``; a part that is no identifier (an ``nn.Sequential`` index: ``cpb_mlp.0.weight``) read
    with ``getattr``, which finds any child module by its name."""
    for part in path.split("."):
        target = f"{target}.{part}" if part.isidentifier() and not keyword.iskeyword(part) else \
            f"getattr({target}, {part!r})"
    return target


def init_statements(target: str, attrs: Any) -> list[str]:
    """Source lines that give the module ``target`` (e.g. ``self.conv1``) the initialisation of ``attrs``.

    Read from the op's declared tensors; empty where the torch constructor already does it (torch_default, a norm's
    weight 1 and bias 0).
    """
    lines = []
    for decl in type(attrs).tensors:
        value = decl.initial(attrs) if decl.exists(attrs) else None
        if value is None or value == "torch_default":
            continue
        tensor = _child(target, decl.name)
        if (ROLES[decl.role].drawn and decl.role != "bias") or drawn(value):
            lines.append(init_source(value).format(tensor))
        elif value == "zeros" and decl.constructor_init != 0.0:
            lines.append(f"nn.init.zeros_({tensor})")
        elif constant(value) != decl.constructor_init:
            lines.append(f"nn.init.constant_({tensor}, {constant(value)!r})")
    return lines
