"""Suite-wide setup.

TensorFlow imported before ``torch._dynamo`` or Triton crashes the process (SIGSEGV) with this torch / tensorflow
pair, and pytest imports test modules in file order, so torch and its compiler stack are imported first, once, here.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

try:
    import torch
    import torch._dynamo  # noqa: F401
except ImportError:  # the core's tests run without torch
    torch = None
try:  # the same holds for Triton (loaded by torch.optim's fused paths and torch.compile)
    import triton  # noqa: F401
except ImportError:
    pass


# ---- one policy for the cost of zoo-wide backend tests --------------------------------------------------------------
# Backend tests parametrized over the whole zoo run every spec. Building and running the large ImageNet nets (more than
# HEAVY_GMACS, or more than HEAVY_NODES nodes) through torch / Keras / ONNX on a 2-core CPU costs minutes each, so those
# cases are marked `slow`: `make test` (CI) deselects them, `make test-all` runs them. resnet18 and densenet121 stay in
# the default run, so every backend is checked on a ResNet and a DenseNet at full resolution on every run.
HEAVY_GMACS = 2.0
HEAVY_NODES = 1000
ALWAYS = {"resnet18", "densenet121"}
_BACKEND_DIRS = ("tests/backends/", "tests/zoo/test_reference_outputs.py", "tests/zoo/test_se.py")


def _heavy_specs() -> set[str]:
    import archc
    from archc.zoo import zoo_names

    heavy = set()
    for name in zoo_names():
        graph = archc.build_graph(name)
        if (graph.num_macs > HEAVY_GMACS * 1e9 or len(graph) > HEAVY_NODES) and name not in ALWAYS:
            heavy.add(name)
    return heavy


def pytest_collection_modifyitems(config, items):
    import pytest

    heavy = None
    for item in items:
        path = str(item.path).replace("\\", "/")
        if not any(part in path for part in _BACKEND_DIRS) or not hasattr(item, "callspec"):
            continue
        values = [v for v in item.callspec.params.values() if isinstance(v, str)]
        if not values:
            continue
        if heavy is None:
            heavy = _heavy_specs()
        if any(value in heavy for value in values):
            item.add_marker(pytest.mark.slow)
