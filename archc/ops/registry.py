"""The op registry: one pydantic model per primitive op, carrying every fact about it.

Each op is declared once, in its one core file (``archc/ops/<family>.py``), with ``@register_op("name")``:

* its arguments (pydantic fields; counts and sizes are integers, never booleans: :data:`Count`);
* its shape rule (``infer_shape``) and MAC formula (``count_macs``);
* its ``tensors``: one :class:`TensorDecl` per parameter or buffer (torch name, Keras layer.variable, layout
  ``role``, trainable or not, shape from the arguments and input shapes, initial value). Parameter and buffer counts,
  weight transfer between torch and Keras (with its layout transposes) and initialisation follow from them;
* its ``traits`` (:data:`TRAITS`): what passes, backends and drawings ask of an op instead of keeping lists of names;
* its ``examples``: tiny uses that tests/test_op_conformance.py builds in every backend.

Backends register one lowering per op name in their own registries. A duplicate name fails at import, an unknown
name fails with the known names and a "did you mean". The registry never imports the modules that fill it: the
package ``archc.ops`` installs the loader (built-in op modules, then plugins of the ``archc.ops`` entry-point group).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any, ClassVar, get_args

from pydantic import BaseModel, ConfigDict, NonNegativeInt, PositiveInt, ValidationInfo, field_validator

from archc.registry import Registry

Shape = tuple[int, ...]


#: an integer argument (a count, size or channel number). Booleans are refused for every field whose type does not
#: name bool (OpSpec._no_booleans): YAML's true is a Python bool, an int subclass that pydantic would take as 1
Count = int
PositiveCount = PositiveInt
NonNegativeCount = NonNegativeInt
#: a real-valued argument (booleans refused too)
Number = float


def _mentions(annotation: Any, kind: type) -> bool:
    return annotation is kind or any(_mentions(arg, kind) for arg in get_args(annotation))


def _find_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, (list, tuple)):
        return next((found for item in value if (found := _find_bool(item)) is not None), None)
    return None


class ShapeError(Exception):
    """An op cannot take the shapes it is given. Carries a hint toward the fix."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint


@dataclass(frozen=True)
class Role:
    """A tensor layout: how its axes move between torch and Keras, and whether it counts as model size."""

    description: str
    to_keras: tuple[int, ...] | None = None  # axis permutation torch layout -> Keras layout; None: the same
    counted: bool = True  # False: bookkeeping (BatchNorm's batch counter), not a parameter nor a statistic
    drawn: bool = False  # frameworks draw it at random on construction: the op must declare its initial value
    #: the torch shape of a Keras variable of this role whose layout is a reshape, not a permutation
    #: (a [C, 1, 1] scale held as a (1, 1, C, 1) depthwise kernel); None: a permutation (``to_keras``)
    torch_shape: Callable[[tuple[int, ...]], tuple[int, ...]] | None = None

    @property
    def to_torch(self) -> tuple[int, ...] | None:
        if self.to_keras is None:
            return None
        inverse = [0] * len(self.to_keras)
        for keras_axis, torch_axis in enumerate(self.to_keras):
            inverse[torch_axis] = keras_axis
        return tuple(inverse)

    def torch_shape_of(self, keras_shape: tuple[int, ...]) -> tuple[int, ...]:
        if self.torch_shape is not None:
            return self.torch_shape(keras_shape)
        return tuple(keras_shape[axis] for axis in self.to_torch) if self.to_torch else keras_shape

    def keras_to_torch(self, value: Any) -> Any:
        """A Keras variable's value (numpy) in torch layout."""
        if self.torch_shape is not None:
            return value.reshape(self.torch_shape(value.shape))
        return value.transpose(self.to_torch) if self.to_torch else value

    def torch_to_keras(self, value: Any, keras_shape: tuple[int, ...]) -> Any:
        """A torch-layout value (numpy) in the layout of a Keras variable of ``keras_shape``."""
        if self.torch_shape is not None:
            return value.reshape(keras_shape)
        return value.transpose(self.to_keras) if self.to_keras else value


