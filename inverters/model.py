"""An inverter network for one SVDNet layer, and its Lasagne-format weight files."""

import torch
from torch import nn

from inverters.architectures import CONV_INVERTERS, Block, architecture, build
from svdnet import lasagne
from svdnet.device import on_device
from svdnet.errors import InputError
from svdnet.model import HIDDEN_LAYERS, LAYER_SHAPES, SVDNet
from svdnet.params import check_shapes, read_params, write_params


class Inverter(nn.Module):
    """Maps a batch of one layer's features back to (batch, 115, 80) excerpts."""

    def __init__(self, layer, n_conv_layers=None, n_conv_filters=None):
        super().__init__()
        self.layer = layer
        self.blocks = architecture(layer, n_conv_layers, n_conv_filters)
        self.net = build(self.blocks, LAYER_SHAPES[layer])
        for block in self.weighted_blocks():
            # He-normal initialisation with ELU's gain of 1, as in the original.
            nn.init.kaiming_normal_(block.op.weight, nonlinearity="linear")

    def forward(self, features):
        return self.net(features)[:, 0]

    def weighted_blocks(self):
        return [m for m in self.net if isinstance(m, Block)]

    def lasagne_shapes(self):
        """Shapes of ``param0 ... paramN`` as the original file stores them."""
        shapes = []
        for block in self.weighted_blocks():
            shapes.append(lasagne.lasagne_weight_shape(block.op))
            n_out = block.op.weight.shape[0 if isinstance(block.op, (nn.Linear, nn.Conv2d)) else 1]
            shapes += [(n_out,)] * (1 if block.bn is None else 4)
        return shapes

    def to_lasagne(self):
        """The parameters as a list of arrays in Lasagne order."""
        arrays = []
        for block in self.weighted_blocks():
            arrays.append(lasagne.weight_to_lasagne(block.op))
            if block.bn is None:
                arrays.append(block.op.bias.detach().cpu().numpy())
            else:
                arrays += block.bn.to_lasagne()
        return arrays

    def from_lasagne(self, arrays):
        """Set the parameters from a list of arrays in Lasagne order."""
        arrays = list(arrays)
        for block in self.weighted_blocks():
            lasagne.weight_from_lasagne(block.op, arrays.pop(0))
            if block.bn is None:
                with torch.no_grad():
                    block.op.bias.copy_(torch.from_numpy(arrays.pop(0)))
            else:
                block.bn.from_lasagne(arrays[:4])
                del arrays[:4]
        return self

    def save_lasagne(self, path):
        """Write the parameters in the original format, atomically."""
        write_params(path, self.to_lasagne())


CONFIG_OPTIONS = ("n_conv_layers", "n_conv_filters")


def conv_config_of(arrays):
    """(n_conv_layers, n_conv_filters) read off a conv/pool inverter's arrays."""
    n_filters = arrays[0].shape[0]
    n_layers = sum(
        a.ndim == 4 and a.shape[2:] == (3, 3) and a.shape[0] == n_filters for a in arrays
    )
    return n_layers, n_filters


def _expected_shapes(layer, arrays):
    config = (
        conv_config_of(arrays) if layer in CONV_INVERTERS and arrays[0].ndim == 4 else (None,) * 2
    )
    return Inverter(layer, *config).lasagne_shapes(), config


def layers_fitting(arrays):
    """The layers whose inverter architecture fits these arrays' shapes."""
    fitting = []
    for layer in HIDDEN_LAYERS:
        try:
            shapes, _ = _expected_shapes(layer, arrays)
        except (ValueError, IndexError):
            continue
        if shapes == [tuple(a.shape) for a in arrays]:
            fitting.append(layer)
    return fitting


def load_inverter(path, layer, n_conv_layers=None, n_conv_filters=None, device="cpu"):
    """An inverter in inference mode, with its configuration read off the file.

    Explicit ``n_conv_layers`` / ``n_conv_filters`` must agree with the file; a file
    made for another layer, or with other shapes, raises an :class:`InputError`
    naming what was expected and what was found.
    """
    if layer not in HIDDEN_LAYERS:
        raise InputError(f"unknown layer {layer!r}; choose from {', '.join(HIDDEN_LAYERS)}")
    arrays = read_params(path, what="inverter file")
    if [a.shape for a in arrays] == SVDNet().lasagne_shapes():
        raise InputError(f"{path}: this is an SVDNet classifier file, not a {layer} inverter")
    fitting = layers_fitting(arrays)
    if fitting and layer not in fitting:
        raise InputError(f"{path}: this inverter is for layer {'/'.join(fitting)}, not {layer}")
    config = (n_conv_layers, n_conv_filters)
    if layer in CONV_INVERTERS and arrays[0].ndim == 4:
        found = conv_config_of(arrays)
        for name, given, in_file in zip(CONFIG_OPTIONS, config, found, strict=True):
            if given is not None and given != in_file:
                raise InputError(
                    f"{path}: --{name} {given} contradicts the file, which has {in_file}"
                )
        config = found
    try:
        inverter = Inverter(layer, *config)
    except ValueError as err:
        raise InputError(f"{path}: {err}") from None
    check_shapes(path, arrays, inverter.lasagne_shapes(), what=f"{layer} inverter file")
    inverter.from_lasagne(arrays)
    return on_device(inverter, device).eval().requires_grad_(False)
