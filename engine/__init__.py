"""SideJPEG engine: JPEG plus learned side information, and a decoder that uses it.

This is the public API the CLI and the GUI use (see docs/api.md); it knows nothing of Qt.
"""

from engine.atomic import write_files
from engine.config import DEFAULT_PRESET, GPU_PRESET, LAMBDA_MAX, LAMBDA_MIN, PRESETS
from engine.container import embed_sidecar, split_embedded
from engine.errors import SideJPEGError
from engine.image_io import LoadedImage, load_image
from engine.metrics import psnr, ssim
from engine.pipeline import Codec, CompressResult, Received, RestoreResult
from engine.resources import SAMPLE_IMAGE, installed_models, measured_side_vs_blind
from engine.sidecar import SidecarHeader
from engine.sidecar import parse_header as read_sidecar_header
from engine.tiling import Cancelled

__all__ = [
    "DEFAULT_PRESET",
    "GPU_PRESET",
    "LAMBDA_MAX",
    "LAMBDA_MIN",
    "PRESETS",
    "SAMPLE_IMAGE",
    "Cancelled",
    "Codec",
    "CompressResult",
    "LoadedImage",
    "Received",
    "RestoreResult",
    "SideJPEGError",
    "SidecarHeader",
    "embed_sidecar",
    "installed_models",
    "load_image",
    "measured_side_vs_blind",
    "psnr",
    "read_sidecar_header",
    "split_embedded",
    "ssim",
    "write_files",
]
