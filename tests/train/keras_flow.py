"""Run by test_keras.py in a subprocess: TensorFlow and torch's Triton must not share the pytest process (Triton's
LLVM loaded after TensorFlow's crashes). Trains, resumes and mis-resumes with --backend keras; prints a JSON report."""

from __future__ import annotations

import contextlib
import io
import json
import sys
from pathlib import Path


def main(out: Path, spec: str) -> dict:
    import keras

    from archc.cli import main as cli
    from archc.train import TrainConfig
    from archc.train.keras_fit import read_state
    from archc.train.runner import run

    cfg = TrainConfig(spec=spec, backend="keras", data="fashion-mnist", subset=512, test_subset=256, epochs=1,
                      batch_size=64, optimizer="adam", lr=3e-3, random_crop=2, hflip=True, progress=False,
                      device="cpu", out=str(out))
    first = run(cfg)
    checkpoint = first.run_dir / "checkpoints" / "last.keras"
    model = keras.saving.load_model(checkpoint)  # a plain .keras file
    state_epoch = read_state(checkpoint)["epoch"]
    second = run(resume=first.run_dir, changes={"epochs": 2})
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = cli(["train", spec, "--set", "width=4", "--resume", str(first.run_dir), "--epochs", "3"])
    return {"run_dir": str(first.run_dir), "first": first.history, "second": second.history,
            "output_shape": list(model.output_shape), "state_epoch": state_epoch,
            "mismatch_code": code, "mismatch_err": err.getvalue()}


if __name__ == "__main__":
    print("REPORT " + json.dumps(main(Path(sys.argv[1]), sys.argv[2])))
