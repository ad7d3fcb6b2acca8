"""Small building blocks shared by the networks."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def fusion_available() -> bool:
    """Whether this torch has oneDNN's fused convolutions (x86 CPU builds do)."""
    ops = getattr(torch.ops, "mkldnn", None)
    return ops is not None and hasattr(ops, "_convolution_pointwise") and torch.backends.mkldnn.is_available()


class Conv(nn.Conv2d):
    """A convolution with what follows it written once: ``relu((scale * conv(x) + shift) + add or * mul)`` (one of
    ``add`` and ``mul`` at most).

    ``scale`` and ``shift`` are constants of the architecture (a residual scale, the 1 of ``1 + W a``). Training
    and any pass that needs gradients run the steps as separate torch ops. After ``prepare`` an inference pass
    on the CPU runs them as one oneDNN convolution, with the constants folded into its prepacked weights and the
    ReLU and ``mul`` as post-ops (``_fused``).
    """

    def __init__(
        self, in_ch: int, out_ch: int, kernel: int, stride: int = 1, padding: int = 0, scale: float = 1.0,
        shift: float = 0.0,
    ) -> None:
        super().__init__(in_ch, out_ch, kernel, stride=stride, padding=padding)
        self.scale, self.shift = scale, shift
        self.prepared: tuple[torch.Tensor, ...] | None = None
        """Folded, prepacked (weight, bias) pairs of the fused path; dropped by ``train()`` and ``load_state_dict``."""
        self.register_load_state_dict_post_hook(lambda module, _keys: module.unprepare())

    def prepare(self) -> None:
        """Fold the constants into prepacked copies of the weights (idempotent; the parameters stay as loaded).
        Only float32 weights on the CPU are prepared: elsewhere (CUDA, fp16) the plain ops run."""
        cpu_fp32 = self.weight.device.type == "cpu" and self.weight.dtype == torch.float32
        self.prepared = self._folded() if cpu_fp32 and fusion_available() else None

    def _folded(self) -> tuple[torch.Tensor, ...]:
        weight, bias = self.weight.detach(), self.bias.detach()
        return _packed(self, weight * self.scale, bias * self.scale + self.shift)

    def unprepare(self) -> None:
        self.prepared = None

    def train(self, mode: bool = True) -> Conv:
        if mode:
            self.unprepare()
        return super().train(mode)

    def __getstate__(self) -> dict:
        """A copy is unprepared: oneDNN's prepacked tensors cannot be copied."""
        return {**super().__getstate__(), "prepared": None}

    def forward(
        self, x: torch.Tensor, add: torch.Tensor | None = None, mul: torch.Tensor | None = None, relu: bool = False
    ) -> torch.Tensor:
        if self._fuses(x):
            return _fused(self, self.prepared, x, add, mul, relu)
        y = self._conv_forward(x, self.weight, self.bias)
        if self.scale != 1.0:
            y = y * self.scale
        if self.shift != 0.0:
            y = y + self.shift
        if add is not None:
            y = y + add
        if mul is not None:
            y = y * mul
        return F.relu(y) if relu else y

    def _fuses(self, x: torch.Tensor) -> bool:
        return (
            self.prepared is not None and not self.training and not torch.is_grad_enabled()
            and x.device.type == "cpu" and x.dtype == torch.float32
        )


def _args(layer: nn.Conv2d) -> tuple[list[int], list[int], list[int], int]:
    return list(layer.padding), list(layer.stride), list(layer.dilation), layer.groups


