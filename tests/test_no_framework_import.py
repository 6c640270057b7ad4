"""The core works with torch, tensorflow and keras impossible to import: pydantic, PyYAML and networkx suffice."""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""\
    import sys

    BLOCKED = ("torch", "tensorflow", "keras")

    class Block:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ImportError(f"{name} is blocked by test_no_framework_import")
            return None

    sys.meta_path.insert(0, Block())

    import archc
    from archc import cli

    spec = archc.parse("densenet121", num_classes=10)
    graph = archc.build_graph(spec)
    summary = archc.summarize(graph)
    assert summary.output_shape == (10,), summary.output_shape
    assert cli.main(["validate", "densenet121"]) == 0
    assert cli.main(["summary", "densenet121", "--depth", "1"]) == 0
    assert cli.main(["validate", "densenet121", "--set", "num_clases=3"]) == 2
    assert cli.main(["schema"]) == 0
    loaded = sorted(name for name in sys.modules if name.split(".")[0] in BLOCKED)
    assert not loaded, loaded
    print("core ok without frameworks")
""")


def test_core_imports_no_framework():
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "core ok without frameworks" in result.stdout
    assert "Traceback" not in result.stderr