#: every layout role a tensor may declare
ROLES: dict[str, Role] = {
    "conv kernel": Role("conv weight: OIHW in torch, HWIO in Keras", to_keras=(2, 3, 1, 0), drawn=True),
    "conv1d kernel": Role("1-D conv weight: (out, in, k) in torch, (k, in, out) in Keras", to_keras=(2, 1, 0),
                          drawn=True),
    "linear weight": Role("dense weight: (out, in) in torch, (in, out) in Keras", to_keras=(1, 0), drawn=True),
    "bias": Role("per-output-channel bias, added after a conv or linear; torch's default draw depends on the fan-in "
                 "of the op's drawn weight", drawn=True),
    "per-channel vector": Role("one value per channel or feature: norm scale, shift and running statistics"),
    "channel scale": Role("a learned scale per channel, [C, 1, 1] in torch (torchvision's layer_scale), a 1 x 1 "
                          "depthwise kernel (1, 1, C, 1) in Keras", torch_shape=lambda shape: (shape[2], 1, 1)),
    "token embedding": Role("a learned [1, N, D] token tensor (a ViT's class token, position embedding); in Keras the "
                            "[N, D] table of an Embedding", torch_shape=lambda shape: (1, *shape)),
    "attention projection": Role("a projection weight of torch.nn.MultiheadAttention (in_proj_weight: q, k, v stacked; "
                                 "out_proj.weight): (out, in) in torch, (in, out) in a Keras kernel", to_keras=(1, 0)),
    "attention bias": Role("a bias of torch.nn.MultiheadAttention (in_proj_bias, out_proj.bias); the same in Keras"),
    "window attention": Role("a projection weight of torchvision's Swin (qkv, proj, the patch merging reduction): "
                             "(out, in) in torch, (in, out) in a Keras Dense kernel", to_keras=(1, 0), drawn=True),
    "position bias table": Role("Swin's learned relative position bias table [(2w - 1)^2, heads]; in Keras the same "
                                "table of an Embedding", drawn=True),
    "position index": Role("an integer buffer computed from the op's arguments (Swin's relative_position_index); torch "
                           "only: the Keras lowering holds it as a constant"),
    "position coordinates": Role("a float buffer computed from the op's arguments (Swin V2's relative_coords_table); "
                                 "torch only: the Keras lowering holds it as a constant"),
    "attention logit scale": Role("Swin V2's learned log scale of cosine attention, [heads, 1, 1] in torch; in Keras "
                                  "the [1, heads] table of an Embedding", torch_shape=lambda shape: (shape[1], 1, 1)),
    "step counter": Role("an integer count of training steps (torch only)", counted=False),
}

#: every trait an op may declare, with what reads it
TRAITS: dict[str, str] = {
    "activation": "a nonlinearity (drawn as a plain box)",
    "elementwise": "computes each output element from the same element of its input(s)",
    "merge": "combines two or more tensors (drawn with its symbol; a connection's join)",
    "weighted": "holds a weight matrix or kernel (gradflow measures its gradient; drawn as a layer)",
    "normalization": "normalises its input with learned scale and shift (drawn as a norm)",
    "pool": "pools over windows of H and W (drawn as a pool)",
    "fresh output": "torch output is a new tensor autograd does not keep, so its only reader may overwrite it",
    "in-place safe": "may write its result into its first input when the torch builder proves that safe",
    "keeps dtype": "under autocast its output has its input's dtype",
    "reduced precision": "under autocast it computes in the reduced precision (bf16 / fp16)",
    "promotes dtype": "under autocast its output has the widest dtype of its inputs",
    "nonnegative": "its output is >= 0 whatever its input",
    "keeps sign": "its output is >= 0 wherever all its inputs are",
    "torch only": "no Keras lowering yet: the Keras backend refuses it with an error located at the node",
}


#: an initial value: a scheme name (``torch_default``, ``kaiming_normal``, ... see archc.ops.conv.WeightInit),
#: ``zeros``, a constant, or None for "as the framework's layer leaves it" (running statistics, counters)
Init = str | float | None


