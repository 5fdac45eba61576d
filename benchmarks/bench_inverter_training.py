"""Inverter training step, float32 against bfloat16 autocast (``inverters.train --bf16``).

Each layer's step is the one ``inverters.train`` takes: the frozen classifier's features
of a batch, the inverter's reconstruction, the loss of :func:`inverters.train.inversion_loss`,
backward and Adam. Both precisions run on the same fixed random batch, in fresh processes
with the allocator the command-line tools set; medians over alternating rounds, so a
change in the machine's load hits both alike. The speedup is float32 time over bfloat16
time: above 1 where the CPU has AVX512-BF16 or AMX (or on a recent GPU), below 1 on
CPUs without them.

Example
-------
    python benchmarks/bench_inverter_training.py --layers conv1 mp6 fc8 --json
"""

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.fresh import run_fresh  # noqa: E402
from benchmarks.machine import cpu_info  # noqa: E402
from inverters.model import Inverter  # noqa: E402
from inverters.train import inversion_loss  # noqa: E402
from svdnet.device import on_device  # noqa: E402
from svdnet.model import HIDDEN_LAYERS, SVDNet  # noqa: E402


def build_parser():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--layers", nargs="+", choices=HIDDEN_LAYERS, default=list(HIDDEN_LAYERS))
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads (default: 2)")
    p.add_argument("--batchsize", type=int, default=32, help="(default: 32)")
    p.add_argument("--steps", type=int, default=5, help="timed steps (default: 5)")
    p.add_argument(
        "--repeats", type=int, default=2, help="alternating rounds of each measurement (default: 2)"
    )
    p.add_argument("--json", action="store_true", help="end with one JSON line")
    return p


def step_seconds(layer, batchsize, n_steps, bf16):
    """Median seconds of one training step of ``layer``'s inverter, after two untimed."""
    cpu = torch.device("cpu")
    classifier = on_device(SVDNet(), cpu).eval().requires_grad_(False)
    inverter = on_device(Inverter(layer), cpu).train()
    optimizer = torch.optim.Adam(inverter.parameters(), lr=1e-3)
    inputs = on_device(torch.randn(batchsize, 1, 115, 80), cpu)
    times = []
    for _ in range(n_steps + 2):
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        loss, _ = inversion_loss(classifier, inverter, inputs, layer, bf16=bf16)
        loss.backward()
        optimizer.step()
        times.append(time.perf_counter() - start)
    return statistics.median(times[2:])


def main(argv=None):
    args = build_parser().parse_args(argv)
    seconds = {(layer, bf16): [] for layer in args.layers for bf16 in (False, True)}
    for _ in range(args.repeats):
        for layer, bf16 in seconds:
            seconds[layer, bf16].append(
                run_fresh(
                    step_seconds, layer, args.batchsize, args.steps, bf16,
                    threads=args.threads, keep_memory=True,
                )
            )  # fmt: skip
    result = {"threads": args.threads, "batchsize": args.batchsize, "machine": cpu_info()}
    for layer in args.layers:
        fp32, bf16 = (statistics.median(seconds[layer, b]) for b in (False, True))
        result[layer] = {"fp32_ms": 1e3 * fp32, "bf16_ms": 1e3 * bf16, "speedup": fp32 / bf16}
        print(f"{layer:5s}: fp32 {1e3 * fp32:7.1f} ms, bf16 {1e3 * bf16:7.1f} ms per step "
              f"({fp32 / bf16:.2f}x)")  # fmt: skip
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
