"""The codec's public API: compress an image to JPEG + sidecar, receive a JPEG with or without its sidecar,
restore it.

The CLI, the GUI, evaluation and benchmarks all go through ``Codec``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from engine import sidecar as sc
from engine.coding import adaptation as adapt
from engine.coding import wavefront
from engine.coding.integer_context import IntegerContextModel
from engine.conditioning import Conditioning, JpegParams
from engine.config import DEFAULT_PRESET, LAMBDA_MIN, PRESETS
from engine.constraint import Constraint
from engine.container import check_jpeg_size, split_embedded
from engine.encoding import Encoded, Encoder, Preview, block_sse
from engine.errors import SideJPEGError
from engine.inference import Inference, resolve_device
from engine.jpeg_io import decode_with_params, encode_jpeg
from engine.models.sidejpeg import SideJPEGNet
from engine.resources import preset_name, preset_of, weights_path
from engine.strength import network_share, shares_of
from engine.tiling import Box, CancelEvent, Progress
from engine.weights import BLIND_MIN_STEP_KEY, load_model_info, model_id


@dataclass
class CompressResult:
    jpeg: bytes
    sidecar: bytes
    jpeg_decoded: np.ndarray
    symbols: np.ndarray
    block_bits: np.ndarray
    width: int
    height: int
    quality: int
    lam: float
    conditioning: Conditioning
    adaptation: adapt.Adaptation
    """The image's own adaptation the sidecar carries (``adapt.NOTHING`` where it did not pay)."""
    restored: np.ndarray
    """What ``restore`` of this JPEG and sidecar gives, computed by the encoder to check it: never worse
    than the JPEG (models with the keep symbol; ``engine.encoding.Encoder.never_worse``)."""
    adaptation_gain_db: float = 0.0
    """PSNR (RGB) that the adaptation adds to the restored image, as the encoder measured it."""
    constraint: Constraint | None = None
    """The JPEG's quantisation constraint, within which the decoder restores it (``engine.constraint``)."""

    def _bpp(self, nbytes: int) -> float:
        return nbytes * 8 / (self.width * self.height)

    @property
    def bpp_jpeg(self) -> float:
        return self._bpp(len(self.jpeg))

    @property
    def bpp_side(self) -> float:
        return self._bpp(len(self.sidecar))

    @property
    def bpp_total(self) -> float:
        return self._bpp(len(self.jpeg) + len(self.sidecar))

    @property
    def side_share(self) -> float:
        """Fraction of the total bytes spent on side information."""
        return len(self.sidecar) / (len(self.jpeg) + len(self.sidecar))

    def received(self) -> Received:
        """What ``Codec.receive(jpeg, sidecar)`` gives for this result, without decoding either again."""
        header = sc.completed(sc.unpack(self.sidecar)[0], self.width, self.height, self.conditioning.codes)
        return Received(
            self.jpeg_decoded, self.conditioning, self.symbols, header, self.block_bits, self.adaptation,
            self.constraint,
        )


@dataclass
class Received:
    """A JPEG and its side information, decoded and checked: what ``Codec.restore`` takes."""

    decoded: np.ndarray
    conditioning: Conditioning
    symbols: np.ndarray | None
    """None when blind."""
    header: sc.SidecarHeader | None
    block_bits: np.ndarray | None = None
    """Coded cost of each block in bits (None when blind)."""
    adaptation: adapt.Adaptation = adapt.NOTHING
    constraint: Constraint | None = None
    """The JPEG's quantisation constraint (None for JPEGs without one, ``engine.constraint.Constraint.of``)."""

    @property
    def blind(self) -> bool:
        return self.symbols is None

    @property
    def shown_blind(self) -> bool:
        """Its sidecar asks for the image blind decoding shows (``SidecarHeader.shows_blind``)."""
        return self.header is not None and self.header.shows_blind


