"""``archc eval``: a trained run's loss, top-1 / top-5 accuracy, per-class accuracy and confusion matrix.

The run's own test data (same --data, --test-subset and seed) is rebuilt and fed through the same preprocessing as
in training (the training split's normalization, the same input adaptation, the same batches), so the accuracy of a
checkpoint is the one its epoch recorded in metrics.jsonl. Torch runs evaluate with torch, Keras runs with Keras.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from archc.train.config import TrainConfig
from archc.train.data import Adaptation, Dataset, load_dataset, plan_adaptation
from archc.train.errors import TrainError
from archc.train.trained import Trained, read_trained, trained_model


@dataclass
class EvalData:
    dataset: Dataset  # its test split is what is evaluated
    adaptation: Adaptation
    mean: list[float]
    std: list[float]
    own: bool  # the run's own test data


def eval_data(trained: Trained, data: str | None = None, data_dir: str | None = None,
              test_subset: int | None = None) -> EvalData:
    """The run's test split (or ``data``'s), normalized with the run's training statistics."""
    cfg = TrainConfig.from_dict(trained.run.config["train"])
    own = data is None and test_subset in (None, cfg.test_subset)  # the very images metrics.jsonl was measured on
    input_shape = tuple(trained.graph.nodes[trained.graph.input_node]["shape"])
    num_outputs = int(trained.graph.nodes[trained.graph.output_node]["shape"][0])
    if data is None:  # the run's own data: its folder and test subset unless given
        data, data_dir = cfg.data, data_dir or cfg.data_dir
        test_subset = test_subset if test_subset is not None else cfg.test_subset
    # subset=1: the training split is not used, but load_dataset takes a subset of both
    dataset = load_dataset(data, input_shape, num_outputs, data_dir, subset=1, test_subset=test_subset, seed=cfg.seed)
    if dataset.num_classes > num_outputs:
        raise TrainError(f"{dataset.name} has {dataset.num_classes} classes; the run's model has {num_outputs} "
                         "outputs")
    saved = trained.run.config["data"]
    return EvalData(dataset, plan_adaptation(dataset.shape, input_shape), list(saved["mean"]), list(saved["std"]), own)


def batch_size(trained: Trained) -> int:
    cfg = TrainConfig.from_dict(trained.run.config["train"])
    return cfg.eval_batch_size or 2 * cfg.batch_size


# ------------------------------------------------------------------------------------------------------ outputs


def torch_outputs(model: Any, split: Any, data: EvalData, batch: int, device_name: str | None = None,
                  precision: str = "auto") -> np.ndarray:
    """The model's outputs (float32, one row per image of ``split``, in order) as in the torch loop's evaluation."""
    import torch

    from archc.train.torch_data import Preprocess, Source
    from archc.train.torch_device import resolve_device

    device = resolve_device(device_name)
    bf16 = precision == "bf16" or (precision == "auto" and device.type == "cuda" and torch.cuda.is_bf16_supported())
    model = model.to(device).eval()
    preprocess = Preprocess(data.mean, data.std, data.adaptation, device, channels_last=False)
    source = Source(split, device, workers=0)
    indices = list(range(len(split)))
    outputs = []
    with torch.no_grad():
        for x, _ in source.batches([indices[i:i + batch] for i in range(0, len(indices), batch)]):
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                outputs.append(model(preprocess(x)).float().cpu())
    return torch.cat(outputs).numpy() if outputs else np.zeros((0, 0), np.float32)


def keras_outputs(model: Any, trained: Trained, data: EvalData, batch: int) -> np.ndarray:
    """The outputs of the Keras model over the split, through the Keras loop's own input pipeline."""
    from archc.train.keras_fit import make_dataset

    cfg = TrainConfig.from_dict(trained.run.config["train"]).replace(eval_batch_size=batch)
    num_outputs = int(trained.graph.nodes[trained.graph.output_node]["shape"][0])
    prepared = SimpleNamespace(cfg=cfg, dataset=data.dataset, adaptation=data.adaptation, mean=data.mean,
                               std=data.std, info=SimpleNamespace(num_outputs=num_outputs))
    return np.asarray(model.predict(make_dataset(prepared, False), verbose=0), dtype=np.float32)


# ------------------------------------------------------------------------------------------------------- scores


def log_probabilities(outputs: np.ndarray, probabilities: bool) -> np.ndarray:
    if probabilities:
        return np.log(np.clip(outputs.astype(np.float64), 1e-12, None))
    shifted = outputs.astype(np.float64) - outputs.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def scores(outputs: np.ndarray, labels: np.ndarray, classes: list[str], probabilities: bool) -> dict[str, Any]:
    """Loss, top-1, top-5 (more than 5 classes), per-class accuracy and the confusion matrix (rows: true class)."""
    count = len(labels)
    log_p = log_probabilities(outputs, probabilities)
    predicted = outputs.argmax(axis=1)
    num_classes = len(classes)
    confusion = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(confusion, (labels, np.clip(predicted, 0, num_classes - 1)), 1)
    result: dict[str, Any] = {
        "samples": int(count), "loss": float(-log_p[np.arange(count), labels].mean()) if count else float("nan"),
        "top1": float((predicted == labels).mean()) if count else float("nan"),
    }
    if outputs.shape[1] > 5:
        top5 = np.argsort(-outputs, axis=1, kind="stable")[:, :5]
        result["top5"] = float((top5 == labels[:, None]).any(axis=1).mean()) if count else float("nan")
    totals = confusion.sum(axis=1)
    result["per_class"] = [{"class": index, "name": name, "samples": int(totals[index]),
                            "accuracy": float(confusion[index, index] / totals[index]) if totals[index] else None}
                           for index, name in enumerate(classes)]
    result["confusion"] = confusion.tolist()
    return result


def evaluate_run(run_dir: str | Path, checkpoint: str = "best", data: str | None = None, data_dir: str | None = None,
                 test_subset: int | None = None, device: str | None = None, ema: bool = False) -> dict[str, Any]:
    """Evaluate a run's checkpoint (its EMA weights with ``ema``); the result also holds what the run recorded for
    it (``recorded_test_acc``)."""
    trained = read_trained(run_dir, checkpoint, ema)
    evaluation = eval_data(trained, data, data_dir, test_subset)
    batch = batch_size(trained)
    split = evaluation.dataset.test
    backend = trained.run.backend
    model = trained_model(trained, backend)
    if backend == "keras":
        outputs = keras_outputs(model, trained, evaluation, batch)
    else:
        precision = trained.run.config["train"].get("precision", "auto")
        outputs = torch_outputs(model, split, evaluation, batch, device, precision)
    probabilities = trained.graph.nodes[trained.graph.output_node]["op"] == "softmax"
    classes = evaluation.dataset.classes
    result = scores(outputs, np.asarray(split.labels(), dtype=np.int64), classes, probabilities)
    recorded = trained.run.recorded(checkpoint) if evaluation.own else None
    return {"run": str(trained.run.path), "spec": trained.spec.name, "backend": backend,
            "checkpoint": str(trained.checkpoint), "epoch": trained.epoch, "data": evaluation.dataset.name,
            "weights": "ema" if ema else "raw",
            "recorded_test_acc": recorded.get("ema_test_acc" if ema else "test_acc") if recorded else None, **result}
