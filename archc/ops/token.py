"""Token ops of vision transformers: ``[C, H, W]`` -> ``[N, D]`` tokens, a learned class token and position
embedding, multi-head self-attention, and taking one token. A token shape ``[N, D]`` is rank 2: ``N`` tokens of
``D`` features (``linear``, ``layernorm``, ``gelu``, ``dropout`` and ``add`` act on the last axis of it)."""

from __future__ import annotations

from pydantic import Field

from archc.ops.conv import WeightInit
from archc.ops.registry import (
    Example,
    NonNegativeCount,
    Number,
    OpSpec,
    PositiveCount,
    Shape,
    ShapeError,
    TensorDecl,
    expect_rank,
    register_op,
)


@register_op("to_tokens")
class ToTokens(OpSpec):
    """``[C, H, W]`` -> ``[H * W, C]``: one token per position, row by row (torchvision's ViT: ``x.reshape(n, C,
    H * W).permute(0, 2, 1)`` after its patch-embedding conv)."""

    summary = "image to tokens: [C, H, W] -> [H * W, C], one token per position"
    examples = (Example((4, 3, 2)),)
    traits = {"keeps dtype", "keeps sign"}

    def infer_shape(self, inputs: list[Shape]) -> Shape:
        expect_rank(inputs[0], (3,), "to_tokens")
        channels, height, width = inputs[0]
        return (height * width, channels)


def _token_axis(what: str, shape: Shape) -> None:
    expect_rank(shape, (2,), what)


@register_op("class_token")
class ClassToken(OpSpec):
    """Prepend a learned token: ``[N, D]`` -> ``[N + 1, D]``. The node is the parameter (shape ``[1, 1, D]``, a
    bare parameter as torchvision's ``VisionTransformer.class_token``): name the node ``class_token``. In Keras an
    ``Embedding`` of one row, named as the node."""

    summary = "prepend a learned class token: [N, D] -> [N + 1, D] (the node is the [1, 1, D] parameter)"
    examples = (Example((3, 4)),)
    traits = {"weighted", "fresh output"}
    tensors = (TensorDecl("", "token embedding", lambda attrs, inputs: (1, 1, inputs[0][-1]),
                          keras="Embedding.embeddings", init=lambda attrs: attrs.init),)
    init: WeightInit = "zeros"  # torchvision: zeros

    def infer_shape(self, inputs: list[Shape]) -> Shape:
        _token_axis("class_token", inputs[0])
        return (inputs[0][0] + 1, inputs[0][1])


@register_op("pos_embedding")
class PosEmbedding(OpSpec):
    """Add a learned position embedding, one vector per token: the node is the ``[1, N, D]`` parameter
    (torchvision's ``encoder.pos_embedding``). Zero at the start unless ``init`` says (torchvision's ViT:
    ``init: {normal: {std: 0.02}}``). In Keras an ``Embedding`` of ``N`` rows, named as the node."""

    summary = "add a learned position embedding (the node is the [1, N, D] parameter)"
    examples = (Example((3, 4)),)
    traits = {"weighted", "elementwise", "fresh output", "promotes dtype"}
    tensors = (TensorDecl("", "token embedding", lambda attrs, inputs: (1, *inputs[0]), keras="Embedding.embeddings",
                          init=lambda attrs: attrs.init),)
    init: WeightInit = "zeros"

    def infer_shape(self, inputs: list[Shape]) -> Shape:
        _token_axis("pos_embedding", inputs[0])
        return inputs[0]


@register_op("token")
class Token(OpSpec):
    """Take one token: ``[N, D]`` -> ``[D]`` (``x[:, index]``; a ViT classifies its class token, index 0)."""

    summary = "take one token: [N, D] -> [D]"
    examples = (Example((3, 4), {"index": 1}),)
    traits = {"keeps dtype", "keeps sign"}
    index: NonNegativeCount = 0

    def infer_shape(self, inputs: list[Shape]) -> Shape:
        _token_axis("token", inputs[0])
        if self.index >= inputs[0][0]:
            raise ShapeError(f"token index {self.index} is out of range for {inputs[0][0]} tokens")
        return (inputs[0][1],)


def _features(attrs, inputs: list[Shape]) -> int:
    return inputs[0][-1]


ROLE, BIAS = "attention projection", "attention bias"


@register_op("attention")
class Attention(OpSpec):
    """Multi-head self-attention over ``[N, D]`` tokens, as ``torch.nn.MultiheadAttention(D, heads,
    batch_first=True)`` called on (x, x, x) without weights: its tensors are ``in_proj_weight`` ``[3D, D]`` (query,
    key, value stacked), ``in_proj_bias``, ``out_proj.weight``, ``out_proj.bias``. In Keras the node is an
    ``EinsumDense`` holding the stacked projection (kernel ``[D, 3D]``) and ``<node>.out_proj`` a ``Dense``."""

    summary = "multi-head self-attention over [N, D] tokens (torch.nn.MultiheadAttention's tensors)"
    examples = (Example((3, 4), {"heads": 2}),)
    traits = {"weighted", "fresh output"}
    # torch's MultiheadAttention._reset_parameters: in_proj xavier_uniform, biases zero, out_proj a Linear's draw;
    # declared, so that a seed draws them (the constructor draws from torch's global generator)
    tensors = (TensorDecl("in_proj_weight", ROLE, lambda a, x: (3 * _features(a, x), _features(a, x)),
                          keras="EinsumDense.kernel", init=lambda a: "xavier_uniform"),
               TensorDecl("in_proj_bias", BIAS, lambda a, x: (3 * _features(a, x),), keras="EinsumDense.bias",
                          init=lambda a: "zeros"),
               TensorDecl("out_proj.weight", ROLE, lambda a, x: (_features(a, x), _features(a, x)),
                          keras="Dense.kernel", init=lambda a: "torch_default"),
               TensorDecl("out_proj.bias", BIAS, lambda a, x: (_features(a, x),), keras="Dense.bias",
                          init=lambda a: "zeros"))
    heads: PositiveCount
    dropout: Number = Field(0.0, ge=0, lt=1)

    def infer_shape(self, inputs: list[Shape]) -> Shape:
        _token_axis("attention", inputs[0])
        if inputs[0][1] % self.heads:
            raise ShapeError(f"attention with heads={self.heads} needs features divisible by {self.heads}, "
                             f"got {inputs[0][1]}", hint="choose heads among the divisors of the token width")
        return inputs[0]

    def count_macs(self, inputs: list[Shape], output: Shape) -> int:
        tokens, features = inputs[0]
        # q, k, v and output projections, then scores q k^T and their weighted sum of v
        return 4 * tokens * features * features + 2 * tokens * tokens * features
