"""A faster evaluation of ``SideJPEGNet.restore`` with the same weights (``Codec(fast=True)``).

The float result differs from the exact fp32 path only by rounding (about 1e-6 on CPU), which
costs nothing measurable in PSNR; the exact path stays available with ``Codec(fast=False)``.

* CPU: channels-last tensors and oneDNN convolutions with fused post-ops, so the ReLUs, the
  multiplicative modulation ``x * (1 + W a)`` and the residual additions of every block run
  inside the convolutions instead of as separate passes over memory. Where those oneDNN entry
  points are missing (older or non-x86 builds of torch) the same graph runs on public torch ops
  with channels-last tensors and in-place element-wise steps.
* CUDA: the public-op graph under fp16 autocast (channels-last); a tile whose fp16 result is
  not finite is redone in fp32.
* Descriptor extraction (the encoder side) runs the same fused convolutions; the difference
  branch ``f_ori - f_rec`` is folded into the weights of the first downsampling convolution, so
  it is never computed, nor the concatenation. Its symbols are the argmax of logits that move
  by about 1e-7, so a block whose two best symbols tie to that precision may be coded
  differently than by the exact path; either map is a valid sidecar.

The graphs mirror ``Restorer.forward``, ``ArtifactFeatureMapping.forward`` and
``DescriptorExtractor.forward``. A construction self-check compares each with the exact module on a
small input and, if they disagree (say, after a change to the models that this module does not know
about), its ``ok`` is False and the codec keeps using the exact path.
"""

from __future__ import annotations

import warnings

import torch
from torch import nn
from torch.nn import functional as F

from engine.conditioning import JPEG_COND
from engine.models.corrections import block_errors, select_per_block
from engine.models.extractor import DescriptorExtractor
from engine.models.layers import cond_planes
from engine.models.sidejpeg import EncoderPass, SideJPEGNet

SELF_CHECK_TOLERANCE = 1e-3
"""Largest difference (0-1 pixel scale) the fast graph may show against fp32 in the self-check."""


def _mkldnn_available() -> bool:
    ops = getattr(torch.ops, "mkldnn", None)
    try:
        return ops is not None and hasattr(ops, "_convolution_pointwise") and torch.backends.mkldnn.is_available()
    except RuntimeError:
        return False


class _Conv:
    """One convolution's weights, prepared once, with an optional fused post-op.

    ``post`` is None, "relu", "add" (``+ other``) or "mul" (``* other``); ``scale`` multiplies the
    whole output and ``shift`` is added to the bias (used to fold constants of the model in).
    """

    def __init__(self, conv: nn.Conv2d, fused: bool, scale: float = 1.0, shift: float = 0.0) -> None:
        weight = conv.weight.detach() * scale
        bias = conv.bias.detach() * scale if conv.bias is not None else torch.zeros(conv.out_channels)
        self.weight = weight.contiguous(memory_format=torch.channels_last) if fused else weight
        self.bias = (bias + shift).to(weight.device)
        self.padding = list(conv.padding)
        self.stride = list(conv.stride)
        self.dilation = list(conv.dilation)
        self.groups = conv.groups
        self.fused = fused

    def __call__(self, x: torch.Tensor, post: str | None = None, other: torch.Tensor | None = None) -> torch.Tensor:
        if self.fused:
            ops = torch.ops.mkldnn
            args = (self.padding, self.stride, self.dilation, self.groups)
            if post in ("add", "mul"):
                return ops._convolution_pointwise.binary(
                    x, other, self.weight, self.bias, *args, post, None, None, [], None
                )
            return ops._convolution_pointwise(x, self.weight, self.bias, *args, post or "none", [], "")
        y = F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)
        if post == "relu":
            return y.relu_()
        if post == "add":
            return y.add_(other)
        if post == "mul":
            return y.mul_(other)
        return y


def _conv(layer: nn.Module, fused: bool, scale: float = 1.0, shift: float = 0.0) -> _Conv:
    if not isinstance(layer, nn.Conv2d):
        raise TypeError(f"expected a Conv2d, found {type(layer).__name__}")
    return _Conv(layer, fused, scale, shift)


class _CheckedGraph:
    """A hand-built graph of a module that proves itself on construction: it tries the fused oneDNN
    convolutions, then public torch ops, and keeps the first that matches the exact module
    (``ok``); if none does, the caller keeps the exact module."""

    def __init__(self, device: torch.device, what: str) -> None:
        self.device = device
        self.ok = False
        problem = "its result differs from the exact graph"
        for fused in (True, False) if device.type == "cpu" and _mkldnn_available() else (False,):
            try:
                self._prepare(fused)
                self.fused = fused
                if self._self_check():
                    self.ok = True
                    return
            except Exception as exc:  # any surprise in the model's structure or in torch's ops: stay exact
                problem = f"{type(exc).__name__}: {exc}"
        self.fused = False
        warnings.warn(f"fast {what} path disabled ({problem}); using the exact one", RuntimeWarning, stacklevel=4)

    def _prepare(self, fused: bool) -> None:
        raise NotImplementedError

    def _self_check(self) -> bool:
        raise NotImplementedError


