"""Training on several processes with PyTorch's own runtime: ``torchrun`` and DDP.

``torchrun`` starts one process per device and tells each its place through the
environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``LOCAL_WORLD_SIZE``). Without
those variables every helper here answers for a single process and no process group is
started, so a plain ``python -m svdnet.train`` runs exactly as before.

How the trainers split the work: every process draws the same global batch from the
seeded stream and makes only its own contiguous part of it (:func:`shard`); DDP
averages the parts' gradients, which is the gradient of the global batch when the loss
is a mean over each part and the parts are equal. Only rank 0 writes files and reports.

Example
-------
    torchrun --standalone --nproc_per_node=4 -m svdnet.train demo_augment.npz --dataset demo
"""

import contextlib
import logging
import os
import warnings
from datetime import timedelta

import numpy as np
import torch
import torch.distributed as dist

from svdnet.device import pick_device, warn_if_slow_bf16
from svdnet.errors import InputError

# How long the other ranks wait while rank 0 alone prepares (decodes a corpus into the
# spectrogram cache, computes the standardisation): hours on a large corpus.
PREPARE_TIMEOUT = timedelta(hours=12)

_coordination = None  # a gloo group beside the training group: see process_group()


def world_size():
    """Processes in the run (1 without torchrun)."""
    return int(os.environ.get("WORLD_SIZE", 1))


def rank():
    """This process's place in the run, from 0 (0 without torchrun)."""
    return int(os.environ.get("RANK", 0))


def local_rank():
    """This process's place on its machine, from 0: which GPU it drives."""
    return int(os.environ.get("LOCAL_RANK", 0))


def local_world_size():
    """Processes of the run on this machine, which share its CPUs."""
    return int(os.environ.get("LOCAL_WORLD_SIZE", 1))


def is_distributed():
    """Whether this process is one of several started by torchrun."""
    return world_size() > 1


def is_main():
    """Whether this process writes the files and reports (rank 0)."""
    return rank() == 0


def check_batch_split(batchsize):
    """Raise an :class:`InputError` unless ``batchsize`` splits evenly over the processes."""
    n = world_size()
    if batchsize % n:
        raise InputError(
            f"--batchsize {batchsize} does not split evenly over {n} processes "
            f"(the global batch is kept; choose a multiple of {n})"
        )


def shard(n, part=None, n_parts=None):
    """This process's contiguous part of ``n`` items, as a slice.

    Parts differ in size by at most one, the larger ones first, and are empty where
    ``n`` is smaller than the number of parts.

    Parameters
    ----------
    n : int
    part, n_parts : int, optional
        Which part of how many (default: this process's rank, of all processes).

    Examples
    --------
    >>> [shard(10, r, 4) for r in range(4)]
    [slice(0, 3, None), slice(3, 6, None), slice(6, 8, None), slice(8, 10, None)]
    """
    part = rank() if part is None else part
    n_parts = world_size() if n_parts is None else n_parts
    size, extra = divmod(n, n_parts)
    start = part * size + min(part, extra)
    return slice(start, start + size + (part < extra))


def rank_device(device):
    """``device``, or under torchrun on GPUs the GPU of this process (``LOCAL_RANK``)."""
    if device.type != "cuda" or not is_distributed():
        return device
    device = torch.device("cuda", local_rank())
    torch.cuda.set_device(device)
    return device


def run(train, args):
    """Call ``train(args, device)`` as this process's part of a torchrun job, or alone.

    ``args.batchsize`` must split evenly over the processes; ``device`` is the one
    ``args.device`` names, under torchrun on GPUs this process's GPU. The process group
    lasts for the call.
    """
    check_batch_split(args.batchsize)
    device = rank_device(pick_device(args.device))
    with process_group(device), _peer_loss_in_one_line():
        if getattr(args, "bf16", False):
            warn_if_slow_bf16(device)
        return train(args, device)


# What gloo says when the process at the other end of a connection has gone.
_LOST_PEER = ("Connection closed by peer", "Connection reset by peer")


@contextlib.contextmanager
def _peer_loss_in_one_line():
    """Turn a lost connection into one line: a process whose peer stopped mid-training.

    When one process fails (rank 0 cannot write its checkpoint, say), the others find
    out in their next collective, as a gloo error with a traceback that hides the
    failing process's own message; torchrun then stops them anyway.
    """
    try:
        yield
    except RuntimeError as err:
        if not any(text in str(err) for text in _LOST_PEER):
            raise
        raise InputError(
            f"stopped: process {rank()} lost another process (that one's message says why)"
        ) from None


