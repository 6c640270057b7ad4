"""archc: a compiler from YAML network specs to PyTorch and Keras models.

    >>> import archc
    >>> archc.summarize("resnet50").params
    25557032
"""

from archc.api import build_graph, load, optimize, summarize
from archc.errors import Diagnostic, Position, SpecError
from archc.ir.graph import Graph
from archc.passes.cost import Summary
from archc.spec.parse import Spec, parse
from archc.transfer import transfer_weights as transfer_weights  # torch <-> keras weights by node name

__all__ = ["Diagnostic", "Graph", "Position", "Spec", "SpecError", "Summary", "build_graph", "load", "optimize",
           "parse", "summarize"]
__version__ = "0.1.0"
