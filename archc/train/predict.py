"""``archc predict RUN_DIR IMAGE...``: the top-k classes of image files under a trained run.

Each image is decoded as the run's data was (Pillow, converted to grey or RGB, resized to the stored image size),
then normalized and adapted exactly as in training and evaluation. Class names come from the run's data
(Fashion-MNIST's names, an image folder's sub-folder names); otherwise they are class numbers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from archc.train.errors import TrainError


def decode(path: Path, shape: tuple[int, int, int]) -> np.ndarray:
    """The image as uint8 [C, H, W] of the run's stored image shape; TrainError for a file Pillow cannot read."""
    from PIL import UnidentifiedImageError

    from archc.train.data import FolderSplit

    if not path.is_file():
        raise TrainError(f"{path}: no such image file")
    try:
        return FolderSplit([path], np.zeros(1, np.int64), shape).batch(np.array([0]))[0][0]
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise TrainError(f"{path}: not an image Pillow can read ({exc})") from None


def predict(run_dir: str | Path, images: list[str | Path], checkpoint: str = "best", top: int = 5,
            device: str | None = None, ema: bool = False) -> list[dict[str, Any]]:
    """For each image: its top classes as (class, name, probability), most probable first."""
    from archc.train.data import ArraySplit, plan_adaptation
    from archc.train.evaluate import EvalData, log_probabilities, torch_outputs
    from archc.train.trained import read_trained, trained_model

    trained = read_trained(run_dir, checkpoint, ema)
    saved = trained.run.config["data"]
    shape = tuple(int(d) for d in saved["shape"])
    if len(shape) != 3:
        raise TrainError(f"{run_dir}: the run was trained on data of shape {list(shape)}, not images")
    pixels = np.stack([decode(Path(path), shape) for path in images])  # type: ignore[arg-type]
    input_shape = tuple(trained.graph.nodes[trained.graph.input_node]["shape"])
    data = EvalData(None, plan_adaptation(shape, input_shape), list(saved["mean"]),  # type: ignore[arg-type]
                    list(saved["std"]), own=False)
    model = trained_model(trained, "torch")
    outputs = torch_outputs(model, ArraySplit(pixels, np.zeros(len(pixels), np.int64)), data, 64, device)
    probabilities = np.exp(log_probabilities(outputs, trained.graph.nodes[trained.graph.output_node]["op"]
                                             == "softmax"))
    names = list(saved.get("classes") or [])
    results = []
    for path, row in zip(images, probabilities):
        order = np.argsort(-row, kind="stable")[:max(1, min(top, len(row)))]
        results.append({"image": str(path), "top": [
            {"class": int(index), "name": names[index] if index < len(names) else str(int(index)),
             "probability": float(row[index])} for index in order]})
    return results
