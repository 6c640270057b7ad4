"""Swin ops as torchvision's SwinTransformer computes them, written with torch ops only (the built model does not
need torchvision): tokens [B, N, D] are viewed as the square [B, H, W, D] grid torchvision keeps throughout."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from archc.backends.torch.registry import Call, Lowered, LoweringNode, Module, register_lowering
from archc.ops.window import CPB_HIDDEN, LOGIT_SCALE_INIT, LOGIT_SCALE_MAX


def as_grid(x: torch.Tensor) -> torch.Tensor:
    """[B, N, D] -> [B, side, side, D], the tokens read row by row."""
    side = math.isqrt(x.shape[1])
    return x.reshape(x.shape[0], side, side, x.shape[2])


def relative_position_index(window: int) -> torch.Tensor:
    """For each pair of positions of a window, the row of the bias table of their offset (torchvision's)."""
    coords = torch.stack(torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij")).flatten(1)
    offsets = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + (window - 1)
    return (offsets[:, :, 0] * (2 * window - 1) + offsets[:, :, 1]).flatten()


def relative_coords_table(window: int) -> torch.Tensor:
    """[1, 2w - 1, 2w - 1, 2]: each relative offset, scaled to [-8, 8] and log-spaced (Swin V2, torchvision's)."""
    offsets = torch.arange(-(window - 1), window, dtype=torch.float32) / max(window - 1, 1) * 8
    table = torch.stack(torch.meshgrid(offsets, offsets, indexing="ij")).permute(1, 2, 0).unsqueeze(0)
    return torch.sign(table) * torch.log2(torch.abs(table) + 1.0) / 3.0


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
                 dropout: float = 0.0, cosine: bool = False, position_bias: str = "table", device=None) -> None:
        super().__init__()
        self.window, self.shift, self.heads, self.cosine = window, shift, heads, cosine
        self.attention_dropout, self.dropout = attention_dropout, dropout
        # registered in torchvision's state_dict order: own parameters, own buffers, then the children
        if cosine:
            self.logit_scale = nn.Parameter(torch.full((heads, 1, 1), LOGIT_SCALE_INIT, device=device))
        self.cpb_mlp = None
        if position_bias == "table":
            self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * window - 1) ** 2, heads, device=device))
        else:
            self.register_buffer("relative_coords_table", relative_coords_table(window).to(device))
        self.register_buffer("relative_position_index", relative_position_index(window).to(device))
        self.qkv = nn.Linear(dim, 3 * dim, device=device)
        self.proj = nn.Linear(dim, dim, device=device)
        if position_bias == "mlp":
            self.cpb_mlp = nn.Sequential(nn.Linear(2, CPB_HIDDEN, device=device), nn.ReLU(),
                                         nn.Linear(CPB_HIDDEN, heads, bias=False, device=device))

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
        qkv = self.project_qkv(x).reshape(count, w * w, 3, heads, dim // heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        if self.cosine:
            scale = torch.clamp(self.logit_scale, max=LOGIT_SCALE_MAX).exp()
            attn = F.normalize(q, dim=-1).matmul(F.normalize(k, dim=-1).transpose(-2, -1)) * scale
        else:
            attn = (q * (dim // heads) ** -0.5).matmul(k.transpose(-2, -1))
        attn = attn + self.position_bias()
        if shift:
            mask = shift_mask(pad, w, shift, x.device)
            attn = attn.view(-1, mask.shape[0], heads, w * w, w * w) + mask[None, :, None]
            attn = attn.view(count, heads, w * w, w * w)
        attn = F.dropout(F.softmax(attn, dim=-1), p=self.attention_dropout, training=self.training)
        return attn.matmul(v).transpose(1, 2).reshape(count, w * w, dim)

    def project_qkv(self, x: torch.Tensor) -> torch.Tensor:
        """The qkv projection; with cosine attention the key third of its bias is held at zero (torchvision's V2)."""
        if not self.cosine:
            return self.qkv(x)
        bias = self.qkv.bias
        third = bias.shape[0] // 3
        return F.linear(x, self.qkv.weight, torch.cat([bias[:third], torch.zeros_like(bias[third:2 * third]),
                                                       bias[2 * third:]]))

    def position_bias(self) -> torch.Tensor:
        """[1, heads, w^2, w^2]: the learned table, or Swin V2's 16 * sigmoid of the MLP over the coordinates."""
        w = self.window
        table = self.relative_position_bias_table if self.cpb_mlp is None else self.cpb_mlp(
            self.relative_coords_table).view(-1, self.heads)
        bias = table[self.relative_position_index].view(w * w, w * w, -1).permute(2, 0, 1).unsqueeze(0)
        return bias if self.cpb_mlp is None else 16 * torch.sigmoid(bias)

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

    def __init__(self, dim: int, eps: float = 1e-5, norm: str = "before", device=None) -> None:
        super().__init__()
        self.norm_after = norm == "after"  # Swin V2's PatchMergingV2: the norm over the reduced 2D features
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False, device=device)
        self.norm = nn.LayerNorm((2 if self.norm_after else 4) * dim, eps=eps, device=device)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = as_grid(tokens)
        side = x.shape[1]
        x = F.pad(x, (0, 0, 0, side % 2, 0, side % 2))
        x = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], -1)
        x = x.flatten(1, 2)
        return self.norm(self.reduction(x)) if self.norm_after else self.reduction(self.norm(x))


@register_lowering("window_attention")
def lower_window_attention(node: LoweringNode) -> Module:
    a = node.attrs
    return Module(ShiftedWindowAttention, (node.input_shapes[0][-1], a.window, a.shift, a.heads),
                  {"attention_dropout": a.attention_dropout, "dropout": a.dropout, "cosine": a.cosine,
                   "position_bias": a.position_bias})


@register_lowering("patch_merging")
def lower_patch_merging(node: LoweringNode) -> Module:
    return Module(PatchMerging, (node.input_shapes[0][-1],), {"eps": node.attrs.eps, "norm": node.attrs.norm})


@register_lowering("token_mean")
def lower_token_mean(node: LoweringNode) -> Lowered:
    return Call("mean", args=(1,), method=True)
