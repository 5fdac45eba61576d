"""SVDNet training throughput with augmentation, against a plain fp32 training step.

The plain step is the textbook loop: the network in PyTorch's default layout, one
fixed random batch, no data preparation, glibc's default allocator. The measured
training path is the one ``svdnet.train`` runs: batches augmented by the batch loader
(``--workers`` processes), the network in channels-last layout, freed memory kept for
reuse (:mod:`svdnet.allocator`); once in float32 and once under bfloat16 autocast
(``svdnet.train --bf16``). Each measurement runs in a fresh process. Medians over
alternating rounds, so a change in the machine's load hits every measurement alike.
Synthetic spectrograms stand in for a corpus, so nothing needs to be downloaded.

With ``--nproc N`` it measures distributed training instead: the same loop in N
processes started by ``torchrun`` (each training on its part of every global batch of
``--batchsize``, gradients averaged by DDP; gloo on CPUs, NCCL on GPUs) against one
process started the same way, in alternating rounds; the scaling efficiency is the
throughput of N processes over N times that of one. Each process gets ``--threads``
torch threads and ``--workers`` batch-preparing processes, so on CPUs N processes need
N times as many cores for the figure to measure scaling rather than shared cores.

Example
-------
    python benchmarks/bench_training.py --batches 10 --json
    python benchmarks/bench_training.py --nproc 2 --threads 1 --workers 0 --json
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.fresh import run_fresh  # noqa: E402
from benchmarks.machine import cpu_info  # noqa: E402
from svdnet import distributed, train  # noqa: E402
from svdnet.allocator import keep_freed_memory  # noqa: E402
from svdnet.audio import N_BINS, mel_filterbank  # noqa: E402
from svdnet.cli import add_device_option  # noqa: E402
from svdnet.dataset import Song  # noqa: E402
from svdnet.device import (
    on_device,  # noqa: E402
    pick_device,  # noqa: E402
)
from svdnet.model import SVDNet  # noqa: E402


def build_parser():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_device_option(p, default="cpu")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads (default: 2)")
    p.add_argument("--batchsize", type=int, default=32, help="(default: 32)")
    p.add_argument("--batches", type=int, default=10, help="timed batches (default: 10)")
    p.add_argument("--warmup", type=int, default=3, help="untimed batches first (default: 3)")
    p.add_argument(
        "--workers",
        type=int,
        help="batch-preparing processes (default: svdnet.train's for the device)",
    )
    p.add_argument(
        "--repeats", type=int, default=3, help="alternating rounds of each measurement (default: 3)"
    )
    p.add_argument(
        "--no-bf16", dest="bf16", action="store_false", help="skip the bfloat16 autocast run"
    )
    p.add_argument(
        "--nproc",
        type=int,
        help="measure N torchrun processes against one instead (default: one process)",
    )
    p.add_argument("--scaling-worker", metavar="JSON", help=argparse.SUPPRESS)
    p.add_argument("--json", action="store_true", help="end with one JSON line")
    return p


def synthetic_songs(n_songs=8, n_frames=3000, seed=0):
    """Random magnitude spectrograms with random frame labels."""
    rng = np.random.default_rng(seed)
    return [
        Song(
            f"synthetic{i}",
            rng.exponential(size=(n_frames, N_BINS)).astype(np.float32),
            (rng.random(n_frames) > 0.5).astype(np.float32),
        )
        for i in range(n_songs)
    ]


def optimizer_for(model):
    return torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.95, nesterov=True)


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_plain_step(device, batchsize, n_batches, n_warmup):
    """Seconds per batch of the textbook fp32 step on one fixed random batch."""
    torch.manual_seed(0)
    model = SVDNet().to(device).train()
    optimizer = optimizer_for(model)
    inputs = torch.randn(batchsize, 1, 115, 80, device=device)
    targets = (torch.rand(batchsize, device=device) > 0.5).float()
    times = []
    for _ in range(n_warmup + n_batches):
        start = time.perf_counter()
        optimizer.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model.logits(inputs), targets)
        loss.backward()
        optimizer.step()
        sync(device)
        times.append(time.perf_counter() - start)
    return times[n_warmup:]


def time_training(device, batchsize, n_batches, n_warmup, workers, bf16=False):
    """Seconds per batch of svdnet.train's loop, augmentation included."""
    torch.manual_seed(0)
    model = on_device(SVDNet(), device).train()
    optimizer = optimizer_for(model)
    batches = train.EpochBatches(
        synthetic_songs(), n_warmup + n_batches, batchsize, 0, mel_filterbank(),
        np.zeros(80), np.ones(80), True,
    )  # fmt: skip
    times, start = [], time.perf_counter()
    for inputs, targets in train.batch_loader(batches, workers, device):
        inputs, targets = on_device(inputs, device), targets.to(device)
        train.training_step(model, optimizer, inputs, targets, bf16)
        sync(device)
        times.append(time.perf_counter() - start)
        start = time.perf_counter()
    return times[n_warmup:]


