"""Data readers of archc.train.data: IDX (against the known Fashion-MNIST counts), .npz, image folders, synthetic,
input adaptation and augmentation (numpy and torch draw and apply the same crops)."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from archc.train.data import (
    ArraySplit,
    augment_numpy,
    augmentation_params,
    channel_stats,
    load_dataset,
    plan_adaptation,
    read_idx,
)
from archc.train.errors import TrainError

from .conftest import FASHION_MNIST, needs_fashion_mnist


@needs_fashion_mnist
def test_fashion_mnist_idx_counts():
    dataset = load_dataset("fashion-mnist", (1, 28, 28), 10)
    assert len(dataset.train) == 60000 and len(dataset.test) == 10000
    assert dataset.shape == (1, 28, 28) and dataset.num_classes == 10
    assert dataset.train.x.dtype == np.uint8
    assert np.bincount(dataset.train.y).tolist() == [6000] * 10
    assert np.bincount(dataset.test.y).tolist() == [1000] * 10
    mean, std = channel_stats(dataset.train)
    assert 0.27 < mean[0] < 0.30 and 0.33 < std[0] < 0.37  # the usual 0.286 / 0.353


@needs_fashion_mnist
def test_idx_raw_and_gz_read_the_same(tmp_path: Path):
    raw = tmp_path / "t10k-labels-idx1-ubyte"
    raw.write_bytes(gzip.decompress((FASHION_MNIST / "t10k-labels-idx1-ubyte.gz").read_bytes()))
    assert np.array_equal(read_idx(raw), read_idx(FASHION_MNIST / "t10k-labels-idx1-ubyte.gz"))


def _write_idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    data = header + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)


def test_idx_folder_via_data_dir(tmp_path: Path):
    rng = np.random.default_rng(0)
    _write_idx(tmp_path / "train-images-idx3-ubyte.gz", rng.integers(0, 255, (50, 8, 8)))
    _write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.arange(50) % 3)
    _write_idx(tmp_path / "t10k-images.idx3-ubyte", rng.integers(0, 255, (20, 8, 8)))  # raw, '.' spelling
    _write_idx(tmp_path / "t10k-labels.idx1-ubyte", np.arange(20) % 3)
    dataset = load_dataset("mnist", (1, 8, 8), 3, data_dir=str(tmp_path), subset=30)
    assert (len(dataset.train), len(dataset.test), dataset.num_classes) == (30, 20, 3)
    dataset = load_dataset(str(tmp_path), (1, 8, 8), 3)  # an IDX folder given as --data
    assert len(dataset.train) == 50


def test_truncated_idx_is_a_clear_error(tmp_path: Path):
    path = tmp_path / "bad-idx1-ubyte"
    path.write_bytes(bytes([0, 0, 8, 1]) + np.asarray([10], ">u4").tobytes() + b"\x01\x02")
    with pytest.raises(TrainError, match="IDX header says"):
        read_idx(path)
    with pytest.raises(TrainError, match="no mnist IDX files"):
        load_dataset("mnist", (1, 28, 28), 10, data_dir=str(tmp_path))


def test_npz_layouts(tmp_path: Path):
    rng = np.random.default_rng(1)
    path = tmp_path / "toy.npz"
    np.savez(path, x_train=rng.random((40, 12, 12, 3)).astype(np.float32), y_train=np.arange(40) % 4,
             x_test=rng.integers(0, 255, (10, 12, 12, 3), dtype=np.uint8), y_test=np.arange(10) % 4)
    dataset = load_dataset(str(path), (3, 12, 12), 4)
    assert dataset.shape == (3, 12, 12) and dataset.num_classes == 4
    assert dataset.train.x.dtype == np.uint8 and dataset.train.x.max() > 200  # floats in [0, 1] scaled to 0..255
    np.savez(tmp_path / "missing.npz", x_train=np.zeros((2, 4, 4)))
    with pytest.raises(TrainError, match="missing arrays y_train, x_test, y_test"):
        load_dataset(str(tmp_path / "missing.npz"), (1, 4, 4), 2)


def _png_folder(root: Path, layout: str) -> None:
    from PIL import Image

    rng = np.random.default_rng(2)
    for split, count in (("train", 4), ("test", 2)) if layout == "split" else (("", 5),):
        for label, color in (("cat", 0), ("dog", 1), ("emu", 2)):
            folder = root / split / label
            folder.mkdir(parents=True)
            for i in range(count):
                pixels = rng.integers(0, 60, (10 + i, 14, 3), dtype=np.uint8)
                pixels[..., color] += 150
                Image.fromarray(pixels).save(folder / f"{i}.png")


def test_image_folder_with_train_and_test(tmp_path: Path):
    _png_folder(tmp_path, "split")
    dataset = load_dataset(str(tmp_path), (3, 16, 16), 3)
    assert dataset.classes == ["cat", "dog", "emu"]
    assert (len(dataset.train), len(dataset.test)) == (12, 6)
    x, y = dataset.train.batch(np.array([0, 4, 11]))
    assert x.shape == (3, 3, 16, 16) and x.dtype == np.uint8 and y.tolist() == [0, 1, 2]
    assert x[1, 1].mean() > x[1, 0].mean()  # the dog images are green: channels are in RGB order
    grey = load_dataset(str(tmp_path), (1, 8, 8), 3)
    assert grey.train.batch(np.array([0]))[0].shape == (1, 1, 8, 8)


def test_image_folder_without_split_holds_out_a_seeded_tenth(tmp_path: Path):
    _png_folder(tmp_path, "flat")
    first = load_dataset(str(tmp_path), (3, 12, 12), 3, seed=5)
    again = load_dataset(str(tmp_path), (3, 12, 12), 3, seed=5)
    assert (len(first.train), len(first.test)) == (12, 3)
    assert first.test.files == again.test.files


def test_synthetic_and_subsets():
    dataset = load_dataset("synthetic", (3, 32, 32), 7, subset=100, test_subset=10)
    assert (len(dataset.train), len(dataset.test), dataset.num_classes) == (100, 10, 7)
    x, y = dataset.train.batch(np.arange(90, 100))
    assert x.shape == (10, 3, 32, 32) and y.max() < 7


def test_adaptation_plans():
    assert plan_adaptation((1, 28, 28), (1, 28, 28)).describe() == "as stored"
    plan = plan_adaptation((1, 28, 28), (3, 224, 224))
    assert plan.repeat_channels == 3 and plan.resize == (224, 224)
    assert plan_adaptation((1, 28, 28), (784,)).flatten
    with pytest.raises(TrainError, match="only 1 channel can be repeated"):
        plan_adaptation((3, 32, 32), (1, 32, 32))
    with pytest.raises(TrainError, match=r"flatten to 784"):
        plan_adaptation((1, 28, 28), (100,))


def test_numpy_and_torch_augmentation_agree():
    torch = pytest.importorskip("torch")
    from archc.train.torch_data import augment_batch

    x = np.random.default_rng(3).integers(0, 255, (6, 2, 9, 7), dtype=np.uint8)
    top, left, flips = augmentation_params(seed=1, epoch=2, step=3, count=6, pad=2, hflip=True)
    assert flips.any() and not flips.all() and top.max() <= 4
    expected = augment_numpy(x, top, left, flips, pad=2)
    got = augment_batch(torch.from_numpy(x), torch.from_numpy(top), torch.from_numpy(left),
                        torch.from_numpy(flips), pad=2)
    assert np.array_equal(got.numpy(), expected)
    # a crop with offset (pad, pad) and no flip is the identity
    same = augment_numpy(x, np.full(6, 2), np.full(6, 2), np.zeros(6, bool), pad=2)
    assert np.array_equal(same, x)
    assert np.array_equal(ArraySplit(x, np.zeros(6, np.int64)).batch(np.array([1]))[0], x[1:2])
