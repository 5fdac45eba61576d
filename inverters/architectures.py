"""The eight inverter architectures of Mishra et al. (2018), as data, and one builder.

An architecture is a list of blocks. ``("dense", n)``, ``("conv", n)`` (3x3, pad 1)
and ``("up", n)`` (transposed 4x4, stride 2, crop 1: doubles both sides) are
batch-normalised ELU layers with ``n`` outputs; ``("up_bias", n)`` is the same
transposed convolution with a bias and no batch norm; ``("reshape", shape)``,
``("pad", n)`` (zeros on both spatial sides) and ``("cut", (rows, cols))`` only move
data.
"""

import torch
from torch import nn

from svdnet.audio import EXCERPT_FRAMES, N_MELS
from svdnet.model import HIDDEN_LAYERS, LAYER_SHAPES

OUTPUT_SHAPE = (EXCERPT_FRAMES, N_MELS)

# Convolutional and pooling layers: (n_conv_layers, n_conv_filters) as published
# (the only choice these inverters leave), and the number of 2x upsamplings.
CONV_INVERTERS = {
    "mp6": (1, 64, 4),  # 11x7 -> 176x112
    "conv5": (3, 64, 2),  # 33x21 -> 132x84
    "conv4": (3, 128, 2),  # 35x23 -> 140x92
    "mp3": (4, 32, 2),  # 37x25 -> 148x100
    "conv2": (3, 32, 0),  # 111x76, zero-padded by 2
    "conv1": (1, 64, 0),  # 113x78, zero-padded by 1
}

_DENSE_HEAD = {"fc8": [("dense", 64), ("dense", 256)], "fc7": [("dense", 256)]}
_DENSE_TAIL = [("reshape", (16, 4, 4))]
for _n in (64, 32, 16, 8):
    _DENSE_TAIL += [("up", _n), ("conv", _n)]
_DENSE_TAIL += [("up_bias", 1), ("cut", OUTPUT_SHAPE)]


def architecture(layer, n_conv_layers=None, n_conv_filters=None):
    """The block list of the inverter for ``layer``.

    Parameters
    ----------
    layer : str
        One of conv1, conv2, mp3, conv4, conv5, mp6, fc7, fc8.
    n_conv_layers, n_conv_filters : int, optional
        Only for the convolutional and pooling layers; default to the published ones.
    """
    if layer not in HIDDEN_LAYERS:
        raise ValueError(f"unknown layer {layer!r}; choose from {', '.join(HIDDEN_LAYERS)}")
    if layer in _DENSE_HEAD:
        if n_conv_layers is not None or n_conv_filters is not None:
            raise ValueError(f"the {layer} inverter takes no n_conv_layers/n_conv_filters")
        return _DENSE_HEAD[layer] + _DENSE_TAIL
    default_layers, default_filters, n_up = CONV_INVERTERS[layer]
    n_conv_layers = default_layers if n_conv_layers is None else n_conv_layers
    n_conv_filters = default_filters if n_conv_filters is None else n_conv_filters
    if n_conv_layers < 1 or n_conv_filters < 1:
        raise ValueError("n_conv_layers and n_conv_filters must be positive")
    blocks = [("conv", n_conv_filters)] * n_conv_layers
    if n_up == 0:
        # conv1/conv2: same resolution; one more conv to a single map, then zero-pad.
        n_rows = LAYER_SHAPES[layer][1]
        return blocks + [("conv", 1), ("pad", (EXCERPT_FRAMES - n_rows) // 2)]
    blocks += [("up", max(1, n_conv_filters >> k)) for k in range(1, n_up)]
    return blocks + [("up", 1), ("cut", OUTPUT_SHAPE)]


class Reshape(nn.Module):
    """Reshape each example to a fixed shape (any batch size)."""

    def __init__(self, shape):
        super().__init__()
        self.shape = tuple(shape)

    def forward(self, x):
        return x.reshape(len(x), *self.shape)


class Pad(nn.Module):
    """Zero-pad both spatial axes by ``n`` on each side."""

    def __init__(self, n):
        super().__init__()
        self.n = n

    def forward(self, x):
        return nn.functional.pad(x, (self.n,) * 4)


class Cut(nn.Module):
    """Keep the first rows and columns of each map."""

    def __init__(self, shape):
        super().__init__()
        self.shape = tuple(shape)

    def forward(self, x):
        return x[..., : self.shape[0], : self.shape[1]]


class Block(nn.Module):
    """A weighted layer, batch norm (which replaces its bias) unless ``bias``, then ELU."""

    def __init__(self, op, n_out, bias=False):
        super().__init__()
        self.op = op
        self.bn = None if bias else _batch_norm(n_out)
        self.act = nn.ELU()

    def forward(self, x):
        x = self.op(x)
        return self.act(x if self.bn is None else self.bn(x))


def _batch_norm(n):
    from svdnet.lasagne import (
        LasagneBatchNorm,
    )  # local: keeps this table-first module light

    return LasagneBatchNorm(n)


def _weighted_op(kind, n_in, n_out):
    bias = kind == "up_bias"
    if kind == "dense":
        return nn.Linear(n_in, n_out, bias=False)
    if kind == "conv":
        return nn.Conv2d(n_in, n_out, 3, padding=1, bias=False)
    return nn.ConvTranspose2d(n_in, n_out, 4, stride=2, padding=1, bias=bias)


def build(blocks, input_shape):
    """An ``nn.Sequential`` for a block list, given one example's input shape."""
    modules, n_in = [], input_shape[0]
    for kind, arg in blocks:
        if kind == "reshape":
            modules.append(Reshape(arg))
            n_in = arg[0]
        elif kind == "pad":
            modules.append(Pad(arg))
        elif kind == "cut":
            modules.append(Cut(arg))
        else:
            modules.append(Block(_weighted_op(kind, n_in, arg), arg, bias=kind == "up_bias"))
            n_in = arg
    return nn.Sequential(*modules)


def output_shape(blocks, layer):
    """Shape of one inverted example, worked out by running a dummy input."""
    net = build(blocks, LAYER_SHAPES[layer]).eval()
    with torch.no_grad():
        return tuple(net(torch.zeros(1, *LAYER_SHAPES[layer])).shape[1:])
