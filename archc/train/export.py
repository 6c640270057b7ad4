"""``archc export RUN_DIR -o FILE``: a trained run as a file that needs no archc to load, chosen by suffix.

| suffix | written by | loads with |
|---|---|---|
| ``.pt2`` | ``torch.export.save`` | ``torch.export.load(path).module()(x)`` |
| ``.onnx`` | ``torch.onnx.export`` | ``onnxruntime.InferenceSession(path).run(None, {"input": x})`` |
| ``.keras`` | ``keras.Model.save`` (built-in layers only) | ``keras.saving.load_model(path)(x_nhwc)`` |
| ``.safetensors`` | ``safetensors.torch.save_file`` | ``safetensors.torch.load_file(path)``: the state_dict |

Every artifact is for inference: BatchNorm uses its running statistics, dropout is off.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from archc.train.errors import TrainError
from archc.train.rundir import atomic_path
from archc.train.trained import Trained, read_trained, trained_model

FORMATS = {".pt2": "torch", ".onnx": "onnx", ".keras": "keras", ".safetensors": "torch"}


def export_format(path: str | Path) -> str:
    """The suffix of ``path`` among FORMATS; TrainError listing them otherwise."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise TrainError(f"{path}: cannot tell the format from the suffix; use one of {', '.join(FORMATS)}")
    return suffix


def export_run(run_dir: str | Path, output: str | Path, checkpoint: str = "best", ema: bool = False,
               optimize: bool = False) -> Trained:
    """Write the run's trained model (its EMA weights with ``ema``) to ``output`` (atomically) in the format its
    suffix names.

    ``optimize``: the inference model with BatchNorm folded and activations fused (docs/optimize.md); not for
    .safetensors, whose state_dict must load into the spec's own model.
    """
    suffix = export_format(output)
    if optimize and suffix == ".safetensors":
        raise TrainError("--optimize: a .safetensors file holds the spec's own state_dict; folded weights would not "
                         "load into it (export .pt2, .onnx or .keras)")
    trained = read_trained(run_dir, checkpoint, ema)
    model = trained_model(trained, FORMATS[suffix])
    if optimize:
        from archc.api import optimize_for_export

        model = optimize_for_export(model, FORMATS[suffix])
    with atomic_path(Path(output)) as tmp:
        if suffix == ".safetensors":
            save_safetensors(model, trained, tmp)
        else:
            from archc.api import backend_module

            backend_module(FORMATS[suffix]).save(model, trained.graph, tmp)
    return trained


def save_safetensors(model: Any, trained: Trained, path: Path) -> None:
    """The torch state_dict, with the spec's name and digest and the run's name as metadata."""
    from safetensors.torch import save_file

    state = {key: tensor.detach().cpu().contiguous() for key, tensor in model.state_dict().items()}
    save_file(state, str(path), metadata={"format": "pt", "archc_spec": trained.spec.name,
                                          "archc_spec_digest": trained.spec.digest(),
                                          "archc_run": trained.run.name})
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)  # safetensors creates the file private; the user's umask decides, as elsewhere