def _packed(layer: nn.Conv2d, weight: torch.Tensor, bias: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``weight`` reordered once into oneDNN's blocked layout (instead of at every call), and ``bias``."""
    hint = [1, weight.shape[1], 64, 64]
    return torch._C._nn.mkldnn_reorder_conv2d_weight(weight.contiguous().to_mkldnn(), *_args(layer), hint), bias


def _fused(
    layer: nn.Conv2d, prepared: tuple[torch.Tensor, ...], x: torch.Tensor, add: torch.Tensor | None,
    mul: torch.Tensor | None, relu: bool,
) -> torch.Tensor:
    """``relu(conv(x) + add or * mul)`` with ``prepared`` weights as one oneDNN convolution with post-ops, on
    channels-last tensors; except a residual ``add`` without ReLU, which an in-place add after the convolution
    does faster here than oneDNN's binary post-op (the same float32 sums; the trunk's residual blocks: about 4 %
    of a view, ``python -m benchmarks.view_ab``)."""
    weight, bias = prepared
    ops = torch.ops.mkldnn
    x = x.contiguous(memory_format=torch.channels_last)
    other, binary = (add, "add") if mul is None else (mul, "mul")
    if other is None or (binary == "add" and not relu):
        y = ops._convolution_pointwise(x, weight, bias, *_args(layer), "relu" if relu else "none", [], "")
        return y if other is None else y.add_(other)
    other = other.contiguous(memory_format=torch.channels_last)
    return ops._convolution_pointwise.binary(
        x, other, weight, bias, *_args(layer), binary, None, "relu" if relu else None, [], None
    )


def conv(in_ch: int, out_ch: int, kernel: int = 3, scale: float = 1.0, shift: float = 0.0) -> Conv:
    """A 'same'-padded convolution (for odd kernels)."""
    return Conv(in_ch, out_ch, kernel, padding=kernel // 2, scale=scale, shift=shift)


class ConvStack(nn.Sequential):
    """``nn.Sequential`` of ``Conv`` layers, the ReLUs after them and parameter-free layers (pixel shuffles), with
    each ReLU run inside the convolution before it; ``add`` is added to the output of the last layer, a ``Conv``.
    """

    def forward(self, x: torch.Tensor, add: torch.Tensor | None = None) -> torch.Tensor:
        layers = list(self)
        for i, layer in enumerate(layers):
            if isinstance(layer, Conv):
                last = i == len(layers) - 1
                x = layer(x, add=add if last else None, relu=not last and isinstance(layers[i + 1], nn.ReLU))
            elif not (i > 0 and isinstance(layer, nn.ReLU) and isinstance(layers[i - 1], Conv)):
                x = layer(x)
        return x


class DifferenceConv(Conv):
    """A convolution of ``[a, b, a - b]`` (channels concatenated), called as ``layer(a, b)``. Prepared, it runs as
    a convolution of ``a`` plus one of ``b``, their weights folded from the three parts of the weight, so
    neither the difference nor the concatenation is built."""

    def _folded(self) -> tuple[torch.Tensor, ...]:
        on_a, on_b, on_diff = self.weight.detach().chunk(3, dim=1)
        bias = self.bias.detach()
        return *_packed(self, on_a + on_diff, bias), *_packed(self, on_b - on_diff, torch.zeros_like(bias))

    def forward(self, a: torch.Tensor, b: torch.Tensor, relu: bool = False) -> torch.Tensor:
        if not self._fuses(a):
            return super().forward(torch.cat([a, b, a - b], dim=1), relu=relu)
        from_a = _fused(self, self.prepared[:2], a, None, None, False)
        return _fused(self, self.prepared[2:], b, from_a, None, relu)


def causal_mask(kernel: int) -> torch.Tensor:
    """Mask of a causal (raster order) kernel that excludes the centre: 'type A' in PixelCNN."""
    mask = torch.zeros(kernel, kernel)
    centre = kernel // 2
    mask[:centre, :] = 1
    mask[centre, :centre] = 1
    return mask


class MaskedConv2d(nn.Conv2d):
    """Convolution that only sees already-coded neighbours (rows above, left in the same row)."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int = 5) -> None:
        super().__init__(in_ch, out_ch, kernel, padding=kernel // 2)
        self.register_buffer("mask", causal_mask(kernel)[None, None], persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(x, self.weight * self.mask, self.bias)


def cond_planes(cond: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Broadcast a (B, K) conditioning vector to (B, K, H, W) constant planes."""
    return cond[:, :, None, None].expand(-1, -1, height, width)
