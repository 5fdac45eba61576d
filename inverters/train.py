"""Train the inverter of one SVDNet layer, as Mishra, Sturm & Dixon (2018) did.

The classifier is frozen in inference mode; the inverter learns to map its layer-L
features of an excerpt back to the standardised excerpt. Training excerpts are taken
every 10 frames of the training files and shuffled each epoch; Adam, learning rate
1e-3, batches of 32; the loss is the mean squared error in the standardised mel space
plus 1e-4 times the sum of squared weights. An optional feature-space loss compares
the classifier's features of the inversion and of the input at another layer.

Under ``torchrun`` each process trains on its part of every batch, DDP averages the
gradients and batch norm uses the statistics of the whole batch, so the run follows
the one a single process would make (:mod:`svdnet.distributed`).

Example
-------
    python -m inverters.train demo_augment.npz models/demo_augment_gen_fc8.npz \\
        --layer fc8 --dataset demo
"""

import argparse
import logging
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from inverters.architectures import CONV_INVERTERS
from inverters.model import Inverter
from inverters.sync_batchnorm import sync_batchnorm
from svdnet import distributed
from svdnet.audio import EXCERPT_FRAMES, N_MELS
from svdnet.augment import excerpt_starts
from svdnet.cli import (
    add_bf16_option,
    add_classifier_argument,
    add_dataset_options,
    add_device_option,
    add_training_options,
    non_negative_float,
    positive_float,
    positive_int,
    run_cli,
)
from svdnet.device import on_device
from svdnet.model import HIDDEN_LAYERS, LAYERS, load_classifier
from svdnet.training import (
    batch_loader,
    default_meanstd,
    excerpt_batches,
    finite_step,
    read_meanstd,
    restore_rng_states,
    run_epoch,
    save_epoch,
    standardised_split,
    start_checkpoint,
    stop_on_divergence,
)

logger = logging.getLogger(__name__)

WEIGHT_DECAY = 1e-4
SCHEDULES = {
    0: "constant",
    1: "x0.1 after every epoch",
    2: "x0.5 from epochs 15 and 22 on (counted from 0)",
    3: "x0.5 after an epoch whose training loss, rounded to two decimals, did not fall",
}
HALVING_EPOCHS = (15, 22)
# Settings a resumed run must share with the checkpoint it continues.
RESUME_KEYS = (
    "dataset", "layer", "n_conv_layers", "n_conv_filters", "batchsize", "lr", "lr_schedule",
    "step", "max_excerpts", "featloss_layer", "featloss_weight", "seed",
)  # fmt: skip


def build_parser():
    p = argparse.ArgumentParser(
        prog="python -m inverters.train",
        description="Train the inverter of one SVDNet layer and write it in the original "
        "Lasagne format.",
    )
    add_classifier_argument(p)
    p.add_argument("out", type=Path, help="inverter file to write (.npz); OUT.ckpt beside it")
    p.add_argument("--layer", required=True, choices=HIDDEN_LAYERS, help="layer to invert")
    add_dataset_options(p)
    p.add_argument(
        "--n_conv_layers",
        type=positive_int,
        help="conv layers of a conv/pool inverter (default: the published architecture)",
    )
    p.add_argument(
        "--n_conv_filters",
        type=positive_int,
        help="filters per conv layer of a conv/pool inverter (default: the published one)",
    )
    add_training_options(p, epochs=30)
    p.add_argument(
        "--lr", type=positive_float, default=1e-3, help="Adam learning rate (default: 1e-3)"
    )
    p.add_argument(
        "--lr-schedule",
        type=int,
        choices=sorted(SCHEDULES),
        default=0,
        help="; ".join(f"{k}: {v}" for k, v in SCHEDULES.items()) + " (default: 0)",
    )
    p.add_argument(
        "--step",
        type=positive_int,
        default=10,
        help="frames between training excerpts (default: 10)",
    )
    p.add_argument(
        "--valid-step",
        type=positive_int,
        default=50,
        help="frames between validation excerpts; larger than --step to keep the "
        "per-epoch validation quick (default: 50)",
    )
    p.add_argument(
        "--max-excerpts",
        type=positive_int,
        help="train on a random subset of this many excerpts per epoch (default: all)",
    )
    p.add_argument(
        "--featloss-layer",
        choices=LAYERS,
        help="classifier layer compared by the feature-space loss (default: none)",
    )
    p.add_argument(
        "--featloss-weight",
        type=non_negative_float,
        default=0.0,
        help="weight of the feature-space loss (default: 0, off)",
    )
    add_device_option(p)
    add_bf16_option(p)
    return p


def check_args(parser, args):
    """Reject option combinations the recipe cannot run (argparse-style exit 2)."""
    if args.layer not in CONV_INVERTERS and (args.n_conv_layers or args.n_conv_filters):
        parser.error(f"--n_conv_layers/--n_conv_filters do not apply to {args.layer}")
    if args.featloss_weight and not args.featloss_layer:
        parser.error("--featloss-weight needs --featloss-layer")
    # Batch norm in training needs two excerpts a batch.
    for option, value in (("--batchsize", args.batchsize), ("--max-excerpts", args.max_excerpts)):
        if value == 1:
            parser.error(f"{option} must be at least 2: batch norm needs two excerpts a batch")


