"""Drawing networks: ``archc draw`` (Graphviz SVG / PNG / DOT, Mermaid, a self-contained HTML page) and the plots
of ``archc gradflow``. The core of this package imports neither torch nor matplotlib; gradflow imports them lazily.
"""

from archc.viz.dot import to_dot
from archc.viz.html import to_html
from archc.viz.mermaid import to_mermaid
from archc.viz.view import KINDS, View, build_view

__all__ = ["KINDS", "View", "build_view", "to_dot", "to_html", "to_mermaid"]
