"""The core ops, one module per family; ``OPS`` (archc.ops.registry) is loaded from here.

Loading imports the built-in op modules, then every module named by an entry point of the ``archc.ops`` group (a
plugin package installed by the user; a spec never names code). A plugin module registers its ops with the same
``@register_op`` the built-in ones use, and its lowerings with the backends' ``register_lowering``.
"""

from __future__ import annotations

import warnings
from importlib import import_module, metadata

from archc.ops.registry import OPS, OpSpec, TensorDecl, register_op

__all__ = ["BUILTIN_MODULES", "ENTRY_POINT_GROUP", "OPS", "OpSpec", "TensorDecl", "plugin_origins", "register_op"]

BUILTIN_MODULES = ("activation", "block", "channel", "conv", "merge", "norm", "pool", "token", "window")
ENTRY_POINT_GROUP = "archc.ops"
#: plugin module -> the distribution that installed it (for `archc list --ops`)
_PLUGIN_DISTRIBUTIONS: dict[str, str] = {}


def _load() -> None:
    for module in BUILTIN_MODULES:
        import_module(f"archc.ops.{module}")
    for entry_point in metadata.entry_points(group=ENTRY_POINT_GROUP):
        distribution = entry_point.dist.name if entry_point.dist is not None else "?"
        _PLUGIN_DISTRIBUTIONS[entry_point.value.split(":")[0]] = distribution
        try:
            entry_point.load()
        except Exception as exc:  # a broken plugin must not take archc down with it
            warnings.warn(f"archc: the op plugin '{entry_point.name}' ({entry_point.value}, from {distribution}) "
                          f"failed to load: {type(exc).__name__}: {exc}", stacklevel=2)


def plugin_origins() -> dict[str, str]:
    """op name -> "built-in" or "plugin <distribution> (<module>)"."""
    OPS.load()
    origins = {}
    for name in OPS.names():
        module = OPS.get(name).__module__
        if module.startswith("archc."):
            origins[name] = "built-in"
        else:
            origins[name] = f"plugin {_PLUGIN_DISTRIBUTIONS.get(module, '?')} ({module})"
    return origins


OPS.set_loader(_load)
