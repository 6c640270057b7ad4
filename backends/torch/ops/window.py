"""Swin ops as torchvision's SwinTransformer computes them, written with torch ops only (the built model does not
need torchvision): tokens [B, N, D] are viewed as the square [B, H, W, D] grid torchvision keeps throughout."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from archc.backends.torch.registry import Call, Lowered, LoweringNode, Module, register_lowering


def as_grid(x: torch.Tensor) -> torch.Tensor:
    """[B, N, D] -> [B, side, side, D], the tokens read row by row."""
    side = math.isqrt(x.shape[1])
    return x.reshape(x.shape[0], side, side, x.shape[2])


def relative_position_index(window: int) -> torch.Tensor:
    """For each pair of positions of a window, the row of the bias table of their offset (torchvision's)."""
    coords = torch.stack(torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij")).flatten(1)
    offsets = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + (window - 1)
    return (offsets[:, :, 0] * (2 * window - 1) + offsets[:, :, 1]).flatten()


def shift_mask(pad: int, window: int, shift: int, device: torch.device) -> torch.Tensor:
    """[windows, w^2, w^2]: -100 between positions that the roll brought together from opposite seams, else 0."""
    regions = torch.zeros((pad, pad), device=device)
    slices = ((0, -window), (-window, -shift), (-shift, None))
    for i, (h, w) in enumerate((h, w) for h in slices for w in slices):
        regions[h[0]:h[1], w[0]:w[1]] = i
    regions = regions.view(pad // window, window, pad // window, window).permute(0, 2, 1, 3).reshape(-1, window ** 2)
    differ = regions.unsqueeze(1) - regions.unsqueeze(2)
    return differ.masked_fill(differ != 0, -100.0).masked_fill(differ == 0, 0.0)


class ShiftedWindowAttention(nn.Module):
    """torchvision's ShiftedWindowAttention over [B, N, D] tokens of a square grid, with its tensor names."""

    def __init__(self, dim: int, window: int, shift: int, heads: int, attention_dropout: float = 0.0,
                 dropout: float = 0.0, device=None) -> None:
        super().__init__()
        self.window, self.shift, self.heads = window, shift, heads
        self.attention_dropout, self.dropout = attention_dropout, dropout
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * window - 1) ** 2, heads, device=device))
        self.register_buffer("relative_position_index", relative_position_index(window).to(device))
        self.qkv = nn.Linear(dim, 3 * dim, device=device)
        self.proj = nn.Linear(dim, dim, device=device)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = as_grid(tokens)
        batch, side, _, dim = x.shape
        w = self.window
        pad = (side + w - 1) // w * w  # not -(-side // w): traced to ONNX, integer division truncates
        shift = 0 if w >= pad else self.shift  # a window covering the padded grid has nothing to shift
        x = torch.roll(F.pad(x, (0, 0, 0, pad - side, 0, pad - side)), shifts=(-shift, -shift), dims=(1, 2))
        x = self.proj_dropout(self.proj(self.attend(partition(x, w), pad, shift)))
        x = torch.roll(unpartition(x, w, batch, pad), shifts=(shift, shift), dims=(1, 2))
        return x[:, :side, :side, :].reshape(batch, side * side, dim)

    def attend(self, x: torch.Tensor, pad: int, shift: int) -> torch.Tensor:
        """Multi-head attention within each window of [windows * B, w^2, D], with the relative position bias."""
        w, heads, (count, _, dim) = self.window, self.heads, x.shape
        qkv = self.qkv(x).reshape(count, w * w, 3, heads, dim // heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0] * (dim // heads) ** -0.5, qkv[1], qkv[2]
        bias = self.relative_position_bias_table[self.relative_position_index].view(w * w, w * w, -1)
        attn = q.matmul(k.transpose(-2, -1)) + bias.permute(2, 0, 1).unsqueeze(0)
        if shift:
            mask = shift_mask(pad, w, shift, x.device)
            attn = attn.view(-1, mask.shape[0], heads, w * w, w * w) + mask[None, :, None]
            attn = attn.view(count, heads, w * w, w * w)
        attn = F.dropout(F.softmax(attn, dim=-1), p=self.attention_dropout, training=self.training)
        return attn.matmul(v).transpose(1, 2).reshape(count, w * w, dim)

    def proj_dropout(self, x: torch.Tensor) -> torch.Tensor:
        return F.dropout(x, p=self.dropout, training=self.training)


def partition(x: torch.Tensor, w: int) -> torch.Tensor:
    """[B, P, P, D] -> [B * (P / w)^2, w * w, D]: the w x w windows, row by row, each row by row."""
    batch, pad, _, dim = x.shape
    x = x.view(batch, pad // w, w, pad // w, w, dim).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(batch * (pad // w) ** 2, w * w, dim)


def unpartition(x: torch.Tensor, w: int, batch: int, pad: int) -> torch.Tensor:
    """The inverse of partition: [B * (P / w)^2, w * w, D] -> [B, P, P, D]."""
    x = x.view(batch, pad // w, pad // w, w, w, x.shape[-1]).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(batch, pad, pad, -1)


class PatchMerging(nn.Module):
    """torchvision's PatchMerging over [B, N, D] tokens of a square grid: reduction before norm, as its keys."""

    def __init__(self, dim: int, eps: float = 1e-5, device=None) -> None:
        super().__init__()
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False, device=device)
        self.norm = nn.LayerNorm(4 * dim, eps=eps, device=device)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = as_grid(tokens)
        side = x.shape[1]
        x = F.pad(x, (0, 0, 0, side % 2, 0, side % 2))
        x = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], -1)
        return self.reduction(self.norm(x.flatten(1, 2)))


@register_lowering("window_attention")
def lower_window_attention(node: LoweringNode) -> Module:
    a = node.attrs
    return Module(ShiftedWindowAttention, (node.input_shapes[0][-1], a.window, a.shift, a.heads),
                  {"attention_dropout": a.attention_dropout, "dropout": a.dropout})


@register_lowering("patch_merging")
def lower_patch_merging(node: LoweringNode) -> Module:
    return Module(PatchMerging, (node.input_shapes[0][-1],), {"eps": node.attrs.eps})


@register_lowering("token_mean")
def lower_token_mean(node: LoweringNode) -> Lowered:
    return Call("mean", args=(1,), method=True)