def time_distributed(device_name, batchsize, n_batches, n_warmup, workers):
    """Seconds per global batch of svdnet.train's loop in this torchrun process's group.

    Every process trains on its part of each batch, as ``svdnet.train`` does under
    torchrun; the loss the step returns is averaged over the processes, so each batch's
    time covers the slowest process.
    """
    device = distributed.rank_device(pick_device(device_name))
    with distributed.process_group(device):
        torch.manual_seed(0)
        model = on_device(SVDNet(), device).train()
        optimizer = optimizer_for(model)
        net = train.trainee(model, device)
        batches = train.EpochBatches(
            synthetic_songs(), n_warmup + n_batches, batchsize, 0, mel_filterbank(),
            np.zeros(80), np.ones(80), True, distributed.shard(batchsize),
        )  # fmt: skip
        times, start = [], time.perf_counter()
        for inputs, targets in train.batch_loader(batches, workers, device):
            inputs, targets = on_device(inputs, device), targets.to(device, non_blocking=True)
            float(train.training_step(net, optimizer, inputs, targets))
            times.append(time.perf_counter() - start)
            start = time.perf_counter()
    return times[n_warmup:]


def scaling_worker(args):
    """Entry point of each torchrun process; rank 0 writes its times to ``--scaling-worker``."""
    torch.set_num_threads(args.threads)
    keep_freed_memory()  # as svdnet.train's command line runs
    times = time_distributed(args.device, args.batchsize, args.batches, args.warmup, args.workers)
    if distributed.is_main():
        Path(args.scaling_worker).write_text(json.dumps(times))


def time_torchrun(args, nproc):
    """Seconds per global batch with ``nproc`` processes started by torchrun."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "times.json"
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
        command += [f"--nproc_per_node={nproc}", __file__, "--scaling-worker", str(out)]
        command += ["--device", args.device, "--threads", str(args.threads)]
        command += ["--batchsize", str(args.batchsize), "--batches", str(args.batches)]
        command += ["--warmup", str(args.warmup), "--workers", str(args.workers)]
        env = os.environ | {"OMP_NUM_THREADS": str(args.threads)}
        subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)
        return json.loads(out.read_text())


def measure_scaling(args):
    """Throughput of ``args.nproc`` processes and of one, and the scaling efficiency."""
    times = {1: [], args.nproc: []}
    for _ in range(args.repeats):
        for nproc in times:
            times[nproc] += time_torchrun(args, nproc)
    rate = {n: args.batchsize / float(np.median(seconds)) for n, seconds in times.items()}
    return {
        "nproc": args.nproc,
        "train_1proc_excerpts_per_s": rate[1],
        f"train_{args.nproc}proc_excerpts_per_s": rate[args.nproc],
        "speedup": rate[args.nproc] / rate[1],
        "scaling_efficiency": rate[args.nproc] / (args.nproc * rate[1]),
    }


def time_augmentation(batchsize, n_batches):
    """Seconds per batch of preparing augmented batches alone, in this process."""
    batches = train.EpochBatches(
        synthetic_songs(), n_batches, batchsize, 0, mel_filterbank(), np.zeros(80), np.ones(80),
        True,
    )  # fmt: skip
    start = time.perf_counter()
    for i in range(n_batches):
        batches[i]
    return (time.perf_counter() - start) / n_batches


def main(argv=None):
    args = build_parser().parse_args(argv)
    device = pick_device(args.device)
    if args.workers is None:
        args.workers = train.default_workers(device)
    if args.scaling_worker:
        return scaling_worker(args)
    if args.nproc:
        if args.batchsize % args.nproc:
            raise SystemExit(f"--batchsize {args.batchsize} does not split over {args.nproc}")
        results = {"device": str(device), "threads": args.threads, "workers": args.workers}
        results |= {"batchsize": args.batchsize, **measure_scaling(args)}
        return report(results, args.json)
    measure = (device, args.batchsize, args.batches, args.warmup)
    plain = partial(run_fresh, threads=args.threads, keep_memory=False)
    ours = partial(run_fresh, threads=args.threads, keep_memory=True)
    times = {"plain_step": [], "train": [], "train_bf16": []}
    for _ in range(args.repeats):
        times["plain_step"] += plain(time_plain_step, *measure)
        times["train"] += ours(time_training, *measure, args.workers)
        if args.bf16:
            times["train_bf16"] += ours(time_training, *measure, args.workers, True)
    results = {
        "device": str(device),
        "threads": args.threads,
        "workers": args.workers,
        "batchsize": args.batchsize,
        "augment_s_per_batch": time_augmentation(args.batchsize, args.batches),
    }
    for name, seconds in times.items():
        if seconds:
            results[f"{name}_s_per_batch"] = float(np.median(seconds))
            results[f"{name}_excerpts_per_s"] = args.batchsize / float(np.median(seconds))
    plain = results["plain_step_excerpts_per_s"]
    results["speedup"] = results["train_excerpts_per_s"] / plain
    if args.bf16:
        results["speedup_bf16"] = results["train_bf16_excerpts_per_s"] / plain
    report(results, args.json)


def report(results, as_json):
    """Print ``results`` and the machine, one per line, then as one JSON line if asked."""
    results["machine"] = cpu_info()
    for key, value in results.items():
        print(f"{key:28s} {value:.4g}" if isinstance(value, float) else f"{key:28s} {value}")
    if as_json:
        print(json.dumps(results))


if __name__ == "__main__":
    main()
