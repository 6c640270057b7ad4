"""Element-wise activations as plain function calls (no parameters, no state); gelu as nn.GELU, because
F.gelu is a C builtin that ``model.code`` would print as ``torch._C._nn.gelu``."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from archc.backends.torch.registry import Call, LoweringNode, Module, register_lowering


def _maybe_inplace(node: LoweringNode, **kwargs: object) -> dict[str, object]:
    # in place where the builder proved it safe (as torchvision's ReLU(inplace=True)): one allocation less per call
    return {**kwargs, "inplace": True} if node.can_overwrite_input else kwargs


@register_lowering("relu")
def lower_relu(node: LoweringNode) -> Call:
    """F.relu, in place where safe."""
    return Call(F.relu, kwargs=_maybe_inplace(node))


@register_lowering("relu6")
def lower_relu6(node: LoweringNode) -> Call:
    """F.relu6, in place where safe."""
    return Call(F.relu6, kwargs=_maybe_inplace(node))


@register_lowering("leaky_relu")
def lower_leaky_relu(node: LoweringNode) -> Call:
    """F.leaky_relu, in place where safe."""
    return Call(F.leaky_relu, kwargs=_maybe_inplace(node, negative_slope=node.attrs.negative_slope))


@register_lowering("silu")
def lower_silu(node: LoweringNode) -> Call:
    """F.silu, in place where safe."""
    return Call(F.silu, kwargs=_maybe_inplace(node))


@register_lowering("gelu")
def lower_gelu(node: LoweringNode) -> Module:
    """nn.GELU (exact or tanh approximation)."""
    return Module(nn.GELU, kwargs={"approximate": node.attrs.approximate})


@register_lowering("sigmoid")
def lower_sigmoid(node: LoweringNode) -> Call:
    """torch.sigmoid (never in place: autograd keeps its output)."""
    return Call(torch.sigmoid)


@register_lowering("tanh")
def lower_tanh(node: LoweringNode) -> Call:
    """torch.tanh (never in place: autograd keeps its output)."""
    return Call(torch.tanh)


@register_lowering("softmax")
def lower_softmax(node: LoweringNode) -> Call:
    """torch.softmax over the channel / feature axis."""
    return Call(torch.softmax, kwargs={"dim": 1})  # the channel / feature axis of NCHW / NF


@register_lowering("hardswish")
def lower_hardswish(node: LoweringNode) -> Call:
    """F.hardswish, in place where safe."""
    return Call(F.hardswish, kwargs=_maybe_inplace(node))


@register_lowering("hardsigmoid")
def lower_hardsigmoid(node: LoweringNode) -> Call:
    """F.hardsigmoid, in place where safe."""
    return Call(F.hardsigmoid, kwargs=_maybe_inplace(node))
