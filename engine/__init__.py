"""SideJPEG engine: JPEG plus learned side information, and a decoder that uses it.

This is the public API the CLI and the GUI use (see docs/api.md); it knows nothing of Qt.
"""

from engine.atomic import write_files
from engine.batch import Done as BatchDone
from engine.batch import Job as BatchJob
from engine.batch import Summary as BatchSummary
from engine.batch import plan as plan_batch
from engine.batch import run_jobs as run_batch
from engine.config import DEFAULT_PRESET, GPU_PRESET, LAMBDA_MAX, LAMBDA_MIN, PRESETS
from engine.container import embed_sidecar, split_embedded
from engine.errors import SideJPEGError
from engine.image_io import LoadedImage, load_image
from engine.inference import available_devices
from engine.jpeg_io import decode_jpeg, encode_jpeg
from engine.metadata import ImageMetadata, insert_metadata, png_save_options, read_metadata
from engine.metrics import psnr, ssim
from engine.pipeline import Codec, CompressResult, Received, RestoreResult
from engine.resources import SAMPLE_IMAGE, earlier_releases, installed_models, measured_side_vs_blind, preset_of
from engine.side_files import SIDECAR_SUFFIX, SideInformation, find_side_information, read_limited, sidecar_path
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
    "SIDECAR_SUFFIX",
    "BatchDone",
    "BatchJob",
    "BatchSummary",
    "Cancelled",
    "Codec",
    "CompressResult",
    "ImageMetadata",
    "LoadedImage",
    "Received",
    "RestoreResult",
    "SideInformation",
    "SideJPEGError",
    "SidecarHeader",
    "available_devices",
    "decode_jpeg",
    "earlier_releases",
    "embed_sidecar",
    "encode_jpeg",
    "find_side_information",
    "insert_metadata",
    "installed_models",
    "load_image",
    "measured_side_vs_blind",
    "plan_batch",
    "png_save_options",
    "preset_of",
    "psnr",
    "read_limited",
    "read_metadata",
    "read_sidecar_header",
    "run_batch",
    "sidecar_path",
    "split_embedded",
    "ssim",
    "write_files",
]
