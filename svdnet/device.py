"""Choosing the torch device from a command-line value."""

import logging
from pathlib import Path

import torch

from svdnet.errors import InputError

DEVICE_CHOICES = ("auto", "cpu", "cuda")
# CPU features that run bfloat16 matrix products natively; without them oneDNN emulates
# bfloat16 and autocast measured several times slower than float32 (7x on an AVX2 CPU).
FAST_BF16_FLAGS = ("avx512_bf16", "amx_bf16")

logger = logging.getLogger(__name__)


def pick_device(name="auto"):
    """``auto`` takes CUDA when available, else the CPU; ``cuda`` without a GPU is an error."""
    if name not in DEVICE_CHOICES:
        raise InputError(f"unknown device {name!r}; choose from {', '.join(DEVICE_CHOICES)}")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda: no CUDA device is available")
    return torch.device(name)


def on_device(obj, device):
    """A module or (batch, channels, rows, cols) tensor on ``device``, channels-last.

    oneDNN (CPU) and cuDNN run these networks' convolutions faster in that layout; the
    numbers are those of the default layout up to float rounding.
    """
    return obj.to(device, memory_format=torch.channels_last, non_blocking=True)


def cpu_flags(cpuinfo="/proc/cpuinfo"):
    """The CPU's feature flags as the kernel lists them, or None where it lists none."""
    try:
        text = Path(cpuinfo).read_text(errors="replace")
    except OSError:  # not Linux, or no /proc
        return None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            return set(value.split())
    return None


def warn_if_slow_bf16(device, cpuinfo="/proc/cpuinfo"):
    """Log a note when bfloat16 autocast on ``device`` is likely slower than float32.

    Returns
    -------
    bool
        Whether the note was logged: only for a CPU whose listed flags lack all of
        :data:`FAST_BF16_FLAGS` (nothing is said where the flags cannot be read).
    """
    if device.type != "cpu":
        return False
    flags = cpu_flags(cpuinfo)
    if flags is None or flags & set(FAST_BF16_FLAGS):
        return False
    logger.warning(
        "note: --bf16 on a CPU without %s: expect training to be several times slower "
        "than without --bf16",
        " or ".join(FAST_BF16_FLAGS),
    )
    return True