def weight_penalty(inverter):
    """Sum of the squared weights of every weighted layer (not biases, not batch norm)."""
    return sum(block.op.weight.square().sum() for block in inverter.weighted_blocks())


def next_lr(schedule, lr, epoch, losses):
    """The learning rate after epoch ``epoch`` (from 0), given the training losses so far.

    Parameters
    ----------
    schedule : int
        0, 1, 2 or 3 (see :data:`SCHEDULES`).
    lr : float
        The learning rate of epoch ``epoch``.
    losses : sequence of float
        Mean training loss of epochs ``0 .. epoch``.
    """
    if schedule == 1:
        return lr * 0.1
    if schedule == 2 and epoch + 1 in HALVING_EPOCHS:
        return lr * 0.5
    if schedule == 3 and epoch > 0 and round(losses[epoch], 2) >= round(losses[epoch - 1], 2):
        return lr * 0.5
    return lr


def inversion_loss(
    classifier,
    inverter,
    inputs,
    layer,
    featloss_layer=None,
    featloss_weight=0,
    n_excerpts=None,
    bf16=False,
):
    """Training loss of a batch, and its terms.

    Parameters
    ----------
    inverter : Inverter, or Inverter in DDP
    inputs : torch.Tensor, shape (batch, 1, 115, 80), standardised excerpts
    featloss_layer : str, optional
        With a nonzero ``featloss_weight``, adds that weight times the MSE between the
        classifier's features of the inversion and of the input at this layer. Unlike
        the original code, the gradient of this term flows through the frozen
        classifier into the inverter.
    n_excerpts : float, optional
        The number of excerpts the squared errors are averaged over (default:
        ``len(inputs)``). A process of a distributed run passes its fair share of the
        global batch, its size over the number of processes: DDP's mean of the
        processes' losses is then the global batch's loss even where the batch does not
        split evenly, and an empty part adds nothing.
    bf16 : bool
        Run both networks under bfloat16 autocast; the errors are taken in float32.

    Returns
    -------
    loss : torch.Tensor, 0-d
    terms : dict of 0-d tensors
        ``mse``, ``weight_decay`` (already weighted) and, if used, ``featloss``
        (unweighted).
    """
    wanted = {layer} | ({featloss_layer} if featloss_weight else set())
    autocast = torch.autocast(inputs.device.type, dtype=torch.bfloat16, enabled=bf16)
    with torch.no_grad(), autocast:
        features = classifier.features(inputs, wanted)
    with autocast:
        inversion = inverter(features[layer]).float()
    terms = {
        "mse": _mean_error(inversion, inputs[:, 0], n_excerpts),
        "weight_decay": WEIGHT_DECAY * weight_penalty(distributed.unwrap(inverter)),
    }
    loss = terms["mse"] + terms["weight_decay"]
    if featloss_weight:
        with autocast:
            of_inversion = classifier.features(inversion[:, None], [featloss_layer])
        terms["featloss"] = _mean_error(
            of_inversion[featloss_layer].float(), features[featloss_layer].float(), n_excerpts
        )
        loss = loss + featloss_weight * terms["featloss"]
    return loss, terms


def _mean_error(estimate, target, n_excerpts=None):
    """Mean squared error, averaged over ``n_excerpts`` excerpts if given."""
    if n_excerpts is None:
        return torch.nn.functional.mse_loss(estimate, target)
    squared = torch.nn.functional.mse_loss(estimate, target, reduction="sum")
    return squared / (n_excerpts * estimate.shape[1:].numel())


def epoch_order(n_excerpts, epoch, seed, max_excerpts=None):
    """Shuffled excerpt indices of one epoch, seeded by (seed, epoch), at most ``max_excerpts``."""
    order = np.random.default_rng([seed, epoch]).permutation(n_excerpts)
    return order[:max_excerpts]


class RankBatches(torch.utils.data.IterableDataset):
    """This process's part of each batch of ``order``, with the whole batch's size.

    Yields ``(n_excerpts, excerpts)``: the size of the global batch and this process's
    contiguous part of it (all of it without torchrun; possibly none of a last batch
    smaller than the number of processes), float32 (part, 115, 80). A last batch of a
    single excerpt is left out: batch norm in training needs two values per channel,
    which a dense layer's features of one excerpt do not give.
    """

    def __init__(self, mels_list, order, batchsize):
        self.mels_list, self.order, self.batchsize = mels_list, order, batchsize

    def __len__(self):
        return len(self._firsts())

    def _firsts(self):
        firsts = range(0, len(self.order), self.batchsize)
        return [first for first in firsts if len(self.order) - first > 1]

    def __iter__(self):
        none = np.zeros((0, EXCERPT_FRAMES, N_MELS), np.float32)
        for first in self._firsts():
            picks = self.order[first : first + self.batchsize]
            part = picks[distributed.shard(len(picks))]
            yield len(picks), next(excerpt_batches(self.mels_list, part, max(len(part), 1)), none)


