"""Data on the device for the torch loop: batches of a split (in-memory arrays indexed in place, image folders
through DataLoader workers), the epoch's DistributedSampler order, and the uint8 -> normalized float preprocessing
with crops and flips drawn per (seed, epoch, step)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from archc.train.data import Adaptation, FolderSplit
from archc.train.errors import TrainError
from archc.train.torch_device import Environment

DEVICE_DATA_LIMIT = 2 << 30  # in-memory datasets up to 2 GiB are copied to the accelerator once


class Preprocess:
    """uint8 batch on the device -> crops/flips -> float, normalized -> resized / channel-repeated / flattened."""

    def __init__(self, mean: list[float], std: list[float], adaptation: Adaptation, device: torch.device,
                 channels_last: bool):
        self.mean = torch.tensor(mean, device=device).view(1, -1, 1, 1) * 255.0
        self.inv_std = 1.0 / (torch.tensor(std, device=device).view(1, -1, 1, 1) * 255.0)
        self.adaptation = adaptation
        self.channels_last = channels_last

    def __call__(self, x: torch.Tensor, crop: int = 0, augment: tuple[torch.Tensor, ...] | None = None) -> torch.Tensor:
        if augment is not None:
            x = augment_batch(x, *augment, pad=crop)
        x = (x.float() - self.mean) * self.inv_std
        adaptation = self.adaptation
        if adaptation.resize is not None:
            downscale = adaptation.resize[0] < x.shape[2] or adaptation.resize[1] < x.shape[3]
            x = F.interpolate(x, size=adaptation.resize, mode="bilinear", align_corners=False, antialias=downscale)
        if adaptation.repeat_channels > 1:
            x = x.expand(-1, adaptation.repeat_channels, -1, -1)
        if adaptation.flatten:
            return x.reshape(len(x), -1)
        if self.channels_last:
            return x.contiguous(memory_format=torch.channels_last)
        return x.contiguous()


def augment_batch(x: torch.Tensor, top: torch.Tensor, left: torch.Tensor, flips: torch.Tensor,
                  pad: int) -> torch.Tensor:
    """Per-image random crop after zero padding, and horizontal flips, vectorized on the device (uint8)."""
    if pad:
        n, channels, height, width = x.shape
        padded = F.pad(x, (pad, pad, pad, pad))
        rows = (top[:, None] + torch.arange(height, device=x.device))[:, None, :, None]
        cols = (left[:, None] + torch.arange(width, device=x.device))[:, None, None, :]
        x = padded[torch.arange(n, device=x.device)[:, None, None, None],
                   torch.arange(channels, device=x.device)[None, :, None, None], rows, cols]
    return torch.where(flips[:, None, None, None], x.flip(-1), x)


class _BatchFetch(torch.utils.data.Dataset):
    """A map-style dataset whose items are whole batches (a list of indices in, (x, y) tensors out)."""

    def __init__(self, split: Any):
        self.split = split

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, indices: list[int]) -> Any:
        try:
            x, y = self.split.batch(np.asarray(indices))
        except TrainError as exc:  # raised in a worker, DataLoader would wrap it in its traceback text
            return str(exc)
        return torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(y)


class Source:
    """One split as batches on the device: in-memory arrays indexed in place (on the accelerator when they fit);
    image folders decoded by DataLoader workers."""

    def __init__(self, split: Any, device: torch.device, workers: int):
        self.split = split
        self.device = device
        self.workers = workers
        self.x: torch.Tensor | None = None
        self.y: torch.Tensor | None = None
        if not isinstance(split, FolderSplit):
            x = split.pool if hasattr(split, "pool") else split.x
            on_device = device.type != "cpu" and x.nbytes <= DEVICE_DATA_LIMIT
            self.x = torch.from_numpy(np.ascontiguousarray(x)).to(device if on_device else "cpu")
            self.y = torch.from_numpy(split.labels()).to(device if on_device else "cpu")

    def __len__(self) -> int:
        return len(self.split)

    def batches(self, index_batches: list[list[int]]) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        if self.x is None:
            yield from self._folder_batches(index_batches)
            return
        assert self.y is not None
        pool = len(self.x)
        for indices in index_batches:
            index = torch.as_tensor(indices, device=self.x.device)
            x, y = self.x[index % pool if pool != len(self.y) else index], self.y[index]
            yield x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)

    def _folder_batches(self, index_batches: list[list[int]]) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        loader = torch.utils.data.DataLoader(_BatchFetch(self.split), batch_size=None, sampler=index_batches,
                                             num_workers=self.workers, pin_memory=self.device.type == "cuda")
        for item in loader:
            if isinstance(item, str):
                raise TrainError(item)
            x, y = item
            yield x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)


def epoch_batches(size: int, global_batch: int, epoch: int, seed: int, env: Environment) -> list[list[int]]:
    """This rank's index batches of one epoch: DistributedSampler order, incomplete last batch dropped."""
    sampler = torch.utils.data.DistributedSampler(range(size), num_replicas=env.world_size, rank=env.rank,
                                                  shuffle=True, seed=seed, drop_last=True)
    sampler.set_epoch(epoch)
    indices = list(sampler)
    local = global_batch // env.world_size
    return [indices[i * local:(i + 1) * local] for i in range(len(indices) // local)]