@dataclass
class RestoreResult:
    image: np.ndarray
    """The restored image, or the restored ``box`` of it when one was asked for."""
    blind: bool
    symbols: np.ndarray | None
    header: sc.SidecarHeader | None
    block_bits: np.ndarray | None = None
    """Coded cost of each block in bits (None when blind)."""
    passed_through: bool = False
    """Blind, and the JPEG is finer than the model was measured not to harm: the network did not run, and the
    image is the JPEG decoded anew from its coefficients (``Constraint.decode``) where it has a constraint
    (``Received.constraint``), else the JPEG as it is."""
    constrained: bool = False
    """The image was moved into the JPEG's quantisation constraint or, passed through, decoded anew within it
    (``engine.constraint``)."""
    network_share: float = 1.0
    """How much of the network's restoration the image holds: under 1 for a fine blind JPEG (or one whose
    sidecar asks for its blind image, ``Received.shown_blind``), the rest the JPEG decoded anew
    (``engine.strength``); 0 when passed through."""


def _clipped(box: Box, height: int, width: int) -> Box:
    top, left, bottom, right = (int(v) for v in box)
    top, left, bottom, right = max(top, 0), max(left, 0), min(bottom, height), min(right, width)
    if bottom <= top or right <= left:
        raise SideJPEGError(f"region {tuple(box)} does not overlap the {width}x{height} image")
    return top, left, bottom, right


