"""The encoder's half of the codec: choose the descriptor map to send, check what the decoder makes of it, and
fit the image's adaptation to what the decoder still gets wrong."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch

from engine.coding import adaptation as adapt
from engine.coding import wavefront
from engine.coding.integer_context import IntegerContextModel
from engine.conditioning import Conditioning
from engine.config import BLOCK, rd_multiplier
from engine.constraint import Constraint
from engine.inference import Inference, Observer, shown, tile_map
from engine.models.adaptation import adapted, basis_parts, basis_size
from engine.models.corrections import block_mask
from engine.tiling import Box, CancelEvent, Progress, Tile, image_box, padded_crop

Preview = Callable[[np.ndarray], None]
"""Receives an (H, W, 3) uint8 image that a later result replaces."""

HELD_BYTES = 512 * 2**20
"""The encoder holds what the decoder computed for each tile (trunk features, restored image) up to this many
bytes, about 9 megapixels with ``fast``: then the adaptation it fits is applied without decoding again."""


@dataclass(frozen=True)
class Encoded:
    """The map the encoder sends and the image the decoder restores with it."""

    symbols: np.ndarray
    restored: np.ndarray
    adaptation: adapt.Adaptation = adapt.NOTHING
    adaptation_gain_db: float = 0.0
    """PSNR (RGB) the adaptation adds to the decoder's image."""
    unconstrained: bool = False
    """The decoder is to show this image without the quantisation constraint (the sidecar's flag)."""
    shows_blind: bool = False
    """The decoder is to show this image as blind decoding does (the sidecar's flag ``SHOWS_BLIND``)."""


STAGE_SHARES = (0.49, 0.45, 0.06)
"""Shares of an encode's time: the choice (extractor, trunk, candidates, RDO), the decoder check (with the
adaptation's statistics) and the adaptation; measured on the 768x512 sample with ``fast`` on a 2-core CPU.
Without the adaptation the first two share the whole."""


def _stage(progress: Progress | None, index: int, shares: tuple[float, ...]) -> Progress | None:
    """Progress of stage ``index`` of stages taking these ``shares`` of the time, in thousandths of the whole."""
    if progress is None:
        return None
    start, span = sum(shares[:index]) / sum(shares), shares[index] / sum(shares)
    return lambda done, total: progress(round(1000 * (start + span * done / max(total, 1))), 1000)


