"""Memory-efficient training: BatchNorm -> ReLU -> conv chains that keep only the BatchNorm's input for backward.

A pre-activation chain ``conv(relu(bn(cat(f0 ... fk))))`` (every dense layer and transition of a DenseNet, the
``bn -> relu -> conv`` inside ResNet bottlenecks) normally keeps three tensors for the backward pass: the concat
(BatchNorm saves its input), the ReLU output (the conv saves its input) and the features themselves. Here one
autograd Function computes the whole chain and saves only the features ``f0 ... fk`` (which earlier chains already
keep) and two per-channel statistics; in backward it recomputes the concat, the normalisation and the ReLU — cheap
element-wise work — instead of storing them (Pleiss et al. 2017, "Memory-Efficient Implementation of DenseNets").
Unlike ``torch.utils.checkpoint`` (torchvision's ``memory_efficient=True``) it never recomputes the convolution.

Each feature's batch statistics are computed once (``feature_statistics``) and shared by every chain that reads the
feature in a concat, instead of reducing the whole concat again in each dense layer; the normalisation, in forward
and recomputed, is torch's BatchNorm kernel itself (in eval mode, given those statistics). So on the CPU the ReLU
mask, the gradients and the running averages are those of the default model, bit for bit.

The pass rewrites the GraphModule's graph only: modules, names and the state_dict are unchanged, and in eval mode
(or without grad) the chain runs the modules themselves.
"""

from __future__ import annotations

import math
import struct
import threading

import torch
import torch.fx as fx
import torch.nn.functional as F
from torch import nn

__all__ = ["bn_relu_conv", "feature_statistics", "memory_efficient", "release_workspace"]

RELU_TARGETS = (F.relu, torch.relu, torch.relu_)


def _momentum(bn: nn.BatchNorm2d) -> float:
    # the exponential average factor nn.BatchNorm2d.forward uses (momentum None: a cumulative moving average)
    bn.num_batches_tracked.add_(1)
    return 1.0 / float(bn.num_batches_tracked) if bn.momentum is None else bn.momentum