class Codec:
    """One loaded model with its integer context coder, on one device; safe to reuse for many images and to
    share between threads."""

    def __init__(
        self, preset: str = DEFAULT_PRESET, device: str = "auto", net: SideJPEGNet | None = None, adapts: bool = True,
        precision: str = "fp16",
    ) -> None:
        """``adapts``: whether ``compress`` sends each image's own adaptation where it pays; ``precision``: what
        the network computes in on CUDA (fp16, bf16 or fp32; a CPU computes in fp32)."""
        info: dict = {}
        if net is None:
            if preset_name(preset) not in PRESETS:
                raise SideJPEGError(f"unknown preset {preset!r}; available: {', '.join(sorted(PRESETS))}")
            path = weights_path(preset)
            if not path.exists():
                raise SideJPEGError(f"no trained weights for preset {preset!r} (expected {path})")
            net, info = load_model_info(path)
        self.model_id = model_id(net)
        self.config = net.config
        self.inference = Inference(net, resolve_device(device), precision)
        self.coder = IntegerContextModel(net.context)
        self.encoder = Encoder(self.inference, self.coder, adapts)
        self.blind_min_step = float(info.get(BLIND_MIN_STEP_KEY, 0.0))
        """Finer JPEGs than this mean luma quantiser step (very high qualities), which the network alone was
        measured to harm, get at most half of it."""
        self.blind_shares = shares_of(info)
        """(step, sampling, share) measured (``engine.strength``): none, and JPEGs finer than
        ``blind_min_step`` are shown decoded anew from their coefficients, coarser ones restored."""

    @property
    def device(self) -> str:
        return self.inference.device.type

    def compress(
        self, rgb: np.ndarray, quality: int, lam: float, subsampling: str = "4:2:0",
        progress: Progress | None = None, cancel: CancelEvent | None = None, preview: Preview | None = None,
    ) -> CompressResult:
        """JPEG bytes plus the sidecar that lets ``restore`` remove their artifacts, and the restored image
        that the decoder will show (never worse than the JPEG with models that have the keep symbol).

        ``preview``, if given, receives the encoder's prediction of the restored image as soon as the map is
        chosen, before the decoder check and the adaptation (about half of a compress): with block-level
        selection only (``engine.encoding.Encoder.predicted``)."""
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise SideJPEGError("compress expects an (H, W, 3) uint8 RGB image")
        if not np.isfinite(lam) or lam < 0:
            raise SideJPEGError(f"lambda must be a non-negative number, got {lam}")
        lam = sc.carried_lambda(lam)
        jpeg = encode_jpeg(rgb, quality, subsampling)
        decoded, params = decode_with_params(jpeg)
        conditioning = Conditioning.of(params, lam)
        constraint = self._for_kept_blocks(Constraint.of(jpeg), conditioning)
        encoded = self.encoder.encode(rgb, decoded, conditioning, lam, progress, cancel, preview, constraint)
        encoded = self._no_worse_than_blind(rgb, decoded, conditioning, constraint, encoded, cancel)
        probs = wavefront.block_probabilities(self.coder, encoded.symbols, conditioning)
        payload = wavefront.encode(self.coder, encoded.symbols, conditioning, probs)
        stream = adapt.encode(encoded.adaptation)
        height, width = rgb.shape[:2]
        sidecar = sc.pack(
            self.model_id, sc.jpeg_digest(jpeg), int(quality), lam, conditioning, payload, stream,
            unconstrained=encoded.unconstrained, shows_blind=encoded.shows_blind,
        )
        bits = wavefront.block_bits(self.coder, encoded.symbols, conditioning, probs)
        return CompressResult(
            jpeg, sidecar, decoded, encoded.symbols, bits, width, height, int(quality),
            float(lam), conditioning, encoded.adaptation, encoded.restored, encoded.adaptation_gain_db,
            None if encoded.unconstrained else constraint,
        )

    def _no_worse_than_blind(
        self, rgb: np.ndarray, decoded: np.ndarray, conditioning: Conditioning, constraint: Constraint | None,
        encoded: Encoded, cancel: CancelEvent | None,
    ) -> Encoded:
        """``encoded``, or the image blind decoding shows where that holds a share of the network (a fine JPEG,
        ``engine.strength``) and comes closer to ``rgb``: the sidecar then asks for it (``SHOWS_BLIND``)
        and sends the cheapest map, every block kept. The map's corrections are full strength; the share is
        what such a JPEG tolerates on average, and in some images it beats the map (by 0.25 dB on average on
        Kodak's first 8 at Pillow 4:2:2 q98, before the encoder compared the two)."""
        share = network_share(conditioning, self.blind_min_step, self.blind_shares)
        if not 0.0 < share < 1.0 or constraint is None or encoded.unconstrained:
            return encoded
        received = Received(decoded, conditioning.at_lambda(LAMBDA_MIN), None, None, constraint=constraint)
        blind = self.restore(received, cancel=cancel).image
        if block_sse(blind, rgb).sum() >= block_sse(encoded.restored, rgb).sum():
            return encoded
        keep = self.config.keep_symbol
        symbols = encoded.symbols if keep is None else np.full_like(encoded.symbols, keep)
        return Encoded(symbols, blind, shows_blind=True)

    def _read_sidecar(
        self, sidecar: bytes, jpeg: bytes, params: JpegParams
    ) -> tuple[sc.SidecarHeader, np.ndarray, adapt.Adaptation]:
        """Validate a sidecar against its JPEG (``params``: that JPEG's header) and this model, and decode its
        descriptor map and adaptation."""
        header, payload, stream = sc.unpack(sidecar)
        header = sc.bind(header, jpeg, params)
        if header.model_id != self.model_id[: len(header.model_id)]:
            preset = preset_of(header.model_id)
            hint = f"; it matches the installed model {preset!r}" if preset else "; no installed model matches it"
            raise SideJPEGError(f"sidecar was made with model {header.model_id.hex()}, not the loaded one{hint}")
        adaptation = adapt.decode(stream, header.adaptation_exponents)
        expected = adapt.size_for(self.encoder.basis_size, header.adaptation_exponents)
        if adaptation.sent and adaptation.size != expected:
            raise SideJPEGError(
                f"sidecar adaptation has {adaptation.size} weights per channel; this model takes {expected}"
            )
        rows, cols = header.grid
        return header, wavefront.decode(self.coder, payload, rows, cols, header.conditioning), adaptation

    def receive(self, jpeg: bytes, sidecar: bytes | None = None) -> Received:
        """Decode a JPEG and its side information (given, embedded, or none: blind) and check they belong."""
        plain, embedded = split_embedded(jpeg)
        check_jpeg_size(plain)  # refuse decompression bombs before decoding (robustness)
        sidecar = sidecar if sidecar is not None else embedded
        decoded, params = decode_with_params(plain)
        if sidecar is None:
            conditioning = Conditioning.of(params, LAMBDA_MIN)
            return Received(decoded, conditioning, None, None, constraint=Constraint.of(plain))
        header, symbols, adaptation = self._read_sidecar(sidecar, plain, params)  # bound: the JPEG's size
        bits = wavefront.block_bits(self.coder, symbols, header.conditioning)
        constraint = None if header.unconstrained else self._for_kept_blocks(Constraint.of(plain), header.conditioning)
        if constraint is not None and not header.keeps_decoded_anew:
            constraint = replace(constraint, kept_anew=False)
        return Received(decoded, header.conditioning, symbols, header, bits, adaptation, constraint)

    def _for_kept_blocks(self, constraint: Constraint | None, conditioning: Conditioning) -> Constraint | None:
        """``constraint`` showing kept blocks as a blind JPEG of this ``conditioning`` would be shown where this
        model passes it through (``Constraint.kept_float_where_coarse``): the floating-point decode lost at
        q10-20, and without it 4:4:4 q95 lost up to 0.08 dB against blind on LIVE1's worst image."""
        if constraint is None:
            return None
        return replace(constraint, kept_float_where_coarse=self._finer_than_restored_alone(conditioning))

    def _finer_than_restored_alone(self, conditioning: Conditioning) -> bool:
        """Whether a blind JPEG of this ``conditioning`` is finer than this model was measured to improve on its
        own."""
        return conditioning.luma_finer_than(self.blind_min_step)

    def _network_share(self, got: Received) -> float:
        """The network's share of the image shown for ``got``: all of it with a sidecar's map; blind (or as
        blind, ``Received.shown_blind``), as calibrated (``engine.strength``)."""
        if not (got.blind or got.shown_blind):
            return 1.0
        decodable = got.constraint is not None
        return network_share(got.conditioning, self.blind_min_step, self.blind_shares, decodable)

    def restore(
        self, source: bytes | Received, sidecar: bytes | None = None, *, box: Box | None = None,
        progress: Progress | None = None, cancel: CancelEvent | None = None,
    ) -> RestoreResult:
        """Restored image of a JPEG (bytes, with its sidecar given, embedded or none: blind) or of what
        ``receive`` gave.

        With ``box = (top, left, bottom, right)`` only that region is restored (clipped to the image): the
        network runs on the box widened to the 16x16 grid plus a margin of context, so a viewer can show the
        visible part first; its pixels may differ from the whole image's by a rounding step near the box's
        and the tiles' edges, where the two see different context.
        """
        if isinstance(source, Received):
            if sidecar is not None:
                raise SideJPEGError("a received JPEG already carries its side information")
            got = source
        else:
            got = self.receive(source, sidecar)
        height, width = got.decoded.shape[:2]
        box = (0, 0, height, width) if box is None else _clipped(box, height, width)
        share = self._network_share(got)
        passes = share == 0.0
        constraint = got.constraint
        if passes and constraint is not None:
            image = self.inference.decoded_anew(got.decoded, box, constraint, progress, cancel)
        elif passes:
            top, left, bottom, right = box
            image = got.decoded[top:bottom, left:right].copy()
            if progress:
                progress(1, 1)
        else:
            weights = got.adaptation.tensor(self.encoder.basis_size)
            conditioning, symbols = got.conditioning, got.symbols
            if got.shown_blind:
                conditioning, symbols, weights = conditioning.at_lambda(LAMBDA_MIN), None, None
            image = self.inference.restore(
                got.decoded, conditioning, symbols, box, progress, cancel, adaptation=weights,
                constraint=constraint, share=share,
            )
        constrained = constraint is not None
        return RestoreResult(
            image, got.blind, got.symbols, got.header, got.block_bits, passes, constrained, network_share=share
        )
