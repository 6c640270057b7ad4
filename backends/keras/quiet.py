"""Import TensorFlow without its start-up chatter on stderr.

TensorFlow's native code logs INFO lines while its library loads (``oneDNN custom operations are on``, ``This
TensorFlow binary is optimized ...``, ``All log messages before absl::InitializeLog() ...``), before
``TF_CPP_MIN_LOG_LEVEL`` is read, so every Keras command used to open with them. Here the import runs with file
descriptor 2 captured; afterwards every captured line that is not one of those INFO lines goes to stderr as before,
so warnings and errors still reach the user. ``TF_CPP_MIN_LOG_LEVEL`` set by the user (``0`` shows everything) is
respected, and nothing is done when Keras runs on another backend or TensorFlow is already imported.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from typing import Any

#: absl's INFO lines (``I0000 00:00:... file.cc:123] ...``) and its notice that logging is not initialised yet
NOISE = re.compile(r"^(I\d{4} \d\d:\d\d:[\d.]+ +\d+ [\w.]+:\d+\] "
                   r"|WARNING: All log messages before absl::InitializeLog)")


def import_tensorflow() -> None:
    """``import tensorflow`` with its INFO start-up lines dropped (see the module docstring)."""
    if "tensorflow" in sys.modules or os.environ.get("KERAS_BACKEND", "tensorflow") != "tensorflow":
        return
    if os.environ.get("TF_CPP_MIN_LOG_LEVEL") == "0":
        import tensorflow  # noqa: F401  (the user asked to see everything)
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            import tensorflow  # noqa: F401
        except ImportError:
            pass  # keras raises its own error, with the user's stderr back
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            kept = [line for line in capture.read().decode(errors="replace").splitlines(keepends=True)
                    if not NOISE.match(line)]
    if kept:
        sys.stderr.write("".join(kept))
        sys.stderr.flush()


def import_keras() -> Any:
    """The ``keras`` module, TensorFlow imported first by :func:`import_tensorflow`."""
    import_tensorflow()
    import keras

    return keras
