"""The core stays framework-free: building the CLI (which imports the train command) and importing archc.train
load neither torch, tensorflow nor matplotlib."""

from __future__ import annotations

import subprocess
import sys

from .conftest import ROOT, subprocess_env

CHECK = """
import sys
import archc, archc.cli, archc.train
archc.cli.build_parser()
heavy = [name for name in ("torch", "tensorflow", "keras", "matplotlib") if name in sys.modules]
assert not heavy, heavy
"""


def test_train_command_imports_no_framework():
    done = subprocess.run([sys.executable, "-c", CHECK], cwd=ROOT, env=subprocess_env(), capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
