"""Suite-wide setup.

TensorFlow imported before ``torch._dynamo`` crashes the process (SIGSEGV) with this torch / tensorflow pair, and
pytest imports test modules in file order, so torch and its compiler stack are imported first, once, here.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

try:
    import torch
    import torch._dynamo  # noqa: F401
except ImportError:  # the core's tests run without torch
    torch = None
