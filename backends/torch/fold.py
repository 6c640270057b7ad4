"""Inference folding: an eval-only copy of an archc GraphModule that computes the same function with less work.

Passes, each on the GraphModule's FX graph, in order:

1. dropouts and identity modules are dropped (eval mode: they pass their input on);
2. a BatchNorm whose input is a conv / linear read by nothing else is folded into its weights and bias
   (``torch.nn.utils.fusion``), as ``torch.fx.experimental.optimization.fuse`` does;
3. a ReLU after a conv, and a residual ``add`` (+ ReLU) after a conv, become part of the conv module
   (:class:`FusedConv2d`), so the conv's output is written once instead of three times;
4. ``prepack`` (CPU float32): each conv keeps its weight reordered once into oneDNN's blocked layout and calls the
   oneDNN convolution with the fused add / ReLU as post-ops (the kernels ``torch.compile``'s CPU backend uses);
   the default path re-orders the weight on every call, which dominates small late-stage convolutions;
5. with ``prepack``, a residual add whose other input is a conv's output read by nothing later is computed into
   that tensor in place (oneDNN's in-place binary post-op), sparing an output tensor per residual block.

Prepacking is a run-time choice: ``torch.export`` / ONNX of an optimized model (``prepack=False``) see plain
``conv2d`` + ``add`` + ``relu`` calls with folded weights. Module names are kept; the folded BatchNorms are gone.
"""

from __future__ import annotations

import copy
import operator

import torch
import torch.fx as fx
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval, fuse_linear_bn_eval

from archc.backends.torch.memory import RELU_TARGETS

__all__ = ["FusedConv2d", "optimize"]

ADD_FUNCTIONS = (operator.add, torch.add)
ADD_METHODS = ("add", "add_")
PASS_THROUGH = (nn.Dropout, nn.Dropout2d, nn.Identity)


class FusedConv2d(nn.Conv2d):
    """``relu?(conv(x) + other?)`` in one module: the conv's weight and bias already hold any folded BatchNorm."""

    relu: bool = False
    residual: bool = False
    prepack: bool = False
    #: the residual input is dead after this conv: the prepacked kernel writes its output into it (no new tensor)
    accumulate: bool = False

    @classmethod
    def from_conv(cls, conv: nn.Conv2d) -> FusedConv2d:
        fused = copy.copy(conv)  # shares the (folded) parameters; a new module object of this class
        fused.__class__ = cls
        fused._modules, fused._parameters, fused._buffers = dict(conv._modules), dict(conv._parameters), {}
        fused._packed = None
        return fused

    def __getstate__(self) -> dict:
        state = super().__getstate__()
        return {**state, "_packed": None}  # the oneDNN weight is opaque: copies and pickles re-pack on first use

    def extra_repr(self) -> str:
        post = [name for name, on in (("+ residual", self.residual), ("relu", self.relu), ("prepacked",
                                                                                          self.prepack)) if on]
        return super().extra_repr() + (", " + ", ".join(post) if post else "")

    def _use_packed(self, x: torch.Tensor) -> bool:
        return (self.prepack and x.device.type == "cpu" and x.dtype == torch.float32 == self.weight.dtype
                and not (torch.is_grad_enabled() and (x.requires_grad or self.weight.requires_grad)))

    def _output_shape(self, x: torch.Tensor) -> tuple[int, ...]:
        size = [(x.shape[2 + i] + 2 * self.padding[i] - self.dilation[i] * (self.kernel_size[i] - 1) - 1)
                // self.stride[i] + 1 for i in range(2)]
        return (x.shape[0], self.out_channels, *size)

    def forward(self, x: torch.Tensor, other: torch.Tensor | None = None) -> torch.Tensor:
        if self._use_packed(x) and (other is None or tuple(other.shape) == self._output_shape(x)):
            if self._packed is None:
                self._packed = torch.ops.mkldnn._reorder_convolution_weight(
                    self.weight.detach(), list(self.padding), list(self.stride), list(self.dilation), self.groups,
                    list(x.shape))  # oneDNN picks the weight layout for the first input's size
            args = (self._packed, self.bias, list(self.padding), list(self.stride), list(self.dilation), self.groups)
            if other is None:
                return torch.ops.mkldnn._convolution_pointwise(x, *args, "relu" if self.relu else "none", [], "")
            if self.accumulate and other.dtype == x.dtype and other.is_contiguous(memory_format=_format_of(x)):
                return torch.ops.mkldnn._convolution_pointwise_.binary(other, x, *args, "add", None,
                                                                       "relu" if self.relu else None, [], "")
            return torch.ops.mkldnn._convolution_pointwise.binary(x, other, *args, "add", None,
                                                                  "relu" if self.relu else None, [], "")
        y = F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)
        if other is not None:
            y = y + other
        return F.relu(y, inplace=True) if self.relu else y


def _module(gm: fx.GraphModule, node: fx.Node, classes: tuple[type, ...]) -> nn.Module | None:
    if node.op != "call_module":
        return None
    module = gm.get_submodule(node.target)
    return module if isinstance(module, classes) else None


def _set_module(gm: fx.GraphModule, name: str, module: nn.Module) -> None:
    parent, _, leaf = name.rpartition(".")
    setattr(gm.get_submodule(parent) if parent else gm, leaf, module)


