"""Training data without a framework: IDX files (MNIST, Fashion-MNIST), .npz arrays, class-per-folder images, and
synthetic images. Every split hands out uint8 ``[N, C, H, W]`` batches and int64 labels; the loops normalize, augment
and adapt them to the spec's input on the device.
"""

from __future__ import annotations

import gzip
import hashlib
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from archc.train.errors import TrainError

#: named datasets: where they are looked for when --data-dir is not given
KNOWN_DIRS = {
    "fashion-mnist": ["/usr/share/datasets/fashion-mnist", "~/.cache/archc/fashion-mnist"],
    "mnist": ["/usr/share/datasets/mnist", "~/.cache/archc/mnist"],
}
FASHION_MNIST_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                         "Ankle boot"]
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".ppm", ".pgm", ".tif", ".tiff"}
SYNTHETIC_SIZES = (12800, 1280)  # train, test images when --subset / --test-subset are not given
_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}

Shape = tuple[int, int, int]


class Split(Protocol):
    """One split of a dataset: ``len``, the stored image shape, and batches by index."""

    shape: Shape

    def __len__(self) -> int: ...

    def labels(self) -> np.ndarray: ...

    def batch(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...


@dataclass
class ArraySplit:
    """Images held in memory: ``x`` uint8 [N, C, H, W], ``y`` int64 [N]."""

    x: np.ndarray
    y: np.ndarray

    @property
    def shape(self) -> Shape:
        return tuple(self.x.shape[1:])  # type: ignore[return-value]

    def __len__(self) -> int:
        return len(self.y)

    def labels(self) -> np.ndarray:
        return self.y

    def batch(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.x[indices], self.y[indices]

    def take(self, indices: np.ndarray) -> ArraySplit:
        return ArraySplit(self.x[indices], self.y[indices])


@dataclass
class FolderSplit:
    """Image files decoded on demand with Pillow, converted to L or RGB and resized to ``shape``."""

    files: list[Path]
    y: np.ndarray
    shape: Shape

    def __len__(self) -> int:
        return len(self.files)

    def labels(self) -> np.ndarray:
        return self.y

    def batch(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return np.stack([self._decode(self.files[i]) for i in indices]), self.y[indices]

    def take(self, indices: np.ndarray) -> FolderSplit:
        return FolderSplit([self.files[i] for i in indices], self.y[indices], self.shape)

    def _decode(self, path: Path) -> np.ndarray:
        from PIL import Image

        channels, height, width = self.shape
        try:
            with Image.open(path) as image:
                image = image.convert("L" if channels == 1 else "RGB")
                if image.size != (width, height):
                    image = image.resize((width, height), Image.Resampling.BILINEAR)
                array = np.asarray(image, dtype=np.uint8)
        except (OSError, ValueError, Image.DecompressionBombError) as exc:  # UnidentifiedImageError is an OSError
            cause = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc).split(" '")[0]
            raise TrainError(f"{path}: not an image Pillow can read ({cause})") from None
        return array[None] if channels == 1 else array.transpose(2, 0, 1)


@dataclass
class SyntheticSplit:
    """Random images for throughput runs: ``size`` samples drawn from a pool of 64 fixed random images."""

    size: int
    shape: Shape
    num_classes: int
    seed: int = 0
    pool: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        rng = np.random.default_rng(self.seed)
        self.pool = rng.integers(0, 256, size=(64, *self.shape), dtype=np.uint8)

    def __len__(self) -> int:
        return self.size

    def labels(self) -> np.ndarray:
        return np.arange(self.size, dtype=np.int64) % self.num_classes

    def batch(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        indices = np.asarray(indices)
        return self.pool[indices % len(self.pool)], indices.astype(np.int64) % self.num_classes

    def take(self, indices: np.ndarray) -> SyntheticSplit:
        return SyntheticSplit(len(indices), self.shape, self.num_classes, self.seed)


AnySplit = ArraySplit | FolderSplit | SyntheticSplit


@dataclass
class Dataset:
    """A train and a held-out split with their common image shape and class names."""

    name: str
    train: AnySplit
    test: AnySplit
    classes: list[str]
    source: str = ""

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def shape(self) -> Shape:
        return self.train.shape


# ---------------------------------------------------------------------------------------------------------- IDX files


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (the MNIST format), gzipped (.gz) or raw, into a numpy array."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        data = handle.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_TYPES:
        raise TrainError(f"{path}: not an IDX file (bad magic number {data[:4].hex()})")
    ndim = data[3]
    header = 4 + 4 * ndim
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = np.dtype(_IDX_TYPES[data[2]])
    expected = header + int(np.prod(dims)) * dtype.itemsize
    if len(data) != expected:
        raise TrainError(f"{path}: IDX header says {dims} ({expected} bytes) but the file has {len(data)} bytes")
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(dims).astype(dtype.newbyteorder("="))


def _idx_file(folder: Path, stem: str) -> Path | None:
    """``train-images-idx3-ubyte`` and its variants: .gz or raw, '-' or '.' before idx."""
    for name in (stem, stem.replace("-idx", ".idx")):
        for suffix in (".gz", ""):
            path = folder / f"{name}{suffix}"
            if path.is_file():
                return path
    return None


def has_idx_files(folder: Path) -> bool:
    return _idx_file(folder, "train-images-idx3-ubyte") is not None


def load_idx_dataset(folder: Path, name: str) -> Dataset:
    """The four IDX files of MNIST / Fashion-MNIST in ``folder``."""
    arrays = {}
    for key, stem in [("x_train", "train-images-idx3-ubyte"), ("y_train", "train-labels-idx1-ubyte"),
                      ("x_test", "t10k-images-idx3-ubyte"), ("y_test", "t10k-labels-idx1-ubyte")]:
        path = _idx_file(folder, stem)
        if path is None:
            raise TrainError(f"{folder}: missing {stem}[.gz] (the IDX files of {name})")
        arrays[key] = read_idx(path)
    train = ArraySplit(arrays["x_train"][:, None].astype(np.uint8), arrays["y_train"].astype(np.int64))
    test = ArraySplit(arrays["x_test"][:, None].astype(np.uint8), arrays["y_test"].astype(np.int64))
    _check_pair(train, test, str(folder))
    count = int(max(train.y.max(), test.y.max())) + 1
    classes = FASHION_MNIST_CLASSES if name == "fashion-mnist" else [str(i) for i in range(count)]
    return Dataset(name, train, test, classes, str(folder))


# ------------------------------------------------------------------------------------------------------- .npz arrays


def _as_nchw(x: np.ndarray, path: Path, key: str) -> np.ndarray:
    """[N, H, W] -> [N, 1, H, W]; [N, H, W, C] with C in (1, 3, 4) and not [N, C, H, W] -> NCHW; float -> uint8."""
    if x.ndim == 3:
        x = x[:, None]
    elif x.ndim == 4 and x.shape[-1] in (1, 3, 4) and x.shape[1] not in (1, 3, 4):
        x = x.transpose(0, 3, 1, 2)
    elif x.ndim != 4:
        raise TrainError(f"{path}: {key} has shape {list(x.shape)}; expected [N, H, W], [N, H, W, C] or [N, C, H, W]")
    if x.dtype != np.uint8:
        if np.issubdtype(x.dtype, np.floating) and x.size and float(x.max()) <= 1.0 + 1e-6:
            x = x * 255.0
        x = np.clip(np.rint(x), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(x)


def load_npz_dataset(path: Path) -> Dataset:
    """A .npz file with x_train, y_train, x_test, y_test (images as uint8 or floats in [0, 1])."""
    try:
        data = np.load(path, allow_pickle=False)  # a pickle in an .npz could run code: refused
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise TrainError(f"{path}: not an .npz archive of arrays ({str(exc).split('. ')[0]})") from None
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise TrainError(f"{path}: a single .npy array, not an .npz archive with x_train, y_train, x_test, y_test")
    with data:
        missing = [k for k in ("x_train", "y_train", "x_test", "y_test") if k not in data]
        if missing:
            raise TrainError(f"{path}: missing arrays {', '.join(missing)} (has {', '.join(data.files) or 'none'})")
        try:
            train = ArraySplit(_as_nchw(data["x_train"], path, "x_train"), _labels(data["y_train"]))
            test = ArraySplit(_as_nchw(data["x_test"], path, "x_test"), _labels(data["y_test"]))
        except (ValueError, TypeError, OSError, zipfile.BadZipFile) as exc:  # object arrays, torn members
            raise TrainError(f"{path}: cannot read its arrays ({str(exc).split('. ')[0]})") from None
    _check_pair(train, test, str(path))
    count = int(max(train.y.max(), test.y.max())) + 1
    return Dataset(path.stem, train, test, [str(i) for i in range(count)], str(path))


def _labels(array: np.ndarray) -> np.ndarray:
    return array.reshape(-1).astype(np.int64)


def _check_pair(train: ArraySplit, test: ArraySplit, where: str) -> None:
    for split_name, split in (("train", train), ("test", test)):
        if len(split.x) != len(split.y):
            raise TrainError(f"{where}: {split_name} has {len(split.x)} images but {len(split.y)} labels")
        if len(split.y) == 0:
            raise TrainError(f"{where}: the {split_name} split is empty")
        if split.y.min() < 0:
            raise TrainError(f"{where}: {split_name} labels must be class indices >= 0")
    if train.shape != test.shape:
        raise TrainError(f"{where}: train images are {list(train.shape)} but test images are {list(test.shape)}")


# -------------------------------------------------------------------------------------------- class-per-folder images


def _scan_classes(folder: Path) -> dict[str, list[Path]]:
    classes = {}
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        files = sorted(p for p in sub.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        if files:
            classes[sub.name] = files
    return classes


def load_folder_dataset(folder: Path, shape: Shape, seed: int, test_fraction: float = 0.1) -> Dataset:
    """ImageFolder layout: ``train/<class>/*.png`` and ``test/<class>/`` (or ``val/``); without train/, one
    ``<class>/`` level and a seeded held-out split of ``test_fraction`` per class. Images are decoded at ``shape``."""
    held_out = next((folder / n for n in ("test", "val", "valid") if (folder / n).is_dir()), None)
    if (folder / "train").is_dir() and held_out is not None:
        train_classes = _scan_classes(folder / "train")
        test_classes = _scan_classes(held_out)
        names = sorted(train_classes)
        extra = sorted(set(test_classes) - set(names))
        if extra:
            raise TrainError(f"{held_out}: classes {', '.join(extra)} have no training images in {folder / 'train'}")
        train = _folder_split(train_classes, names, shape)
        test = _folder_split(test_classes, names, shape)
    else:
        classes = _scan_classes(folder)
        names = sorted(classes)
        rng = np.random.default_rng(seed)
        train_files: dict[str, list[Path]] = {}
        test_files: dict[str, list[Path]] = {}
        for label in names:
            files = classes[label]
            order = rng.permutation(len(files))
            count = max(1, round(len(files) * test_fraction)) if len(files) > 1 else 0
            test_files[label] = [files[i] for i in sorted(order[:count])]
            train_files[label] = [files[i] for i in sorted(order[count:])]
        train = _folder_split(train_files, names, shape)
        test = _folder_split(test_files, names, shape)
    if len(names) < 2:
        raise TrainError(f"{folder}: expected one sub-folder of images per class (at least two classes), "
                         f"found {len(names)}")
    if len(test) == 0:
        raise TrainError(f"{folder}: no held-out images (add a test/ folder or more images per class)")
    for split in (train, test):  # one image of each split now, so that a folder of non-images fails before a run
        split.batch(np.array([0]))
    return Dataset(folder.name, train, test, names, str(folder))


def _folder_split(classes: dict[str, list[Path]], names: list[str], shape: Shape) -> FolderSplit:
    files = [path for label in names for path in classes.get(label, [])]
    labels = [index for index, label in enumerate(names) for _ in classes.get(label, [])]
    return FolderSplit(files, np.asarray(labels, dtype=np.int64), shape)


# ----------------------------------------------------------------------------------------------------------- loading


def load_dataset(data: str, input_shape: tuple[int, ...], num_classes: int | None, data_dir: str | None = None,
                 subset: int | None = None, test_subset: int | None = None, seed: int = 0) -> Dataset:
    """Resolve ``--data`` (a name, an .npz file, an IDX folder or an image folder) and take the subsets.

    ``input_shape`` is the spec's input; it sizes synthetic images and image-folder decoding. ``num_classes`` (the
    spec's output width) sizes synthetic labels.
    """
    if data == "synthetic":
        if len(input_shape) != 3:
            raise TrainError(f"--data synthetic makes images; this spec's input is {list(input_shape)}")
        classes = [str(i) for i in range(num_classes or 10)]
        shape: Shape = tuple(input_shape)  # type: ignore[assignment]
        dataset = Dataset("synthetic", SyntheticSplit(subset or SYNTHETIC_SIZES[0], shape, len(classes), seed),
                          SyntheticSplit(test_subset or SYNTHETIC_SIZES[1], shape, len(classes), seed + 1), classes,
                          "synthetic")
        return dataset
    dataset = _load_named(data, data_dir) if data in KNOWN_DIRS else _load_path(Path(data), input_shape, seed)
    dataset.train = _take(dataset.train, subset, seed)
    dataset.test = _take(dataset.test, test_subset, seed + 1)
    return dataset


def _load_named(name: str, data_dir: str | None) -> Dataset:
    candidates = [Path(data_dir).expanduser()] if data_dir else [Path(p).expanduser() for p in KNOWN_DIRS[name]]
    for folder in candidates:
        if folder.is_dir() and has_idx_files(folder):
            return load_idx_dataset(folder, name)
    where = ", ".join(str(p) for p in candidates)
    hint = " (Debian: apt install dataset-fashion-mnist)" if name == "fashion-mnist" else ""
    raise TrainError(f"no {name} IDX files (train-images-idx3-ubyte[.gz], ...) in {where}; "
                     f"pass --data-dir FOLDER{hint}")


def _load_path(path: Path, input_shape: tuple[int, ...], seed: int) -> Dataset:
    if not path.exists():
        known = ", ".join([*KNOWN_DIRS, "synthetic"])
        raise TrainError(f"--data {path}: no such file or folder (known datasets: {known}; or an .npz file, an "
                         "IDX folder, or a folder of class sub-folders)")
    if path.is_file():
        if path.suffix != ".npz":
            raise TrainError(f"--data {path}: expected an .npz file with x_train, y_train, x_test, y_test")
        return load_npz_dataset(path)
    if has_idx_files(path):
        return load_idx_dataset(path, path.name)
    if len(input_shape) != 3:
        raise TrainError(f"--data {path}: image folders need a spec with a [C, H, W] input, not {list(input_shape)}")
    return load_folder_dataset(path, tuple(input_shape), seed)  # type: ignore[arg-type]


def _take(split: AnySplit, count: int | None, seed: int) -> AnySplit:
    """A seeded random subset of ``count`` samples (in their original order), or the split itself."""
    if count is None or count >= len(split):
        return split
    indices = np.sort(np.random.default_rng(seed).permutation(len(split))[:count])
    return split.take(indices)


def channel_stats(split: Split, seed: int = 0, max_samples: int = 10000) -> tuple[list[float], list[float]]:
    """Per-channel mean and standard deviation on the [0, 1] scale, from up to ``max_samples`` training images."""
    count = min(len(split), max_samples if not isinstance(split, FolderSplit) else 1000)
    indices = np.sort(np.random.default_rng(seed).permutation(len(split))[:count])
    x = split.batch(indices)[0].astype(np.float64) / 255.0
    mean = x.mean(axis=(0, 2, 3))
    std = np.maximum(x.std(axis=(0, 2, 3)), 1e-3)
    return [round(float(v), 6) for v in mean], [round(float(v), 6) for v in std]


# ---------------------------------------------------------------------------------------- input adaptation and crops


@dataclass(frozen=True)
class Adaptation:
    """How stored images become the spec's input: channel repeat, resize, or flatten to features."""

    data_shape: Shape
    input_shape: tuple[int, ...]
    repeat_channels: int = 1
    resize: tuple[int, int] | None = None
    flatten: bool = False

    def describe(self) -> str:
        steps = []
        if self.repeat_channels > 1:
            steps.append(f"channels 1->{self.repeat_channels} (repeated)")
        if self.resize:
            steps.append(f"resized {self.data_shape[1]}x{self.data_shape[2]}->{self.resize[0]}x{self.resize[1]}")
        if self.flatten:
            steps.append(f"flattened to [{self.input_shape[0]}]")
        return ", ".join(steps) or "as stored"


def plan_adaptation(data_shape: Shape, input_shape: tuple[int, ...]) -> Adaptation:
    """Check that images of ``data_shape`` can feed a spec whose input is ``input_shape``; TrainError where not."""
    channels = data_shape[0]
    if len(input_shape) == 1:
        if int(np.prod(data_shape)) != input_shape[0]:
            raise TrainError(f"the spec takes [{input_shape[0]}] features; images of {list(data_shape)} flatten to "
                             f"{int(np.prod(data_shape))}")
        return Adaptation(data_shape, input_shape, flatten=True)
    if len(input_shape) != 3:
        raise TrainError(f"cannot feed images of {list(data_shape)} to an input of shape {list(input_shape)}")
    want_channels, height, width = input_shape
    repeat = 1
    if want_channels != channels:
        if channels != 1:
            raise TrainError(f"the spec takes {want_channels}-channel images but the data has {channels} channels "
                             "(only 1 channel can be repeated to fit)")
        repeat = want_channels
    resize = None if (height, width) == tuple(data_shape[1:]) else (height, width)
    return Adaptation(data_shape, input_shape, repeat, resize)


def augmentation_seed(seed: int, epoch: int, step: int) -> int:
    """A seed per (run seed, epoch, step): a resumed run draws the same crops and flips as an uninterrupted one."""
    digest = hashlib.blake2b(f"{seed}:{epoch}:{step}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & 0x7FFF_FFFF_FFFF_FFFF


def augmentation_params(seed: int, epoch: int, step: int, count: int, pad: int,
                        hflip: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Crop offsets (in [0, 2*pad]) and flip flags for the ``count`` images of one global batch."""
    rng = np.random.default_rng(augmentation_seed(seed, epoch, step))
    offsets = rng.integers(0, 2 * pad + 1, size=(2, count)) if pad else np.full((2, count), 0)
    flips = rng.random(count) < 0.5 if hflip else np.zeros(count, dtype=bool)
    return offsets[0], offsets[1], flips


def augment_numpy(x: np.ndarray, top: np.ndarray, left: np.ndarray, flips: np.ndarray, pad: int) -> np.ndarray:
    """Random crop after zero padding by ``pad``, and horizontal flips, of a uint8 [N, C, H, W] batch."""
    if pad:
        height, width = x.shape[2:]
        padded = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
        rows = top[:, None] + np.arange(height)[None]
        cols = left[:, None] + np.arange(width)[None]
        n = np.arange(len(x))[:, None, None, None]
        c = np.arange(x.shape[1])[None, :, None, None]
        x = padded[n, c, rows[:, None, :, None], cols[:, None, None, :]]
    if flips.any():
        x = np.where(flips[:, None, None, None], x[..., ::-1], x)
    return x
