"""Batch norm over the global batch of a distributed run, for the inverters.

In training, :class:`svdnet.lasagne.LasagneBatchNorm` normalises by the statistics of
the batch it sees. Under ``torchrun`` each process sees only its part of the global
batch, so the statistics are summed over the processes first: every process then
normalises with, and moves its running averages towards, the statistics one process
would compute on the whole batch, and gradients flow back through the sums to every
part (as :class:`torch.nn.SyncBatchNorm` does for PyTorch's own batch norm).
"""

import torch

from svdnet import distributed
from svdnet.lasagne import BN_ALPHA, BN_EPSILON, LasagneBatchNorm


class SyncLasagneBatchNorm(LasagneBatchNorm):
    """:class:`LasagneBatchNorm` whose training statistics are the global batch's.

    A process's part may be empty (the last batch of an epoch can be smaller than the
    number of processes); it still takes part in the sums.
    """

    def forward(self, x):
        if not self.training:
            return super().forward(x)
        x = x.float()  # under bfloat16 autocast too: sums and counts need float32's 24 bits
        axes = [0, *range(2, x.dim())]
        count = torch.tensor([x.numel() // x.shape[1]], dtype=x.dtype, device=x.device)
        sums = distributed.sum_over_ranks(torch.cat([x.sum(axes), count]))
        n = sums[-1]
        mean = sums[:-1] / n
        centred = x - self._expand(mean, x)
        var = distributed.sum_over_ranks(centred.square().sum(axes)) / n
        inv_std = torch.rsqrt(var + BN_EPSILON)
        with torch.no_grad():
            self.mean.lerp_(mean, BN_ALPHA)
            self.inv_std.lerp_(inv_std, BN_ALPHA)
        return centred * self._expand(self.gamma * inv_std, x) + self._expand(self.beta, x)


def sync_batchnorm(model):
    """Replace, in place, every :class:`LasagneBatchNorm` of ``model`` by a
    :class:`SyncLasagneBatchNorm` with the same parameters and running averages."""
    for parent in model.modules():
        for name, child in parent.named_children():
            if type(child) is LasagneBatchNorm:
                synced = SyncLasagneBatchNorm(len(child.beta)).to(child.beta.device)
                synced.load_state_dict(child.state_dict())
                setattr(parent, name, synced)
    return model