def _drop_pass_through(gm: fx.GraphModule) -> None:
    for node in list(gm.graph.nodes):
        if _module(gm, node, PASS_THROUGH) is not None and len(node.args) == 1:
            node.replace_all_uses_with(node.args[0])
            gm.graph.erase_node(node)


def _fold_batch_norms(gm: fx.GraphModule) -> None:
    pairs = ((nn.Conv2d, nn.BatchNorm2d, fuse_conv_bn_eval), (nn.Linear, nn.BatchNorm1d, fuse_linear_bn_eval))
    for node in list(gm.graph.nodes):
        for layer_cls, norm_cls, fuse in pairs:
            norm = _module(gm, node, (norm_cls,))
            source = node.args[0] if norm is not None and len(node.args) == 1 else None
            if not isinstance(source, fx.Node) or len(source.users) != 1 or not norm.track_running_stats:
                continue
            layer = _module(gm, source, (layer_cls,))
            if layer is None or (layer_cls is nn.Conv2d and layer.padding_mode != "zeros"):
                continue
            _set_module(gm, source.target, fuse(layer, norm))
            node.replace_all_uses_with(source)
            gm.graph.erase_node(node)


def _only_reader(node: fx.Node) -> fx.Node | None:
    return next(iter(node.users)) if len(node.users) == 1 else None


def _is_add(node: fx.Node | None) -> bool:
    if node is None or node.kwargs or len(node.args) != 2 or not all(isinstance(a, fx.Node) for a in node.args):
        return False
    return ((node.op == "call_function" and node.target in ADD_FUNCTIONS)
            or (node.op == "call_method" and node.target in ADD_METHODS))


def _is_relu(gm: fx.GraphModule, node: fx.Node | None) -> bool:
    if node is None or len(node.args) != 1:
        return False
    return (node.op == "call_function" and node.target in RELU_TARGETS) or _module(gm, node, (nn.ReLU,)) is not None


def _fuse_convolutions(gm: fx.GraphModule, prepack: bool) -> None:
    """Every conv becomes a FusedConv2d; a following residual add and ReLU move into it where it is their input."""
    graph = gm.graph
    for node in list(graph.nodes):
        conv = _module(gm, node, (nn.Conv2d,))
        if conv is None or isinstance(conv, FusedConv2d) or len(node.args) != 1:
            continue
        fused = FusedConv2d.from_conv(conv)
        fused.prepack = prepack and conv.padding_mode == "zeros"
        _set_module(gm, node.target, fused)
        reader, tail = _only_reader(node), node
        if _is_add(reader) and reader.args.count(node) == 1:
            other = reader.args[1] if reader.args[0] is node else reader.args[0]
            node.args, fused.residual = (node.args[0], other), True
            reader.replace_all_uses_with(node)
            graph.erase_node(reader)
            _move_after(node, other)
            reader = _only_reader(node)
        if _is_relu(gm, reader):
            fused.relu = True
            reader.replace_all_uses_with(tail)
            graph.erase_node(reader)


def _format_of(x: torch.Tensor) -> torch.memory_format:
    is_nhwc = x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
    return torch.channels_last if is_nhwc else torch.contiguous_format


def _accumulate_into_dead_residuals(gm: fx.GraphModule) -> None:
    """A prepacked conv + residual add writes into the residual tensor when nothing reads it afterwards and a conv
    made it (a fresh tensor: no view of another, no input or output of the model), as ResNet's shortcuts are: one
    output allocation and one pass over memory less per block."""
    order = {node: index for index, node in enumerate(gm.graph.nodes)}
    for node in gm.graph.nodes:
        fused = _module(gm, node, (FusedConv2d,))
        if fused is None or not (fused.residual and fused.prepack):
            continue
        source, other = node.args
        made_by_conv = _module(gm, other, (nn.Conv2d,)) is not None
        # conv(x) + x: x is this conv's input too, so it cannot take the output
        fused.accumulate = made_by_conv and other is not source and all(
            order[user] < order[node] for user in other.users if user is not node)


def _move_after(node: fx.Node, other: fx.Node) -> None:
    """Keep the graph topologically ordered once ``node`` reads ``other`` (defined later than the conv, maybe)."""
    position = node
    while position.op != "root" and position is not other:
        position = position.next
    if position is other:
        other.append(node)


def optimize(model: nn.Module, prepack: bool | None = None) -> fx.GraphModule:
    """An eval-only copy of an archc GraphModule with BatchNorm folded and activations fused (module docstring).

    ``prepack`` (default: True where the CPU has oneDNN) keeps oneDNN-layout conv weights for float32 CPU
    inference; pass False for a model to export. The copy's parameters do not require grad; ``model`` is unchanged.
    """
    if not isinstance(model, fx.GraphModule):
        raise TypeError("optimize takes the torch.fx.GraphModule archc.load built")
    if prepack is None:
        prepack = torch.backends.mkldnn.is_available()
    gm = copy.deepcopy(model).eval().requires_grad_(False)
    _drop_pass_through(gm)
    _fold_batch_norms(gm)
    _fuse_convolutions(gm, prepack)
    _accumulate_into_dead_residuals(gm)
    gm.graph.eliminate_dead_code()
    gm.delete_all_unused_submodules()
    gm.graph.lint()
    gm.recompile()
    return gm
