"""Train SVDNet, the singing-voice detector, as Schlueter & Grill (2015) did.

Binary cross-entropy against targets 0.02 / 0.98, Nesterov momentum 0.95, learning
rate 0.01 times 0.85 after every epoch, epochs of 2000 mini-batches of 32 random
excerpts, dropout, orthogonal initialisation, and the train-time augmentation of
:mod:`svdnet.augment`, prepared by background workers while the network trains.

Under ``torchrun`` each process trains on its part of every global batch, the same
excerpts and augmentation as one process would draw, and DDP averages the gradients
(:mod:`svdnet.distributed`).

Example
-------
    python -m svdnet.train demo_augment.npz --dataset demo --cache-spectra cache
    torchrun --standalone --nproc_per_node=4 -m svdnet.train demo_augment.npz --dataset demo
"""

import argparse
import logging
import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from svdnet import distributed
from svdnet.audio import (
    EXCERPT_FRAMES,
    N_BINS,
    N_BINS_USED,
    N_MELS,
    load_meanstd,
    log_mel,
    mel_filterbank,
    save_meanstd,
)
from svdnet.augment import WIDE_FRAMES, augmented_batch, excerpt_starts
from svdnet.cli import (
    add_bf16_option,
    add_dataset_options,
    add_device_option,
    add_training_options,
    non_negative_int,
    positive_float,
    positive_int,
    run_cli,
)
from svdnet.dataset import load_split
from svdnet.device import on_device
from svdnet.model import SVDNet
from svdnet.training import (
    batch_loader,
    excerpt_batches,
    finite_step,
    restore_rng_states,
    run_epoch,
    save_epoch,
    standardised_split,
    start_checkpoint,
    stop_on_divergence,
)

logger = logging.getLogger(__name__)

TARGETS = (0.02, 0.98)  # smoothed targets for "no singing" / "singing"
MOMENTUM = 0.95
LR_DECAY = 0.85  # per epoch
# Settings a resumed run must share with the checkpoint it continues.
RESUME_KEYS = ("dataset", "augment", "dropout", "batchsize", "epochsize", "lr", "seed")


def build_parser():
    p = argparse.ArgumentParser(
        prog="python -m svdnet.train",
        description="Train SVDNet on DATASET_PATH/datasets/<dataset>/ and write its weights "
        "in the original Lasagne format.",
    )
    p.add_argument("out", type=Path, help="weight file to write (.npz); OUT.ckpt beside it")
    add_dataset_options(
        p, "<dataset>_meanstd.npz beside OUT; computed from the training split if missing"
    )
    p.add_argument(
        "--no-augment",
        dest="augment",
        action="store_false",
        help="train on plain excerpts (default: time stretch, pitch shift, filters)",
    )
    add_training_options(p, epochs=20)
    p.add_argument(
        "--epochsize",
        type=positive_int,
        default=2000,
        help="mini-batches per epoch (default: 2000)",
    )
    p.add_argument(
        "--lr",
        type=positive_float,
        default=0.01,
        help="initial learning rate, x0.85 per epoch (default: 0.01)",
    )
    add_device_option(p)
    p.add_argument(
        "--workers",
        type=non_negative_int,
        help="processes preparing batches; 0 prepares them in the training loop "
        "(default: all CPUs but one beside a GPU, min(4, CPUs) beside CPU training)",
    )
    add_bf16_option(p)
    p.add_argument(
        "--valid-excerpts",
        type=positive_int,
        default=1000,
        help="validation excerpts, evenly spread over the valid split, for the error "
        "logged after each epoch (default: 1000)",
    )
    p.add_argument(
        "--no-dropout",
        dest="dropout",
        action="store_false",
        help="switch dropout off, for tests that compare runs and for ablations "
        "(default: dropout 0.5 before each dense layer)",
    )
    p.add_argument(
        "--keep-epochs",
        action="store_true",
        help="also write the weights after every epoch N as OUT.epochN.npz, to evaluate "
        "the run's course (default: only OUT at the end)",
    )
    return p


def epoch_weights_path(out, epoch):
    """``OUT.epochN.npz``: the weights after ``epoch`` epochs, beside ``OUT.npz``."""
    out = Path(out)
    return out.with_name(f"{out.stem}.epoch{epoch}{out.suffix}")


def orthogonal_init(model):
    """Orthogonal weights (gain 1) and zero biases, as Lasagne's ``Orthogonal()``."""
    for op in model.weighted_ops():
        nn.init.orthogonal_(op.weight)
        nn.init.zeros_(op.bias)