class _Workspace(threading.local):
    """Three reusable buffers per thread, device and dtype for the chain's temporaries (the concat, the activation,
    the throwaway output of a feature's statistics): they live only within one forward or one backward call, so
    reusing them spares an allocation (and, on the CPU, fresh pages to fault in) per chain and pass."""

    def __init__(self) -> None:
        self.buffers: dict[tuple, list[torch.Tensor]] = {}
        self.views: dict[tuple, torch.Tensor] = {}

    def get(self, slot: int, like: torch.Tensor, channels: int) -> torch.Tensor:
        channels_last = not like.is_contiguous() and like.is_contiguous(memory_format=torch.channels_last)
        key = (slot, like.device, like.dtype, like.shape[0], channels, like.shape[2:], channels_last)
        view = self.views.get(key)  # a view per shape, made once: chains ask for one several hundred times a step
        return view if view is not None else self._view(key)

    def _view(self, key: tuple) -> torch.Tensor:
        slot, device, dtype, batch, channels, spatial, channels_last = key
        slots = self.buffers.get((device, dtype))
        if slots is None:
            slots = self.buffers[device, dtype] = [torch.empty(0, device=device, dtype=dtype)] * 3
        count = batch * channels * math.prod(spatial)
        if slots[slot].numel() < count:
            slots[slot] = torch.empty(count, device=device, dtype=dtype)
            self.views = {old: view for old, view in self.views.items() if old[:3] != key[:3]}  # of the old buffer
        if channels_last:
            view = slots[slot][:count].view(batch, *spatial, channels).permute(0, 3, 1, 2)
        else:
            view = slots[slot][:count].view(batch, channels, *spatial)
        self.views[key] = view
        return view

    def constants(self, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(an empty tensor, ones like ``like``): the eval-mode kernel's unused outputs and unit variance."""
        key = (like.device, like.dtype, like.shape[0])
        pair = self.buffers.get(key)
        if pair is None:
            pair = self.buffers[key] = [like.new_empty(0), torch.ones_like(like)]
        return pair[0], pair[1]


_WORKSPACE = _Workspace()


def release_workspace() -> None:
    """Free this thread's reusable buffers (they are allocated again, at the size needed, on the next step)."""
    _WORKSPACE.buffers.clear()
    _WORKSPACE.views.clear()


def _concat(features: tuple[torch.Tensor, ...], slot: int) -> torch.Tensor:
    if len(features) == 1:
        return features[0]
    return torch.cat(features, 1, out=_WORKSPACE.get(slot, features[0], sum(f.shape[1] for f in features)))


def _normalize(x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor, mean: torch.Tensor,
               invstd: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    """BatchNorm's output from its batch statistics, by torch's own BatchNorm kernel in eval mode.

    In training the kernel normalises with per channel ``alpha = invstd * gamma`` and ``shift = beta - mean * alpha``.
    Called in eval mode with weight ``alpha``, running variance 1 and eps 0 it forms ``alpha * 1 / sqrt(1 + 0)`` and
    ``beta - mean * alpha``: the same terms, exactly, in the same vectorised kernel, so the recomputed activation is
    bit for bit the forward's (tests/backends/torch/test_torch_passes.py) and the ReLU mask is the same. It is also
    about twice as fast on the CPU as a broadcasting ``addcmul``.
    """
    alpha = invstd * (gamma if gamma.dtype == invstd.dtype else gamma.to(invstd.dtype))
    empty, ones = _WORKSPACE.constants(invstd)
    if out is None:
        out = torch.empty_like(x)
    torch.ops.aten.native_batch_norm.out(x, alpha, beta if beta.dtype == invstd.dtype else beta.to(invstd.dtype),
                                         mean, ones, False, 0.0, 0.0, out=out, save_mean=empty, save_invstd=empty)
    return out


class FeatureStatistics:
    """One feature's per channel batch mean, inverse deviation and unbiased variance, computed once, on first use.

    BatchNorm's statistics are per channel, so those of a concat are its pieces' (torch's kernel reduces each channel
    alone: bit for bit the same numbers). Every dense layer of a block normalises the concat of all earlier features;
    computing each feature's statistics once, for all the layers that read it, spares each layer the two reduction
    passes over its whole input that make up most of BatchNorm's forward time on the CPU.
    """

    __slots__ = ("feature", "eps", "_values")

    def __init__(self, feature: torch.Tensor, eps: float) -> None:
        self.feature, self.eps, self._values = feature, eps, None

    def values(self) -> torch.Tensor:
        """A (4, channels) tensor: mean, inverse deviation, (the mean again), unbiased variance."""
        if self._values is None:
            feature = self.feature.detach()
            stats = feature.new_zeros(4, feature.shape[1], dtype=_stats_dtype(feature))
            # momentum 1 with zero running buffers: the kernel writes the batch's unbiased variance into row 3
            torch.ops.aten.native_batch_norm.out(
                feature, None, None, stats[2], stats[3], True, 1.0, self.eps,
                out=_WORKSPACE.get(2, feature, feature.shape[1]), save_mean=stats[0], save_invstd=stats[1])
            self._values, self.feature = stats, None
        return self._values


def feature_statistics(feature: torch.Tensor, eps: float) -> FeatureStatistics:
    """The statistics of ``feature`` that the chains reading it share (computed only if a chain trains)."""
    return FeatureStatistics(feature, eps)


def _stats_dtype(x: torch.Tensor) -> torch.dtype:
    return torch.float32 if x.dtype in (torch.float16, torch.bfloat16) else x.dtype


def _update_running(bn: nn.BatchNorm2d, momentum: float, mean: torch.Tensor, variance: torch.Tensor) -> None:
    """BatchNorm's running averages from the batch statistics with the CPU kernel's arithmetic (float momentum; the
    mean's terms in float, the variance's sum in double), so they come out bit for bit the default model's."""
    factor = struct.unpack("f", struct.pack("f", momentum))[0]  # the kernel's float momentum
    bn.running_mean.mul_(1 - factor).add_(mean * factor)
    bn.running_var.copy_(torch.add((bn.running_var * (1 - factor)).double(), variance.double(), alpha=factor))


def _batch_norm(bn: nn.BatchNorm2d, momentum: float, gamma: torch.Tensor, beta: torch.Tensor, x: torch.Tensor,
                statistics: tuple[FeatureStatistics, ...] | None) -> tuple[torch.Tensor, ...]:
    """BatchNorm in training mode into the workspace: (output, mean, invstd), running averages updated."""
    out = _WORKSPACE.get(1, x, x.shape[1])
    if statistics is None:  # a single tensor read by this chain alone: the kernel reduces and normalises at once
        stats = x.new_empty(2, x.shape[1], dtype=_stats_dtype(x))
        return torch.ops.aten.native_batch_norm.out(x, gamma, beta, bn.running_mean, bn.running_var, True, momentum,
                                                    bn.eps, out=out, save_mean=stats[0], save_invstd=stats[1])
    values = [part.values() for part in statistics]
    stats = values[0] if len(values) == 1 else torch.cat(values, 1)
    _update_running(bn, momentum, stats[0], stats[3])
    return _normalize(x, gamma, beta, stats[0], stats[1], out), stats[0], stats[1]


class _BnReluConv(torch.autograd.Function):
    """conv(relu(bn(cat(features)))) in training mode, saving the features and BatchNorm's batch statistics."""

    @staticmethod
    def forward(ctx, bn: nn.BatchNorm2d, conv: nn.Conv2d, momentum: float,
                statistics: tuple[FeatureStatistics, ...] | None, gamma: torch.Tensor, beta: torch.Tensor,
                weight: torch.Tensor, bias: torch.Tensor | None, *features: torch.Tensor) -> torch.Tensor:
        x = _concat(features, 0)
        normed, mean, invstd = _batch_norm(bn, momentum, gamma, beta, x, statistics)
        del x
        out = F.conv2d(normed.relu_(), weight, bias, conv.stride, conv.padding, conv.dilation, conv.groups)
        ctx.save_for_backward(gamma, beta, weight, mean, invstd, *features)
        ctx.config = (bn.eps, conv.stride, conv.padding, conv.dilation, conv.groups, bias is not None)
        ctx.conv_dtype = out.dtype  # autocast may have run the conv in bf16 / fp16
        return out

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        gamma, beta, weight, mean, invstd, *features = ctx.saved_tensors
        eps, stride, padding, dilation, groups, has_bias = ctx.config
        x = _concat(features, 0)
        activated = _normalize(x, gamma, beta, mean, invstd, _WORKSPACE.get(1, x, x.shape[1])).relu_()
        dtype = ctx.conv_dtype
        cast = (lambda t: t) if dtype == activated.dtype == weight.dtype else (lambda t: t.to(dtype))
        grad_act, grad_weight, grad_bias = torch.ops.aten.convolution_backward(
            cast(grad_out), cast(activated), cast(weight), [weight.shape[0]] if has_bias else None,
            stride, padding, dilation, False, [0, 0], groups, [True, ctx.needs_input_grad[6], has_bias])
        if grad_act.dtype != activated.dtype:
            grad_act = grad_act.to(activated.dtype)
        grad_normed = torch.ops.aten.threshold_backward.grad_input(grad_act, activated, 0, grad_input=grad_act)
        del activated, grad_act
        grad_x, grad_gamma, grad_beta = torch.ops.aten.native_batch_norm_backward(
            grad_normed, x, gamma, None, None, mean, invstd, True, eps,
            [any(ctx.needs_input_grad[8:]), ctx.needs_input_grad[4], ctx.needs_input_grad[5]])
        grads = (None,) * len(features) if grad_x is None else grad_x.split([f.shape[1] for f in features], 1)
        if grad_weight is not None and grad_weight.dtype != weight.dtype:
            grad_weight = grad_weight.to(weight.dtype)
        if grad_bias is not None and grad_bias.dtype != weight.dtype:
            grad_bias = grad_bias.to(weight.dtype)
        return None, None, None, None, grad_gamma, grad_beta, grad_weight, grad_bias, *grads


def bn_relu_conv(bn: nn.BatchNorm2d, conv: nn.Conv2d, *features: torch.Tensor,
                 statistics: tuple[FeatureStatistics, ...] | None = None) -> torch.Tensor:
    """``conv(relu(bn(torch.cat(features, 1))))``; in training mode with grad, without keeping the intermediates.

    ``statistics``: each feature's shared batch statistics (``feature_statistics``), or None to reduce here.
    """
    if not (bn.training and torch.is_grad_enabled()):
        x = features[0] if len(features) == 1 else torch.cat(features, 1)
        return conv(F.relu(bn(x), inplace=True))
    return _BnReluConv.apply(bn, conv, _momentum(bn), statistics, bn.weight, bn.bias, conv.weight, conv.bias,
                             *features)


def _only_reader(node: fx.Node) -> fx.Node | None:
    users = list(node.users)
    return users[0] if len(users) == 1 else None


def _module(gm: fx.GraphModule, node: fx.Node | None, cls: type) -> nn.Module | None:
    if node is None or node.op != "call_module":
        return None
    module = gm.get_submodule(node.target)
    return module if type(module) is cls else None


def _is_relu(gm: fx.GraphModule, node: fx.Node | None) -> bool:
    if node is None or len(node.args) != 1:
        return False
    return (node.op == "call_function" and node.target in RELU_TARGETS) or _module(gm, node, nn.ReLU) is not None


def _fusable(bn: nn.BatchNorm2d, conv: nn.Conv2d) -> bool:
    return (bn.affine and bn.track_running_stats and conv.padding_mode == "zeros"
            and not isinstance(conv.padding, str))


def _cat_inputs(node: fx.Node) -> list[fx.Node] | None:
    """The tensors a ``torch.cat([...], 1)`` node reads, or None for any other node."""
    if node.op != "call_function" or node.target is not torch.cat:
        return None
    dim = node.kwargs.get("dim", node.args[1] if len(node.args) > 1 else 0)
    tensors = node.args[0]
    return list(tensors) if dim == 1 and isinstance(tensors, (list, tuple)) else None


def _statistics_node(graph: fx.Graph, known: dict[tuple[fx.Node, float], fx.Node], feature: fx.Node,
                     eps: float) -> fx.Node:
    """The ``feature_statistics`` node of ``feature`` (made before the first chain that reads it: graph order)."""
    key = (feature, eps)
    if key not in known:
        known[key] = graph.call_function(feature_statistics, (feature, eps))
    return known[key]


def _chains(gm: fx.GraphModule) -> list[tuple[fx.Node, fx.Node, fx.Node, list[fx.Node], bool]]:
    """Every ``[cat ->] bn -> relu -> conv`` chain: (bn, relu, conv nodes, the tensors read, whether a cat is read)."""
    chains = []
    for bn_node in gm.graph.nodes:
        bn = _module(gm, bn_node, nn.BatchNorm2d)
        relu_node = _only_reader(bn_node) if bn is not None else None
        if not _is_relu(gm, relu_node):
            continue
        conv_node = _only_reader(relu_node)
        conv = _module(gm, conv_node, nn.Conv2d)
        if conv is None or not _fusable(bn, conv) or len(conv_node.args) != 1:
            continue
        source = bn_node.args[0]
        absorbed = _cat_inputs(source) if len(source.users) == 1 else None
        chains.append((bn_node, relu_node, conv_node, absorbed or [source], absorbed is not None))
    return chains


def memory_efficient(gm: fx.GraphModule) -> fx.GraphModule:
    """Rewrite every ``[cat ->] bn -> relu -> conv`` chain of ``gm`` (in place) into one ``bn_relu_conv`` call.

    The BatchNorm's and ReLU's outputs must have no other reader; a concat read only by the BatchNorm is absorbed.
    A tensor that some absorbed concat reads gets one ``feature_statistics`` node, which every chain reading it
    shares (a dense block's first layer reads its input alone, the later ones in a concat). Returns ``gm``; its
    state_dict, module names and outputs are unchanged.
    """
    graph = gm.graph
    chains = _chains(gm)
    concatenated = {feature for *_, features, absorbed in chains if absorbed for feature in features}
    shared_statistics: dict[tuple[fx.Node, float], fx.Node] = {}
    fused_of: dict[fx.Node, fx.Node] = {}  # a rewritten chain's conv node -> its bn_relu_conv node
    for bn_node, relu_node, conv_node, read, absorbed in chains:
        eps = gm.get_submodule(bn_node.target).eps
        features = [fused_of.get(feature, feature) for feature in read]
        with graph.inserting_before(conv_node):
            bn_ref = graph.get_attr(bn_node.target)
            conv_ref = graph.get_attr(conv_node.target)
            shared = None
            if all(feature in concatenated for feature in read):
                shared = tuple(_statistics_node(graph, shared_statistics, feature, eps) for feature in features)
            fused = graph.call_function(bn_relu_conv, (bn_ref, conv_ref, *features),
                                        {} if shared is None else {"statistics": shared})
        source = bn_node.args[0]
        conv_node.replace_all_uses_with(fused)
        fused_of[conv_node] = fused
        for dead in (conv_node, relu_node, bn_node, *([source] if absorbed else [])):
            graph.erase_node(dead)
    graph.lint()
    gm.recompile()
    return gm
