"""The torch lowering registry: one function per op name, filled by ``@register_lowering`` in ``ops/*.py``.

A lowering returns a DESCRIPTION of what to build for one graph node, never a built module:

* a :class:`Module` (ops with parameters or train/eval behaviour): the class and constructor arguments of a module
  installed at the node's hierarchical name, so its parameters are ``<node name>.weight`` and so on. The builder
  constructs it and gives its tensors the initial values the op declares (archc/ops/*.py);
* a :class:`Call` (parameter-free ops): a plain function call in the generated ``forward``;
* a :class:`Param`: the node's own tensor (a bare parameter at its name), read by the Call after it;
* a tuple of Calls and at most one Module or Param, each fed by the previous one's result (``permute``, a layer,
  ``permute``); the empty tuple ``()`` means "the input itself".

Lowerings never see torch.fx: the GraphModule (``build.py``) and the ``--emit-source`` file (``source.py``) are both
written from these descriptions, the module constructors included, so the two cannot disagree. A duplicate
registration fails at import; an unknown op fails with the list of the known ones (archc.registry.Registry).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from archc.ir.node import OpNode
from archc.registry import Registry

if TYPE_CHECKING:  # no torch import at run time: plugins register lowerings without loading it
    import torch
    from torch import nn


@dataclass(frozen=True)
class Call:
    """A parameter-free op as ``target(*inputs, *args, **kwargs)``.

    ``pack``: pass the inputs as one list (``torch.cat([a, b], dim=1)``). ``fold``: apply a binary ``target`` left to
    right over two or more inputs (``a + b + c``). ``method``: ``target`` is the name of a Tensor method called on the
    first input (``a.add_(b)``).
    """

    target: Callable[..., Any] | str
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    pack: bool = False
    fold: bool = False
    method: bool = False

    @property
    def name(self) -> str:
        return self.target if isinstance(self.target, str) else self.target.__name__


@dataclass(frozen=True)
class Module:
    """A module to build at the node's name: ``cls(*args, **kwargs)``.

    ``cls`` is a ``torch.nn`` layer or any importable ``nn.Module`` subclass (a plugin's); emitted source imports its
    module. Arguments equal to the constructor's defaults are left out of emitted source.
    """

    cls: type[nn.Module]
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def name(self) -> str:
        return self.cls.__name__


@dataclass(frozen=True)
class Param:
    """The node's own tensor, declared with the empty name (a bare parameter at the node's name, as torchvision's
    ``layer_scale``): the builder creates it with its declared shape and initial value and reads it with a
    ``get_attr``; the part after it receives the step's inputs followed by the tensor."""

    @property
    def name(self) -> str:
        return "param"


Part = Module | Call | Param
Lowered = Module | Call | Param | tuple[Part, ...]


@dataclass(frozen=True)
class LoweringNode(OpNode):
    """What a torch lowering sees of one graph node: the typed node every backend gets, plus build options."""

    #: the first input is a fresh tensor of this node's shape that nothing else reads and autograd does not keep, and
    #: the other inputs cannot widen its dtype (under autocast): writing the result into it is safe
    can_overwrite_input: bool = False
    #: random source for initial weights (None: torch's global generator)
    generator: torch.Generator | None = None
    #: where modules are created ("meta" when only their structure is wanted, as for emit_source)
    device: str | torch.device = "cpu"


Lowering = Callable[[LoweringNode], Lowered]

#: op name -> torch lowering; the package archc.backends.torch installs the loader (built-in lowerings, then the ops'
#: plugins, which register their lowerings here)
LOWERINGS: Registry[Lowering] = Registry("torch lowering")
register_lowering = LOWERINGS.register
get_lowering = LOWERINGS.get

#: binary operators rendered infix, in model.code and in emitted source
INFIX = {operator.add: "+", operator.sub: "-", operator.mul: "*"}
