"""Shared pieces of the torch backend tests: small specs, and running Python where archc cannot be imported."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import torch

#: every op of the core, wired with from: so that each merge reads two branches; [4, 8, 8] keeps it fast
EVERY_OP = """
archc: 1
name: every_op
input: {shape: [4, 8, 8]}
network:
  - {name: stem, conv: {out: 8, kernel: 3, bias: true, init: xavier_uniform, bias_init: 0.5}}
  - {name: norm, bn: {gamma_init: 0.5, beta_init: 0.1, eps: 1.0e-3, momentum: 0.2}}
  - {name: leaky, leaky_relu: {negative_slope: 0.2}}
  - {name: clip, relu6: {}}
  - {name: smooth, gelu: {approximate: tanh}}
  - {name: swish, silu: {}}
  - {name: squash, tanh: {}}
  - {name: pad, channel_pad: {out: 12, stride: 2}}
  - {name: avg, avgpool: {kernel: 3, stride: 1, padding: 1}}
  - {name: gap, global_avgpool: {}}
  - {name: gate, sigmoid: {}}
  - {name: scaled, mul: {}, from: [avg, gate]}
  - {name: diff, sub: {}, from: [scaled, avg]}
  - {name: both, concat: {}, from: [diff, scaled]}
  - {name: total, add: {}, from: [both, both, both]}
  - {name: same, identity: {}}
  - {name: peak, maxpool: {kernel: 2}}
  - {name: grow, conv: {out: 16, kernel: 1, bias: false, init: kaiming_normal}}
  - {name: drop, dropout: {p: 0.25}}
  - {name: gmax, global_maxpool: {keepdims: false}}
  - {name: side, global_avgpool: {keepdims: false}, from: [grow]}
  - {name: pair, concat: {}, from: [gmax, side]}
  - {name: fc, linear: {out: 6, init: kaiming_uniform, bias_init: zeros}}
  - {name: norm1d, bn: {}}
  - {name: rectified, relu: {}}
  - {name: flat, flatten: {}}
  - {name: prob, softmax: {}}
"""


def site_packages() -> str:
    """The folder torch is installed in (without the .pth hooks that make archc importable)."""
    return str(Path(torch.__file__).resolve().parent.parent)


def run_without_archc(code: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter that can import torch but not archc.

    ``-I`` drops the current folder and PYTHONPATH, ``-S`` skips the site hooks (archc is an editable install, made
    importable by a .pth file); only torch's site-packages folder is put back. The code first proves that
    ``import archc`` fails.
    """
    prelude = (f"import sys\nsys.path.append({site_packages()!r})\n"
               "try:\n    import archc\nexcept ImportError:\n    pass\n"
               "else:\n    raise SystemExit('archc is importable here')\n")
    return subprocess.run([sys.executable, "-I", "-S", "-c", prelude + code], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout)
