"""SVDNet, the singing-voice detector of Schlueter & Grill (ISMIR 2015).

Input: standardised log-mel excerpts of shape (batch, 1, 115, 80), time first.
Output: P(singing) per excerpt; :meth:`SVDNet.features` returns any hidden layer.
"""

import torch
from torch import nn

from svdnet import lasagne
from svdnet.device import on_device
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

    def sliding_features(self, frames, layers):
        """:meth:`features` of every excerpt of consecutive frames, sharing the work.

        Excerpt ``e`` covers frames ``e .. e + 114``. The convolutions run once over
        the whole strip; each pooling layer (stride 3) splits it into three phases
        that are pooled and convolved separately, so every excerpt's features are
        windows of those maps: the same numbers as :meth:`features` on the stacked
        excerpts, for about a tenth of the work on 32 excerpts.

        Parameters
        ----------
        frames : torch.Tensor, shape (n_frames, 80), n_frames >= 115
        layers : iterable of str

        Returns
        -------
        dict mapping each requested name to a tensor of ``n_frames - 114`` excerpts.
        """
        layers = set(layers)
        n_excerpts = len(frames) - EXCERPT_ROWS["conv1"] - 2 + 1
        if n_excerpts < 1:
            raise ValueError(f"need at least 115 frames, got {len(frames)}")
        out = {}
        c1 = self.stages["conv1"](frames[None, None])
        c2 = self.stages["conv2"](c1)
        for name, strip in (("conv1", c1), ("conv2", c2)):
            if name in layers:
                out[name] = _windows(strip, range(n_excerpts), EXCERPT_ROWS[name])
        # Excerpt e reads phase e % 3 of the first pooling from row e // 3 on, and
        # phase (e // 3) % 3 of the second pooling from row e // 9 on.
        needed = layers | ({"mp6"} if layers & {"fc7", "fc8", "fc9"} else set())
        parts = {name: [] for name in ("mp3", "conv4", "conv5", "mp6") if name in needed}
        for p in range(min(3, n_excerpts)):
            mp3 = self.stages["mp3"](c2[:, :, p:])
            conv4 = self.stages["conv4"](mp3)
            conv5 = self.stages["conv5"](conv4)
            for r in range(3):
                group = [e for e in range(p, n_excerpts, 3) if (e // 3) % 3 == r]
                if not group:
                    continue
                strips = {"mp3": mp3, "conv4": conv4, "conv5": conv5}
                strips["mp6"] = self.stages["mp6"](conv5[:, :, r:])
                for name, windows in parts.items():
                    step = 9 if name == "mp6" else 3
                    starts = [e // step for e in group]
                    windows.append((group, _windows(strips[name], starts, EXCERPT_ROWS[name])))
        for name, windows in parts.items():
            out[name] = _in_excerpt_order(windows)
        deeper = layers & {"fc7", "fc8", "fc9"}
        if deeper:
            x = out["mp6"]
            for name in ("fc7", "fc8", "fc9"):
                x = self.stages[name](x)
                if name in deeper:
                    out[name] = torch.sigmoid(x) if name == "fc9" else x
        return {name: out[name] for name in layers}

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


# Rows (frames) of each pooled or convolved map that belong to one excerpt.
EXCERPT_ROWS = {name: shape[1] for name, shape in LAYER_SHAPES.items() if len(shape) == 3}


def _windows(strip, starts, n_rows):
    """Stack ``strip[0, :, i : i + n_rows]`` for each start ``i``."""
    return torch.stack([strip[0, :, i : i + n_rows] for i in starts])


def _in_excerpt_order(parts):
    """Merge (excerpt indices, tensor) parts into one tensor ordered by excerpt."""
    order = torch.tensor([e for group, _ in parts for e in group])
    return torch.cat([t for _, t in parts])[torch.argsort(order)]


def load_classifier(path, device="cpu"):
    """An SVDNet in inference mode with the weights of an original-format file."""
    model = SVDNet().load_lasagne(path)
    return on_device(model, device).eval().requires_grad_(False)
