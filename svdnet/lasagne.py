"""PyTorch layers that follow Lasagne's conventions, and their parameter conversion.

Lasagne convolves (flips kernels), stores dense weights as (in, out) and keeps batch
norm as (beta, gamma, mean, inv_std). Each module here converts its own parameters to
and from that order with ``to_lasagne`` / ``from_lasagne``, so a network's file is just
the concatenation over its modules in network order.
"""

import numpy as np
import torch
from torch import nn

BN_EPSILON = 1e-4
BN_ALPHA = 0.1  # weight of the new batch in Lasagne's running averages


def _flip(w):
    return np.ascontiguousarray(w[..., ::-1, ::-1])


def weight_to_lasagne(op):
    """The Lasagne form of a Linear / Conv2d / ConvTranspose2d weight."""
    w = op.weight.detach().cpu().numpy()
    return w.T.copy() if isinstance(op, nn.Linear) else _flip(w)


def weight_from_lasagne(op, w):
    """Set ``op.weight`` from its Lasagne form (same transforms as the inverse)."""
    w = w.T if isinstance(op, nn.Linear) else _flip(w)
    with torch.no_grad():
        op.weight.copy_(torch.from_numpy(np.ascontiguousarray(w)))


def lasagne_weight_shape(op):
    """Shape of ``op.weight`` as Lasagne stores it."""
    shape = tuple(op.weight.shape)
    return shape[::-1] if isinstance(op, nn.Linear) else shape


class LasagneBatchNorm(nn.Module):
    """Batch normalisation as Lasagne's ``BatchNormLayer``.

    Normalises over every axis but the channel axis (1). Inference uses the stored
    ``mean`` and ``inv_std``; training uses the batch statistics (biased variance,
    epsilon 1e-4) and moves ``mean`` and ``inv_std`` itself towards them by 0.1.
    """

    def __init__(self, n_channels):
        super().__init__()
        self.beta = nn.Parameter(torch.zeros(n_channels))
        self.gamma = nn.Parameter(torch.ones(n_channels))
        self.register_buffer("mean", torch.zeros(n_channels))
        self.register_buffer("inv_std", torch.ones(n_channels))

    def _expand(self, v, x):
        return v.view(1, -1, *([1] * (x.dim() - 2)))

    def forward(self, x):
        if self.training:
            # The same maths as below with the batch statistics, in PyTorch's fused
            # kernels (a fraction of the passes over x); Lasagne's running averages of
            # mean and inv_std are kept here.
            with torch.no_grad():
                axes = [0, *range(2, x.dim())]
                # In float32 under bfloat16 autocast too, like the running averages.
                batch_var, batch_mean = torch.var_mean(x.float(), dim=axes, unbiased=False)
                self.mean.lerp_(batch_mean, BN_ALPHA)
                self.inv_std.lerp_(torch.rsqrt(batch_var + BN_EPSILON), BN_ALPHA)
            return nn.functional.batch_norm(
                x, None, None, self.gamma, self.beta, training=True, eps=BN_EPSILON
            )
        scale = self._expand(self.gamma * self.inv_std, x)
        return (x - self._expand(self.mean, x)) * scale + self._expand(self.beta, x)

    def to_lasagne(self):
        return [t.detach().cpu().numpy() for t in (self.beta, self.gamma, self.mean, self.inv_std)]

    def from_lasagne(self, arrays):
        with torch.no_grad():
            for t, a in zip((self.beta, self.gamma, self.mean, self.inv_std), arrays, strict=True):
                t.copy_(torch.from_numpy(np.asarray(a)))
