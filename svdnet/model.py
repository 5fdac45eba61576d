"""SVDNet, the singing-voice detector of Schlueter & Grill (ISMIR 2015).

Input: standardised log-mel excerpts of shape (batch, 1, 115, 80), time first.
Output: P(singing) per excerpt; :meth:`SVDNet.features` returns any hidden layer.
"""

import torch
from torch import nn

from svdnet import lasagne
from svdnet.params import check_shapes, read_params, write_params

LAYERS = ("conv1", "conv2", "mp3", "conv4", "conv5", "mp6", "fc7", "fc8", "fc9")
HIDDEN_LAYERS = LAYERS[:-1]
LAYER_SHAPES = {
    "conv1": (64, 113, 78),
    "conv2": (32, 111, 76),
    "mp3": (32, 37, 25),
    "conv4": (128, 35, 23),
    "conv5": (64, 33, 21),
    "mp6": (64, 11, 7),
    "fc7": (256,),
    "fc8": (64,),
    "fc9": (1,),
}
LEAKINESS = 0.01


def _conv(n_in, n_out):
    return nn.Sequential(nn.Conv2d(n_in, n_out, 3), nn.LeakyReLU(LEAKINESS))


def _dense(n_in, n_out, nonlinearity):
    return nn.Sequential(nn.Dropout(0.5), nn.Linear(n_in, n_out), nonlinearity)


class SVDNet(nn.Module):
    """The classifier; one named stage per layer of the original network."""

    def __init__(self):
        super().__init__()
        self.stages = nn.ModuleDict(
            {
                "conv1": _conv(1, 64),
                "conv2": _conv(64, 32),
                "mp3": nn.MaxPool2d(3),
                "conv4": _conv(32, 128),
                "conv5": _conv(128, 64),
                "mp6": nn.MaxPool2d(3),
                "fc7": nn.Sequential(
                    nn.Flatten(), *_dense(64 * 11 * 7, 256, nn.LeakyReLU(LEAKINESS))
                ),
                "fc8": _dense(256, 64, nn.LeakyReLU(LEAKINESS)),
                "fc9": _dense(64, 1, nn.Identity()),  # sigmoid applied in features()
            }
        )

    def features(self, x, layers):
        """Outputs of the named layers, computed in one pass up to the deepest one.

        Parameters
        ----------
        x : torch.Tensor, shape (batch, 1, 115, 80)
        layers : iterable of str
            Names from :data:`LAYERS`; ``fc9`` is P(singing).

        Returns
        -------
        dict mapping each requested name to its tensor.
        """
        layers = set(layers)
        unknown = layers - set(LAYERS)
        if unknown:
            raise ValueError(f"unknown layer(s) {sorted(unknown)}; choose from {LAYERS}")
        deepest = max(LAYERS.index(name) for name in layers)
        out = {}
        for name in LAYERS[: deepest + 1]:
            x = self.stages[name](x)
            if name in layers:
                out[name] = torch.sigmoid(x) if name == "fc9" else x
        return out

    def logits(self, x):
        """Pre-sigmoid output, shape (batch,), for a numerically stable training loss."""
        for name in LAYERS:
            x = self.stages[name](x)
        return x[:, 0]

    def forward(self, x):
        """P(singing) per excerpt, shape (batch,)."""
        return torch.sigmoid(self.logits(x))

    def weighted_ops(self):
        """The convolution and dense layers, in Lasagne's parameter order."""
        return [m for m in self.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]

    def lasagne_shapes(self):
        """Shapes of ``param0 ... param13`` as the original file stores them."""
        shapes = []
        for op in self.weighted_ops():
            shapes += [lasagne.lasagne_weight_shape(op), tuple(op.bias.shape)]
        return shapes

    def load_lasagne(self, path):
        """Load ``param0 ... param13`` from an original-format .npz file."""
        arrays = read_params(path, what="classifier file")
        check_shapes(path, arrays, self.lasagne_shapes(), what="classifier file")
        for i, op in enumerate(self.weighted_ops()):
            lasagne.weight_from_lasagne(op, arrays[2 * i])
            with torch.no_grad():
                op.bias.copy_(torch.from_numpy(arrays[2 * i + 1]))
        return self

    def save_lasagne(self, path):
        """Write the parameters in the original format, atomically."""
        arrays = []
        for op in self.weighted_ops():
            arrays += [lasagne.weight_to_lasagne(op), op.bias.detach().cpu().numpy()]
        write_params(path, arrays)


def load_classifier(path, device="cpu"):
    """An SVDNet in inference mode with the weights of an original-format file."""
    model = SVDNet().load_lasagne(path)
    return model.to(device).eval().requires_grad_(False)
