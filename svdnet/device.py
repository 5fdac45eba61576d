"""Choosing the torch device from a command-line value."""

import torch

from svdnet.errors import InputError

DEVICE_CHOICES = ("auto", "cpu", "cuda")


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