def epoch_lr(initial_lr, epoch):
    """Learning rate of epoch ``epoch`` (from 0): x0.85 after every epoch."""
    return initial_lr * LR_DECAY**epoch


def compute_meanstd(songs, filterbank):
    """Per-band mean and standard deviation of the log-mel frames of ``songs``."""
    total, total_sq, count = np.zeros(N_MELS), np.zeros(N_MELS), 0
    for song in songs:
        mels = log_mel(song.spect, filterbank).astype(np.float64)
        total += mels.sum(axis=0)
        total_sq += (mels**2).sum(axis=0)
        count += len(mels)
    mean = total / count
    return mean, np.sqrt(np.maximum(total_sq / count - mean**2, 0))


def meanstd_for(path, songs, filterbank):
    """Load ``path``, or compute it from the training songs and write it there first."""
    if not path.exists():
        save_meanstd(path, *compute_meanstd(songs, filterbank))
        logger.info("wrote %s", path)
    return load_meanstd(path)


class EpochBatches(torch.utils.data.Dataset):
    """Batch ``i`` of epoch ``epoch``, drawn with a generator seeded by (seed, epoch, i).

    Seeding per batch makes the batches independent of the number of workers and lets a
    resumed run draw exactly the batches an uninterrupted one would. With ``part``,
    only those rows of each batch are made (a distributed process's share), with the
    same excerpts and augmentation as in the whole batch.
    """

    def __init__(
        self, songs, epochsize, batchsize, seed, filterbank, mean, std, augment,
        part=slice(None),
    ):  # fmt: skip
        self.songs, self.epochsize, self.batchsize, self.seed = songs, epochsize, batchsize, seed
        self.filterbank, self.mean, self.std, self.augment = filterbank, mean, std, augment
        self.part = part
        n_frames = WIDE_FRAMES if augment else EXCERPT_FRAMES
        self.starts = excerpt_starts([len(s.spect) for s in songs], n_frames)
        self.epoch = 0

    def __len__(self):
        return self.epochsize

    def __getitem__(self, batch_idx):
        rng = np.random.default_rng([self.seed, self.epoch, batch_idx])
        inputs, targets = augmented_batch(
            self.songs, self.starts, self.batchsize, rng, self.filterbank, self.mean,
            self.std, self.augment, self.part,
        )  # fmt: skip
        return torch.from_numpy(inputs)[:, None], torch.from_numpy(targets)