@contextlib.contextmanager
def process_group(device):
    """Be part of torchrun's process group during the ``with`` block (nothing without it).

    Gradients go over NCCL between GPUs and over gloo between CPU processes. A second,
    gloo group with a long timeout serves for waiting while rank 0 prepares and for
    gathering Python objects, so neither needs the GPUs. Ranks other than 0 log errors
    only: rank 0 speaks for the run.
    """
    global _coordination
    if not is_distributed():
        yield
        return
    cuda = device.type == "cuda"
    dist.init_process_group("nccl" if cuda else "gloo", device_id=device if cuda else None)
    _coordination = dist.new_group(backend="gloo", timeout=PREPARE_TIMEOUT)
    if not is_main():
        logging.getLogger().setLevel(logging.ERROR)
    try:
        yield
    finally:
        _coordination = None
        dist.destroy_process_group()


@contextlib.contextmanager
def main_first():
    """Run the ``with`` block on rank 0 first, then on the others.

    For work whose results rank 0 writes and the others then read, such as the
    spectrogram cache and the standardisation file. If the block fails on rank 0 (a
    missing dataset, say), the others stop with one line instead of a lost connection.
    """
    if not is_distributed():
        yield
        return
    if is_main():
        try:
            yield
        except BaseException:
            with contextlib.suppress(RuntimeError):  # the others may be gone (Ctrl-C)
                _tell_the_others(ok=False)
            raise
        _tell_the_others(ok=True)
    else:
        if not _tell_the_others():
            raise InputError("stopped: process 0 failed (its message says why)")
        yield


def _tell_the_others(ok=None):
    """Rank 0's ``ok``, broadcast to every process."""
    flag = [ok]
    dist.broadcast_object_list(flag, src=0, group=_coordination)
    return flag[0]


def rank_seed(seed):
    """A seed for this process's own random stream, derived from ``seed`` and the rank."""
    return int(np.random.SeedSequence([seed, rank()]).generate_state(1, np.uint64)[0])


def seed_rank_streams(seed):
    """Give each process its own torch random stream (dropout); nothing without torchrun.

    Without this, every process would draw the same dropout masks for its part of the
    batch.
    """
    if is_distributed():
        torch.manual_seed(rank_seed(seed))


def wrap(module, device):
    """``module`` in DDP under torchrun, else ``module`` itself.

    Parameters are broadcast from rank 0 once; buffers are not broadcast before every
    step, since every process computes the same ones (see
    :mod:`inverters.sync_batchnorm`). Gradients live in DDP's buckets, which saves
    their memory and a copy per step.
    """
    if not is_distributed():
        return module
    # Channels-last weights with a dimension of size 1 have two valid stride patterns;
    # DDP warns when a gradient picks the other one, which costs one small copy.
    warnings.filterwarnings("ignore", message="Grad strides do not match bucket view strides")
    ids = [device] if device.type == "cuda" else None
    return torch.nn.parallel.DistributedDataParallel(
        module, device_ids=ids, forward_sync_buffers=False, gradient_as_bucket_view=True
    )


def unwrap(module):
    """The module inside a DDP wrapper, or ``module`` itself."""
    return getattr(module, "module", module)


def mean_over_ranks(value):
    """The mean of a tensor over all processes (``value`` itself without torchrun).

    The trainers' losses are means over each process's part of the global batch, so
    this is the loss of the global batch, the same on every process.
    """
    if not is_distributed():
        return value
    total = value.detach().clone()
    dist.all_reduce(total)
    return total / world_size()


def sum_over_ranks(tensor):
    """The sum of a tensor over all processes, differentiable: the gradient of each
    process's sum flows back to every process's part (``tensor`` itself without
    torchrun)."""
    return _SumOverRanks.apply(tensor) if is_distributed() else tensor


class _SumOverRanks(torch.autograd.Function):
    # Every process's output is the same sum, so the gradient of the global loss with
    # respect to one part is the sum of all processes' gradients of their outputs.
    @staticmethod
    def forward(ctx, tensor):
        total = tensor.clone()
        dist.all_reduce(total)
        return total

    @staticmethod
    def backward(ctx, grad):
        total = grad.clone()
        dist.all_reduce(total)
        return total


def gather(obj):
    """Every process's ``obj`` (picklable), as a list by rank, on every process."""
    if not is_distributed():
        return [obj]
    objs = [None] * world_size()
    dist.all_gather_object(objs, obj, group=_coordination)
    return objs