def block_sse(image: np.ndarray, original: np.ndarray) -> np.ndarray:
    """Squared error (0-255 scale) of every 16x16 block, (H16, W16); the padding beyond the image counts 0.

    A block's sum is at most 16 * 16 * 3 * 255^2 < 2^31, so it is summed in 32-bit integers (faster) and
    returned in 64-bit ones, whose totals over any image do not overflow."""
    diff = np.square(image.astype(np.int32) - original.astype(np.int32)).sum(axis=2, dtype=np.int32)
    h, w = diff.shape
    diff = np.pad(diff, ((0, -h % BLOCK), (0, -w % BLOCK)))
    rows = diff.reshape(diff.shape[0] // BLOCK, BLOCK, -1).sum(axis=1, dtype=np.int32)
    return rows.reshape(rows.shape[0], -1, BLOCK).sum(axis=2, dtype=np.int64)


def jpeg_where_worse(image: np.ndarray, decoded: np.ndarray, original: np.ndarray) -> np.ndarray:
    """``image`` with the JPEG's own pixels in every 16x16 block where it is worse than the JPEG."""
    worse = block_sse(image, original) > block_sse(decoded, original)
    mask = worse.repeat(BLOCK, axis=0).repeat(BLOCK, axis=1)[: image.shape[0], : image.shape[1], None]
    return np.where(mask, decoded, image)


STRIP_ROWS = 64
"""Rows of a tile whose adaptation basis the encoder builds at once (about 40 MB for 1024 columns)."""


class _Held:
    """Each tile's restored image and trunk features from one decoder pass, while they fit ``HELD_BYTES``."""

    def __init__(self) -> None:
        self.room = HELD_BYTES
        self.tiles: dict[Box, tuple[torch.Tensor, torch.Tensor]] | None = {}

    def add(self, tile: Tile, restored: torch.Tensor, h: torch.Tensor) -> None:
        if self.tiles is None:
            return
        self.room -= sum(t.numel() * t.element_size() for t in (restored, h))
        if self.room < 0:
            self.tiles = None
        else:
            self.tiles[tile.outer] = (restored, h)


def fitting_strips(
    tile: Tile, jpeg: torch.Tensor, restored: torch.Tensor, h: torch.Tensor, original: torch.Tensor
) -> Iterator[tuple[slice, slice, torch.Tensor, torch.Tensor, torch.Tensor]]:
    """What the adaptation is fitted to over a tile's inner region, ``STRIP_ROWS`` rows at a time: the strip's
    image rows and columns, its trunk features per cell, the rest of its basis (``basis_parts``) and its
    remaining error (``original`` - ``restored``), for ``adapt.Statistics.add_cells``."""
    (a, b, c, d), (oa, _, oc, _) = tile.inner, tile.outer
    scale = restored.shape[-1] // h.shape[-1]
    cols, cells = slice(c - oc, d - oc), slice((c - oc) // scale, (d - oc) // scale)
    h, restored = h.float(), restored.float()
    remaining = original[0] - restored[0]
    for top in range(a, b, STRIP_ROWS):
        bottom = min(top + STRIP_ROWS, b)
        rows = slice(top - oa, bottom - oa)
        features, rest = basis_parts(h, restored, jpeg, rows)
        yield slice(top, bottom), slice(c, d), features[0, :, :, cells], rest[0, :, :, cols], remaining[:, rows, cols]


class Encoder:
    """Chooses descriptor maps for one model (``Codec.compress`` uses it)."""

    def __init__(self, inference: Inference, coder: IntegerContextModel, adapts: bool = True) -> None:
        self.inference = inference
        self.net = inference.net
        self.coder = coder
        self.adapts = adapts
        """Whether images get their own adaptation when it pays (``engine.coding.adaptation``)."""
        self.adaptation_lambda = math.inf
        """The highest lambda the adaptation is chosen at: none, its bits are priced at the sidecar's lambda.
        ``benchmarks/adaptation_lambda.py`` measures caps: lambda 1024's own curve gains with one, but the
        side curves' hull over lambdas does not (benchmarks README)."""
        self.basis_size = basis_size(self.net.config.trunk_features)

    def encode(
        self, original: np.ndarray, decoded: np.ndarray, conditioning: Conditioning, lam: float,
        progress: Progress | None = None, cancel: CancelEvent | None = None, preview: Preview | None = None,
        constraint: Constraint | None = None,
    ) -> Encoded:
        """The map (and adaptation) to send for a JPEG decode of ``original``, and what the decoder restores
        with them (within the JPEG's quantisation ``constraint``, as the decoder restores it, when given);
        ``preview`` receives the encoder's prediction of that image first (``predicted``)."""
        stages = STAGE_SHARES if self.adapts else STAGE_SHARES[:2]
        symbols = self.predicted(
            original, decoded, conditioning, lam, _stage(progress, 0, stages), cancel, preview, constraint
        )
        stats = adapt.Statistics.empty(self.basis_size) if self.adapts else None
        held = _Held()
        observe = None if stats is None else self._observer(original, decoded, symbols, stats, held)
        encoded = self.never_worse(
            original, decoded, conditioning, symbols, _stage(progress, 1, stages), cancel, observe, constraint
        )
        if stats is None or not np.array_equal(encoded.symbols, symbols):
            return encoded  # no adaptation, or the check changed the map the statistics were gathered for
        return self.adapt(
            original, decoded, conditioning, encoded, stats, lam, _stage(progress, 2, stages), cancel, held,
            constraint,
        )

    def predicted(
        self, original: np.ndarray, decoded: np.ndarray, conditioning: Conditioning, lam: float,
        progress: Progress | None, cancel: CancelEvent | None, preview: Preview | None,
        constraint: Constraint | None = None,
    ) -> np.ndarray:
        """``choose``, and the image it predicts handed to ``preview``: the encoder's own trunk (conditioned on
        the extractor's map) with each block's chosen correction and the JPEG in kept blocks, shown as the
        decoder shows it. Every block was chosen no worse than the JPEG by the errors of this very image,
        before its rounding to pixels (blocks that rounding made worse show the JPEG's pixels, so the preview
        is never worse than the JPEG either); the decoder's image, whose trunk sees the chosen map, then
        differs by a level here and there, and by what the adaptation adds."""
        if preview is None or not self.net.selects_blocks:
            return self.choose(original, decoded, conditioning, lam, progress, cancel)
        first = _Held()
        symbols = self.choose(original, decoded, conditioning, lam, progress, cancel, first)
        if first.tiles:
            image = self._from_held(first.tiles, decoded, symbols, self.net.restorer.selected, cancel, constraint)
            preview(jpeg_where_worse(image, decoded, original))
        return symbols

    def choose(
        self, original: np.ndarray, decoded: np.ndarray, conditioning: Conditioning, lam: float,
        progress: Progress | None, cancel: CancelEvent | None, held: _Held | None = None,
    ) -> np.ndarray:
        """The extractor's map, or with block-level selection the RDO choice over the squared error each
        symbol would give each block (``engine.coding.wavefront.rd_choose``), among the choices no worse than
        the JPEG where the model has the keep symbol; ``held`` keeps each tile's base restoration and trunk
        features. Every choice is measured before the decoder's constraint, kept blocks as the JPEG's own
        pixels: measured as the decoder shows them (decoded anew), keeping would be chosen where the
        constraint makes a correction better (tried: on eight 256-pixel training crops at lambda 64, 0.07 dB
        lost at q95 4:4:4 and 0.26 dB at q98 4:2:2, on average)."""
        inference, net = self.inference, self.net
        cond = inference.cond(conditioning)
        if not net.selects_blocks:
            symbols = inference.per_block(
                original, decoded, lambda _tile, x, y: inference.run(net.extract, x, y, cond), progress, cancel
            )
            return symbols.astype(np.uint8)

        def parts(x: torch.Tensor, y: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, ...]:
            passed = net.encoder_pass(x, y, c)
            return passed.errors, passed.base, passed.features

        def allowed(tile: Tile, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            errors, base, features = inference.run(parts, x, y, cond)
            if held is not None:
                held.add(tile, base, features)
            return net.allowed_errors(errors)

        errors = inference.per_block(original, decoded, allowed, progress, cancel)
        per_block = errors.transpose(1, 2, 0).astype(np.float64)
        return wavefront.rd_choose(self.coder, per_block, conditioning, rd_multiplier(lam))

    def never_worse(
        self, original: np.ndarray, decoded: np.ndarray, conditioning: Conditioning, symbols: np.ndarray,
        progress: Progress | None, cancel: CancelEvent | None, observe: Observer | None = None,
        constraint: Constraint | None = None,
    ) -> Encoded:
        """The map to send and what the decoder restores with it, checked against the JPEG by decoding.

        The encoder chose each block by errors computed with the extractor's map conditioning the trunk;
        the decoder's trunk sees the chosen map, which moves pixels by a rounding step here and there. If
        that makes the image worse than the JPEG, the blocks it made worse keep the JPEG; if the image is
        still worse, every block does: the JPEG decoded anew within the constraint, and where even that is
        worse, the JPEG itself, unconstrained.
        """
        height, width = decoded.shape[:2]
        box = (0, 0, height, width)
        restored = self.inference.restore(
            decoded, conditioning, symbols, box, progress, cancel, observe=observe, constraint=constraint
        )
        keep = self.net.config.keep_symbol
        jpeg_sse, restored_sse = block_sse(decoded, original), block_sse(restored, original)
        if keep is None or restored_sse.sum() <= jpeg_sse.sum():
            return Encoded(symbols, restored)
        symbols = np.where(restored_sse > jpeg_sse, keep, symbols).astype(np.uint8)
        restored = self.inference.restore(decoded, conditioning, symbols, box, None, cancel, constraint=constraint)
        if block_sse(restored, original).sum() <= jpeg_sse.sum():
            return Encoded(symbols, restored)
        symbols = np.full_like(symbols, keep)
        if constraint is not None:
            restored = self.inference.restore(decoded, conditioning, symbols, box, None, cancel, constraint=constraint)
            if block_sse(restored, original).sum() <= jpeg_sse.sum():
                return Encoded(symbols, restored)
        return Encoded(symbols, decoded.copy(), unconstrained=constraint is not None)

    def _observer(
        self, original: np.ndarray, decoded: np.ndarray, symbols: np.ndarray, stats: adapt.Statistics, held: _Held
    ) -> Observer:
        """Adds each tile's basis and remaining error to ``stats``, over its inner region, inside the image,
        outside the blocks that keep the JPEG's pixels; and the tile's tensors to ``held``."""
        height, width = decoded.shape[:2]
        keep = self.net.config.keep_symbol
        sent = torch.from_numpy(symbols)[None]
        counted = torch.zeros(tuple(BLOCK * n for n in symbols.shape), dtype=torch.bool)
        counted[:height, :width] = True
        if keep is not None:
            counted &= ~block_mask(sent, keep)[0, 0]

        def observe(tile: Tile, jpeg: torch.Tensor, restored: torch.Tensor, h: torch.Tensor) -> None:
            target = self.inference.tensor(padded_crop(original, tile.outer))
            for rows, cols, features, rest, remaining in fitting_strips(tile, jpeg, restored, h, target):
                stats.add_cells(features, rest, remaining, counted[rows, cols].to(rest.device))
            held.add(tile, restored.float(), h.float())

        return observe

    def adapt(
        self, original: np.ndarray, decoded: np.ndarray, conditioning: Conditioning, encoded: Encoded,
        stats: adapt.Statistics, lam: float, progress: Progress | None, cancel: CancelEvent | None, held: _Held,
        constraint: Constraint | None = None,
    ) -> Encoded:
        """``encoded`` with the adaptation that pays at ``lam``, or at ``adaptation_lambda`` where that is lower
        (least squares, quantised by rate and distortion), checked by decoding: kept only if the decoder's
        image comes out better with it."""
        chosen = adapt.choose(stats, rd_multiplier(min(lam, self.adaptation_lambda)))
        if not chosen.sent:
            return encoded
        height, width = decoded.shape[:2]
        weights = chosen.tensor(self.basis_size)
        if held.tiles is None:
            restored = self.inference.restore(
                decoded, conditioning, encoded.symbols, (0, 0, height, width), progress, cancel, adaptation=weights,
                constraint=constraint,
            )
        else:
            kept = self.net.restorer.kept

            def finish(h: torch.Tensor, restored: torch.Tensor, jpeg: torch.Tensor, sent: torch.Tensor) -> torch.Tensor:
                """The decoder's image with the adaptation, from the tile it computed without it. That tile
                already holds the JPEG's pixels in kept blocks, as the decoder's image has them when it applies
                the correction (whose spatial taps read neighbours); the kept blocks then take them again."""
                return kept(adapted(h, restored, jpeg, weights), jpeg, sent)

            restored = self._from_held(held.tiles, decoded, encoded.symbols, finish, cancel, constraint, progress)
        before, after = block_sse(encoded.restored, original).sum(), block_sse(restored, original).sum()
        if after >= before:
            return encoded
        return Encoded(encoded.symbols, restored, chosen, float(10 * np.log10(before / max(after, 1))))

    @torch.inference_mode()
    def _from_held(
        self, tiles: dict[Box, tuple[torch.Tensor, torch.Tensor]], decoded: np.ndarray, symbols: np.ndarray,
        finish: Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor],
        cancel: CancelEvent | None, constraint: Constraint | None, progress: Progress | None = None,
    ) -> np.ndarray:
        """The image ``finish(h, restored, jpeg, tile_symbols)`` makes of each held tile's trunk features and
        restored image, shown as the decoder shows it."""
        inference = self.inference
        sent = torch.from_numpy(symbols.astype(np.int64)).to(inference.device)

        def run(tile: Tile) -> np.ndarray:
            restored, h = tiles[tile.outer]
            jpeg = inference.tensor(padded_crop(decoded, tile.outer))
            tile_symbols = tile_map(sent, tile)
            image = inference.run(finish, h, restored, jpeg, tile_symbols)
            return shown(image, tile, constraint, inference.kept(tile_symbols))

        height, width = decoded.shape[:2]
        box = (0, 0, height, width)
        return image_box(height, width, box, inference.tile_size, inference.margin, run, progress, cancel)