@dataclass(frozen=True)
class TensorDecl:
    """One tensor an op owns. Its torch state_dict key is ``<node>.<name>`` (the node's name itself for the empty
    name: a bare parameter, as torchvision's ``layer_scale``); in Keras it is the variable ``keras`` names, of the
    layer named as the node; ``role`` says how the axes of the two layouts correspond."""

    name: str
    role: str
    shape: Callable[[Any, list[Shape]], Shape]  # (attrs, input shapes) -> torch-layout shape
    keras: str | None = None  # "<Keras layer class>.<variable>" ("Conv2D.kernel"); None: torch only (not transferred)
    #: the Keras layer that holds it, as a child of the node: layer "<node>.<keras_layer>" ("" the node's own layer);
    #: None: the torch child module, the name up to its last dot ("qkv.weight": layer "<node>.qkv")
    keras_layer: str | None = None
    trainable: bool = True  # a parameter; False: a buffer
    present: Callable[[Any], bool] | None = None  # attrs -> whether the tensor exists (bias: false)
    init: Callable[[Any], Init] | None = None  # attrs -> the spec's initial value; None: as the layer leaves it
    constructor_init: Init = None  # what the framework's layer gives it, where that is a constant (BN weight: 1.0)

    def key(self, node: str) -> str:
        """The torch state_dict key of this tensor of ``node``."""
        return f"{node}.{self.name}" if self.name else node

    def keras_place(self) -> tuple[str, str]:
        """(child, leaf): the Keras layer ``<node>.<child>`` (the node's own for "") holds it, and its torch key is
        that layer's name, then ``.<leaf>`` unless the leaf is empty (a bare parameter)."""
        child = self.name.rpartition(".")[0] if self.keras_layer is None else self.keras_layer
        leaf = self.name[len(child):].lstrip(".") if child and self.name.startswith(child) else self.name
        return child, leaf

    def exists(self, attrs: Any) -> bool:
        return self.present is None or bool(self.present(attrs))

    def initial(self, attrs: Any) -> Init:
        return None if self.init is None else self.init(attrs)


@dataclass(frozen=True)
class Tensor:
    """A declared tensor of one node: name, torch-layout shape and declaration."""

    name: str
    shape: Shape
    decl: TensorDecl

    @property
    def numel(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True)
class Example:
    """A small use of an op, for the conformance test (tests/test_op_conformance.py): ``inputs`` tensors of
    ``shape`` (the graph input and element-wise variations of it) fed to the op with ``args``."""

    shape: Shape
    args: dict[str, Any] = field(default_factory=dict)
    inputs: int = 1