def _close(got: torch.Tensor, want: torch.Tensor) -> bool:
    return got.shape == want.shape and bool((got.float() - want).abs().max() <= SELF_CHECK_TOLERANCE)


class FastRestorer(_CheckedGraph):
    """``net.restore(jpeg, cond, symbols)`` on channels-last tensors with fused convolutions."""

    def __init__(self, net: SideJPEGNet, device: torch.device) -> None:
        self.half = device.type == "cuda"
        self.net = net
        super().__init__(device, "restore")

    def _prepare(self, fused: bool) -> None:
        def conv(layer: nn.Module, scale: float = 1.0, shift: float = 0.0) -> _Conv:
            return _conv(layer, fused, scale, shift)

        net = self.net
        mapping, restorer = net.mapping, net.restorer
        self.symbols = net.config.symbols
        self.embed = [conv(mapping.embed[0]), conv(mapping.embed[2])]
        self.up = [(conv(mapping.up2[0]), mapping.up2[1].upscale_factor)]
        if not isinstance(mapping.up_rest, nn.Identity):
            self.up.append((conv(mapping.up_rest[0]), mapping.up_rest[1].upscale_factor))
        self.map_out = conv(mapping.out)
        self.scale = restorer.scale
        self.head = conv(restorer.head)
        self.blocks = [
            (conv(b.modulation, shift=1.0), conv(b.body[0]), conv(b.body[2], scale=b.res_scale))
            for b in restorer.blocks
        ]
        self.body_end = conv(restorer.body_end)
        self.tail = conv(restorer.tail)
        corrections = restorer.corrections
        self.corrections = None if corrections is None else (conv(corrections.hidden), conv(corrections.out))

    def _self_check(self) -> bool:
        generator = torch.Generator().manual_seed(0)
        size = 32
        jpeg = torch.rand(1, 3, size, size, generator=generator).to(self.device)
        cond = torch.rand(1, 4, generator=generator).to(self.device)
        symbols = torch.randint(0, self.symbols, (1, size // 16, size // 16), generator=generator).to(self.device)
        with torch.inference_mode():
            for sym in (symbols, None):
                want = self.net.restore(jpeg, cond, sym)
                if not _close(self._forward(jpeg, cond, sym), want):
                    return False
        return True

    def __call__(self, jpeg: torch.Tensor, cond: torch.Tensor, symbols: torch.Tensor | None) -> torch.Tensor:
        if not self.half:
            return self._forward(jpeg, cond, symbols)
        with torch.autocast(self.device.type, dtype=torch.float16):
            out = self._forward(jpeg, cond, symbols).float()
        if not bool(torch.isfinite(out).all()):
            out = self._forward(jpeg, cond, symbols)
        return out

    def _forward(self, jpeg: torch.Tensor, cond: torch.Tensor, symbols: torch.Tensor | None) -> torch.Tensor:
        jpeg = jpeg.contiguous(memory_format=torch.channels_last)
        h = self._trunk(jpeg, cond, symbols)
        residual = self.tail(h)
        if symbols is not None and self.corrections is not None:
            residual = residual + select_per_block(self._candidates(h), symbols, self.symbols)
        return self.net.restorer.to_image(jpeg, residual)

    def encoder_pass(
        self, original: torch.Tensor, jpeg: torch.Tensor, cond: torch.Tensor, first: torch.Tensor
    ) -> EncoderPass:
        """``SideJPEGNet.encoder_pass`` given the extractor's map ``first`` (fp32 on every device)."""
        jpeg = jpeg.contiguous(memory_format=torch.channels_last)
        h = self._trunk(jpeg, cond, first)
        base = self.net.restorer.to_image(jpeg, self.tail(h))
        original = original.contiguous(memory_format=torch.channels_last)
        return EncoderPass(first, block_errors(self._candidates(h), self.symbols, self.scale, base, original), h, base)

    def predict(self, features: torch.Tensor, base: torch.Tensor, symbols: torch.Tensor) -> torch.Tensor:
        """``SideJPEGNet.predict``."""
        picked = select_per_block(self._candidates(features), symbols, self.symbols)
        return base + self.net.restorer.scaled_up(picked)

    def _candidates(self, h: torch.Tensor) -> torch.Tensor:
        hidden, out = self.corrections
        return out(hidden(h, "relu"))

    def _trunk(self, jpeg: torch.Tensor, cond: torch.Tensor, symbols: torch.Tensor | None) -> torch.Tensor:
        """The restorer's features after the body and its skip, channels-last."""
        artifact = None if symbols is None else self._mapping(symbols, cond, jpeg.dtype)
        x = jpeg - 0.5
        if self.scale > 1:
            x = F.pixel_unshuffle(x, self.scale)
        x = torch.cat([x, cond_planes(cond[:, :JPEG_COND], x.shape[2], x.shape[3]).to(x.dtype)], dim=1)
        h = skip = self.head(x.contiguous(memory_format=torch.channels_last))
        for modulation, first, second in self.blocks:
            inner = h if artifact is None else modulation(artifact, "mul", h)
            h = second(first(inner, "relu"), "add", h)
        return self.body_end(h, "add", skip)

    def _mapping(self, symbols: torch.Tensor, cond: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        one_hot = F.one_hot(symbols.long(), self.symbols).permute(0, 3, 1, 2).to(dtype)
        h = torch.cat([one_hot, cond_planes(cond, one_hot.shape[2], one_hot.shape[3]).to(dtype)], dim=1)
        h = h.contiguous(memory_format=torch.channels_last)
        for layer in self.embed:
            h = layer(h, "relu")
        for layer, factor in self.up:  # relu commutes with the pixel shuffle, so it is fused into the conv
            h = F.pixel_shuffle(layer(h, "relu"), factor).contiguous(memory_format=torch.channels_last)
        return self.map_out(h)


def _split_difference(layer: nn.Conv2d, features: int) -> tuple[nn.Conv2d, nn.Conv2d]:
    """A convolution of ``[a, b, a - b]`` as the sum of one convolution of ``a`` and one of ``b``."""
    weight = layer.weight.detach()
    on_a, on_b, on_diff = weight[:, :features], weight[:, features : 2 * features], weight[:, 2 * features :]
    parts = []
    for part, bias in ((on_a + on_diff, layer.bias), (on_b - on_diff, None)):
        conv = nn.Conv2d(features, layer.out_channels, layer.kernel_size, layer.stride, layer.padding,
                         bias=bias is not None).to(weight.device)
        conv.weight.data.copy_(part)
        if bias is not None:
            conv.bias.data.copy_(bias.detach())
        parts.append(conv)
    return parts[0], parts[1]


class FastExtractor(_CheckedGraph):
    """``DescriptorExtractor`` logits with fused convolutions and the difference branch folded away."""

    def __init__(self, extractor: DescriptorExtractor, device: torch.device) -> None:
        self.extractor = extractor
        super().__init__(device, "extraction")

    def _prepare(self, fused: bool) -> None:
        ex = self.extractor
        self.ori = [_conv(ex.ori[i], fused) for i in (0, 2, 4)]
        self.rec = [_conv(ex.rec[i], fused) for i in (0, 2, 4)]
        self.first_down = [_conv(part, fused) for part in _split_difference(ex.down[0], ex.ori[0].out_channels)]
        self.down = [_conv(layer, fused) for layer in ex.down[1:]]
        self.head = [_conv(ex.head[0], fused), _conv(ex.head[2], fused)]

    def _self_check(self) -> bool:
        generator = torch.Generator().manual_seed(0)
        original, jpeg = (torch.rand(1, 3, 32, 32, generator=generator).to(self.device) for _ in range(2))
        cond = torch.rand(1, 4, generator=generator).to(self.device)
        with torch.inference_mode():
            return _close(self.logits(original, jpeg, cond), self.extractor(original, jpeg, cond))

    @staticmethod
    def _branch(convs: list[_Conv], image: torch.Tensor) -> torch.Tensor:
        first, second, third = convs
        return third(second(first((image - 0.5).contiguous(memory_format=torch.channels_last), "relu"), "relu"))

    def logits(self, original: torch.Tensor, jpeg: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        from_ori, from_rec = self.first_down
        h = from_rec(self._branch(self.rec, jpeg), "add", from_ori(self._branch(self.ori, original))).relu_()
        for layer in self.down:
            h = layer(h, "relu")
        h = torch.cat([h, cond_planes(cond, h.shape[2], h.shape[3])], dim=1)
        first, second = self.head
        return second(first(h.contiguous(memory_format=torch.channels_last), "relu"))


class FastNet:
    """The fast versions of the parts of a model that the codec runs: the encoder (``extract``,
    ``encoder_pass``, ``predict``) and the decoder (``restore``).

    Weights are copied when this is built, as the codec's model id and integer coder are: a codec
    serves one fixed set of weights.
    """

    def __init__(self, net: SideJPEGNet, device: torch.device) -> None:
        restorer = FastRestorer(net, device)
        extractor = FastExtractor(net.extractor, device)
        self.restore_is_fast = restorer.ok
        self.extract_is_fast = extractor.ok
        self.restore = restorer if restorer.ok else net.restore
        self._restorer = restorer
        self._extractor = extractor
        self._net = net

    def extract(self, original: torch.Tensor, jpeg: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """``SideJPEGNet.extract``."""
        if not self.extract_is_fast:
            return self._net.extract(original, jpeg, cond)
        return self._extractor.logits(original, jpeg, cond).argmax(1)

    def encoder_pass(self, original: torch.Tensor, jpeg: torch.Tensor, cond: torch.Tensor) -> EncoderPass:
        """``SideJPEGNet.encoder_pass`` through the fast graphs."""
        if not self.restore_is_fast:
            return self._net.encoder_pass(original, jpeg, cond)
        return self._restorer.encoder_pass(original, jpeg, cond, self.extract(original, jpeg, cond))

    def predict(self, features: torch.Tensor, base: torch.Tensor, symbols: torch.Tensor) -> torch.Tensor:
        """``SideJPEGNet.predict`` through the fast graphs."""
        if not self.restore_is_fast:
            return self._net.predict(features, base, symbols)
        return self._restorer.predict(features, base, symbols)
