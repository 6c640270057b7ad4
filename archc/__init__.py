"""archc: a compiler from YAML network specs to PyTorch and Keras models.

    >>> import archc
    >>> archc.summarize("resnet50").params
    25557032

The names below are imported on first use (PEP 562 ``__getattr__``), so ``import archc`` costs almost nothing and
a command pays only for the stages it runs (docs/optimize.md, "Start-up").
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

#: public name -> the module that defines it
_EXPORTS = {
    "build_graph": "archc.api", "load": "archc.api", "optimize": "archc.api", "summarize": "archc.api",
    "Diagnostic": "archc.errors", "Position": "archc.errors", "SpecError": "archc.errors",
    "Graph": "archc.ir.graph", "Summary": "archc.passes.cost", "Spec": "archc.spec.parse", "parse": "archc.spec.parse",
    "transfer_weights": "archc.transfer",  # torch <-> keras weights by node name
}

__all__ = ["Diagnostic", "Graph", "Position", "Spec", "SpecError", "Summary", "build_graph", "load", "optimize",
           "parse", "summarize"]
__version__ = "0.1.0"

if TYPE_CHECKING:
    from archc.api import build_graph, load, optimize, summarize
    from archc.errors import Diagnostic, Position, SpecError
    from archc.ir.graph import Graph
    from archc.passes.cost import Summary
    from archc.spec.parse import Spec, parse
    from archc.transfer import transfer_weights as transfer_weights


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
    else:
        try:  # a submodule: archc.api, archc.zoo, ... (as after ``import archc.api``)
            value = importlib.import_module(f"archc.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"archc.{name}":
                raise
            raise AttributeError(f"module 'archc' has no attribute '{name}'") from None
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