def inversion_mse(classifier, inverter, mels_list, starts, layer, device, batchsize=64):
    """Mean squared error between excerpts and their inversions (modules as they are set).

    Parameters
    ----------
    mels_list : list of np.ndarray, shape (n_frames_i, 80), standardised
    starts : np.ndarray, shape (n, 2)
        ``(song index, start frame)`` of each excerpt.
    """
    total = 0.0
    n_batches = -(-len(starts) // batchsize)
    batches = excerpt_batches(mels_list, starts, batchsize)
    with torch.no_grad():
        for batch in tqdm(batches, total=n_batches, desc=f"{layer} mse", leave=False):
            inputs = on_device(torch.from_numpy(batch)[:, None], device)
            inversion = inverter(classifier.features(inputs, [layer])[layer])
            total += float(torch.nn.functional.mse_loss(inversion, inputs[:, 0], reduction="sum"))
    return total / (len(starts) * EXCERPT_FRAMES * N_MELS)


def train(args):
    """Train as ``args`` say; returns the trained inverter (also written to ``args.out``).

    Under torchrun, each process trains on its part of every batch and rank 0 writes.
    """
    return distributed.run(_train, args)


def _train(args, device):
    config = {k: getattr(args, k) for k in RESUME_KEYS}
    ckpt, state = start_checkpoint(args.out, "inverter file", config, args.resume)

    classifier = on_device(load_classifier(args.classifier, device), device)
    mean, std = read_meanstd(args.meanstd or default_meanstd(args.classifier, args.dataset))

    def split_mels(split):
        songs = standardised_split(
            args.dataset_path, args.dataset, split, mean, std, args.cache_spectra
        )
        return [mels for _, mels, _ in songs]

    with distributed.main_first():  # rank 0 fills the spectrogram cache
        train_mels = split_mels("train")
    starts = excerpt_starts([len(m) for m in train_mels], EXCERPT_FRAMES, args.step)
    if distributed.is_main():  # validation is rank 0's alone: it only reports
        valid_mels = split_mels("valid")
        valid_starts = excerpt_starts([len(m) for m in valid_mels], EXCERPT_FRAMES, args.valid_step)

    torch.manual_seed(args.seed)
    inverter = Inverter(args.layer, args.n_conv_layers, args.n_conv_filters)
    if distributed.is_distributed():
        sync_batchnorm(inverter)  # before the optimizer takes the parameters
    inverter = on_device(inverter, device).train()
    optimizer = torch.optim.Adam(inverter.parameters(), lr=args.lr)
    start_epoch, lr, losses = 0, args.lr, []
    if state is not None:
        inverter.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        restore_rng_states(state["rng"])
        start_epoch, lr, losses = state["epoch"], state["lr"], state["losses"]
        logger.info("resuming %s after epoch %d", ckpt, start_epoch)

    net = distributed.wrap(inverter, device)
    # Batches come from a worker beside a GPU, gathered while the GPU trains.
    workers = 1 if device.type == "cuda" else 0

    def step(batch):
        n_excerpts, part = batch
        optimizer.zero_grad(set_to_none=True)
        inputs = on_device(part[:, None], device)
        share = int(n_excerpts) / distributed.world_size() if distributed.is_distributed() else None
        loss, _ = inversion_loss(
            classifier,
            net,
            inputs,
            args.layer,
            args.featloss_layer,
            args.featloss_weight,
            share,
            args.bf16,
        )
        return finite_step(loss, optimizer)

    for epoch in range(start_epoch, args.epochs):
        for group in optimizer.param_groups:
            group["lr"] = lr
        order = starts[epoch_order(len(starts), epoch, args.seed, args.max_excerpts)]
        with stop_on_divergence(ckpt):
            batches = RankBatches(train_mels, order, args.batchsize)
            loss = run_epoch(
                batch_loader(batches, workers, device),
                step,
                len(batches),
                desc=f"{args.layer} epoch {epoch + 1}/{args.epochs}",
            )
        losses.append(loss)  # the global batches' losses: the same on every process
        if distributed.is_main():
            valid_mse = inversion_mse(
                classifier, inverter.eval(), valid_mels, valid_starts, args.layer, device
            )
            inverter.train()
            tqdm.write(
                f"{args.layer} epoch {epoch + 1}/{args.epochs}: lr {lr:.2e}, train loss "
                f"{loss:.4f}, valid mse {valid_mse:.4f}"
            )
        lr = next_lr(args.lr_schedule, lr, epoch, losses)
        save_epoch(ckpt, inverter, optimizer, epoch + 1, config, lr=lr, losses=losses)
    if distributed.is_main():
        inverter.save_lasagne(args.out)
        logger.info("wrote %s", args.out)
    return inverter


def main(argv=None):
    """Command-line entry point (see ``--help``)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    check_args(parser, args)
    run_cli(train, args)


if __name__ == "__main__":
    main()