class OpSpec(BaseModel):
    """Base of every op's parameter model: the validated attributes of one graph node.

    Subclasses override ``infer_shape`` and, when they compute MACs, ``count_macs``; they declare ``tensors`` and
    ``traits``. Shapes are logical: ``(C, H, W)`` for images, ``(F,)`` for features, without the batch dimension.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)  # schemas built on first use (start-up)

    op_name: ClassVar[str] = ""
    #: number of inputs; None means two or more
    arity: ClassVar[int | None] = 1
    #: one-line description for `archc list --ops` and the schema
    summary: ClassVar[str] = ""
    #: names from TRAITS
    traits: ClassVar[frozenset[str]] = frozenset()
    #: the parameters and buffers it owns, in the order torch registers them
    tensors: ClassVar[tuple[TensorDecl, ...]] = ()
    #: what a drawing writes in a merge node ("+")
    symbol: ClassVar[str] = ""
    #: tiny uses that the conformance test builds in every backend; every op declares at least one
    examples: ClassVar[tuple[Example, ...]] = ()

    @field_validator("*", mode="before")
    @classmethod
    def _no_booleans(cls, value: Any, info: ValidationInfo) -> Any:
        found = _find_bool(value)
        if found is not None and info.field_name not in _bool_fields(cls):
            annotation = cls.model_fields[info.field_name].annotation if info.field_name else None
            wanted = "a number" if _mentions(annotation, float) else "an integer"
            raise ValueError(f"expected {wanted}, not the boolean {str(found).lower()}")
        return value

    def infer_shape(self, inputs: list[Shape]) -> Shape:
        return inputs[0]

    def declared_tensors(self, inputs: list[Shape]) -> list[Tensor]:
        """The tensors this node owns, with their torch-layout shapes (absent ones left out)."""
        return [Tensor(decl.name, tuple(decl.shape(self, inputs)), decl) for decl in self.tensors if decl.exists(self)]

    def count_params(self, inputs: list[Shape], output: Shape) -> int:
        """Trainable parameters: the declared trainable tensors."""
        return sum(t.numel for t in self.declared_tensors(inputs) if t.decl.trainable and ROLES[t.decl.role].counted)

    def count_buffers(self, inputs: list[Shape], output: Shape) -> int:
        """Non-trainable state that is part of the model (BatchNorm running mean and variance)."""
        return sum(t.numel for t in self.declared_tensors(inputs)
                   if not t.decl.trainable and ROLES[t.decl.role].counted)

    def count_macs(self, inputs: list[Shape], output: Shape) -> int:
        """Multiply-accumulates of conv / linear work, as torch.utils.flop_counter counts them (÷2)."""
        return 0


@cache
def _bool_fields(cls: type[OpSpec]) -> frozenset[str]:
    return frozenset(name for name, info in cls.model_fields.items() if _mentions(info.annotation, bool))


#: op name -> OpSpec subclass; filled by @register_op, loaded by the package archc.ops
OPS: Registry[type[OpSpec]] = Registry("op")


def register_op(name: str) -> Callable[[type[OpSpec]], type[OpSpec]]:
    """Class decorator: register an OpSpec subclass under ``name``. Duplicates and unknown traits or roles fail."""

    def decorate(cls: type[OpSpec]) -> type[OpSpec]:
        cls.traits = frozenset(cls.traits)
        unknown = sorted(cls.traits - set(TRAITS)) + sorted({t.role for t in cls.tensors} - set(ROLES))
        if unknown:
            raise ValueError(f"op '{name}' declares unknown traits or roles: {', '.join(unknown)}; "
                             f"traits: {', '.join(TRAITS)}; roles: {', '.join(ROLES)}")
        OPS.add(name, cls)
        cls.op_name = name
        return cls

    return decorate


def get_op(name: str) -> type[OpSpec]:
    """The op class registered under ``name``; :class:`archc.registry.UnknownName` (a KeyError) otherwise."""
    return OPS.get(name)


def has_trait(op: str, trait: str) -> bool:
    """Whether the op registered as ``op`` declares ``trait`` (False for unregistered names such as ``input``)."""
    assert trait in TRAITS, f"unknown trait {trait!r}"
    return op in OPS and trait in OPS.get(op).traits


def load_builtin_ops() -> None:
    """Load the built-in ops and the plugins (idempotent)."""
    OPS.load()


def numel(shape: Shape) -> int:
    return math.prod(shape)


def expect_rank(shape: Shape, ranks: tuple[int, ...], what: str) -> None:
    if len(shape) not in ranks:
        names = {1: "[features]", 2: "[N, D] tokens", 3: "[C, H, W]"}
        wanted = " or ".join(names.get(r, f"rank {r}") for r in ranks)
        raise ShapeError(f"{what} expects {wanted} input, got {list(shape)}",
                         hint=_rank_hint(shape, ranks))


def _rank_hint(shape: Shape, ranks: tuple[int, ...]) -> str | None:
    if len(shape) == 2 and 3 in ranks:
        return "this input is [N, D] tokens (after to_tokens); image ops need [C, H, W]"
    if len(shape) == 2 and 1 in ranks:
        return "take one token first (token: {index: 0}, a ViT's class token)"
    return "flatten or global_avgpool first" if 1 in ranks else None


def pair(value: Any) -> tuple[int, int]:
    """An int or a 2-list as (height, width)."""
    if isinstance(value, (list, tuple)):
        return int(value[0]), int(value[1])
    return int(value), int(value)