def default_workers(device):
    """Batch-preparing processes for training on ``device``.

    Beside a GPU, augmentation is what limits the pace (a batch of 32 takes one core about
    80 ms), so every CPU but the trainer's prepares batches; beside CPU training the
    workers take cores from the network, and a few suffice. The processes of a
    distributed run on one machine share its CPUs.
    """
    cpus = max(1, (os.cpu_count() or 1) // distributed.local_world_size())
    return max(1, cpus - 1) if device.type == "cuda" else min(4, cpus)


class Logits(nn.Module):
    """SVDNet's logits as ``forward``, for DDP to wrap: DDP averages the gradients of
    what runs through ``forward``, and SVDNet's own gives P(singing), not the logits."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model.logits(x)


def trainee(model, device):
    """What :func:`training_step` trains: ``model``, or under torchrun an object whose
    ``logits`` runs the model through DDP."""
    if not distributed.is_distributed():
        return model
    return SimpleNamespace(logits=distributed.wrap(Logits(model), device))


def training_step(model, optimizer, inputs, targets, bf16=False):
    """One update on a batch; returns the loss (no update if it is NaN or infinite).

    With ``bf16`` the network runs under bfloat16 autocast (weights and loss stay
    float32), which CPUs with AVX512-BF16 or AMX and recent GPUs run much faster.
    """
    low, high = TARGETS
    optimizer.zero_grad(set_to_none=True)
    with torch.autocast(inputs.device.type, dtype=torch.bfloat16, enabled=bf16):
        logits = model.logits(inputs)
    loss = nn.functional.binary_cross_entropy_with_logits(
        logits.float(), low + (high - low) * targets
    )
    return finite_step(loss, optimizer)


def valid_subset(dataset_path, dataset, mean, std, cache_dir, n_excerpts):
    """Up to ``n_excerpts`` standardised valid excerpts, evenly spread, with labels."""
    songs = standardised_split(dataset_path, dataset, "valid", mean, std, cache_dir)
    starts = excerpt_starts([len(mels) for _, mels, _ in songs], EXCERPT_FRAMES)
    starts = starts[np.linspace(0, len(starts) - 1, min(len(starts), n_excerpts)).astype(int)]
    inputs = np.concatenate(list(excerpt_batches([m for _, m, _ in songs], starts, 256)))
    targets = np.array([songs[i][2][t + EXCERPT_FRAMES // 2] for i, t in starts], np.float32)
    return inputs, targets


def classification_error(model, inputs, targets, device, batchsize=128):
    """Fraction of excerpts misclassified at P(singing) = 0.5, in eval mode."""
    model.eval()
    logits = []
    with torch.no_grad():
        for first in range(0, len(inputs), batchsize):
            batch = torch.from_numpy(inputs[first : first + batchsize])[:, None]
            logits.append(model.logits(on_device(batch, device)).cpu())
    model.train()
    return float(np.mean((torch.cat(logits).numpy() > 0) != (targets > 0.5)))


def train(args):
    """Train as ``args`` say; returns the trained model (also written to ``args.out``).

    Under torchrun, each process trains on its part of every batch and rank 0 writes.
    """
    return distributed.run(_train, args)


def _train(args, device):
    config = {k: getattr(args, k) for k in RESUME_KEYS}
    # Checkpoints from before --no-dropout do not record it: they were trained with it on.
    ckpt, state = start_checkpoint(
        args.out, "weight file", config, args.resume, defaults={"dropout": True}
    )

    filterbank = mel_filterbank()
    # A pitch shift by 0.7 reads bins up to 372 / 0.7: keep all 513 for the augmentation.
    n_bins = N_BINS if args.augment else N_BINS_USED
    meanstd_path = args.meanstd or args.out.with_name(f"{args.dataset}_meanstd.npz")
    with distributed.main_first():  # rank 0 fills the cache and writes meanstd
        songs = load_split(
            args.dataset_path, args.dataset, "train", args.cache_spectra,
            progress=distributed.is_main(), n_bins=n_bins,
        )  # fmt: skip
        mean, std = meanstd_for(meanstd_path, songs, filterbank)
    if distributed.is_main():  # validation is rank 0's alone: it only reports
        valid = valid_subset(
            args.dataset_path, args.dataset, mean, std, args.cache_spectra, args.valid_excerpts
        )
    batches = EpochBatches(
        songs, args.epochsize, args.batchsize, args.seed, filterbank, mean, std, args.augment,
        distributed.shard(args.batchsize),
    )  # fmt: skip

    workers = default_workers(device) if args.workers is None else args.workers
    torch.manual_seed(args.seed)
    model = SVDNet()
    orthogonal_init(model)
    if not args.dropout:
        for module in model.modules():
            if isinstance(module, nn.Dropout):
                module.p = 0.0
    model = on_device(model, device).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=MOMENTUM, nesterov=True)
    start_epoch = 0
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        restore_rng_states(state["rng"])
        start_epoch = state["epoch"]
        logger.info("resuming %s after epoch %d", ckpt, start_epoch)
    else:
        distributed.seed_rank_streams(args.seed)
    net = trainee(model, device)

    for epoch in range(start_epoch, args.epochs):
        lr = epoch_lr(args.lr, epoch)
        for group in optimizer.param_groups:
            group["lr"] = lr
        batches.epoch = epoch
        with stop_on_divergence(ckpt):
            loss = run_epoch(
                batch_loader(batches, workers, device),
                lambda batch: training_step(
                    net, optimizer, on_device(batch[0], device),
                    batch[1].to(device, non_blocking=True), args.bf16,
                ),
                args.epochsize,
                desc=f"epoch {epoch + 1}/{args.epochs}",
            )  # fmt: skip
        if distributed.is_main():
            error = classification_error(model, *valid, device)
            tqdm.write(
                f"epoch {epoch + 1}/{args.epochs}: lr {lr:.2e}, train loss {loss:.4f}, "
                f"valid error {error:.2%}"
            )
        save_epoch(ckpt, model, optimizer, epoch + 1, config)
        if args.keep_epochs and distributed.is_main():
            model.save_lasagne(epoch_weights_path(args.out, epoch + 1))
    if distributed.is_main():
        model.save_lasagne(args.out)
        logger.info("wrote %s", args.out)
    return model


def main(argv=None):
    """Command-line entry point (see ``--help``)."""
    run_cli(train, build_parser().parse_args(argv))


if __name__ == "__main__":
    main()
