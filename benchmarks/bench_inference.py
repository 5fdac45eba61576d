"""Inference speed: SVDNet throughput and per-layer inverter time, on the CPU by default.

Compares the project's classifier (as ``load_classifier`` sets it up) with a plain
fp32 NCHW PyTorch forward of the same network, measured in the same run.

    python benchmarks/bench_inference.py [--threads 2] [--batch 32] [--repeats 10] [--json]
"""

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from inverters.model import Inverter, load_inverter  # noqa: E402
from svdnet.model import HIDDEN_LAYERS, LAYER_SHAPES, SVDNet, load_classifier  # noqa: E402


def median_seconds(fn, repeats):
    """Median wall time of ``fn()`` over ``repeats`` runs, after two warm-up runs."""
    with torch.no_grad():
        fn(), fn()
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_classifier(batch, repeats, folder):
    """Excerpts per second of a plain forward and of the project's loaded classifier."""
    plain = SVDNet().eval()
    plain.save_lasagne(folder / "classifier.npz")
    ours = load_classifier(folder / "classifier.npz")
    x = torch.randn(batch, 1, 115, 80)
    with torch.no_grad():
        max_diff = float((plain(x) - ours(x)).abs().max())
    return {
        "plain_excerpts_per_s": batch / median_seconds(lambda: plain(x), repeats),
        "classifier_excerpts_per_s": batch / median_seconds(lambda: ours(x), repeats),
        "classifier_max_abs_diff": max_diff,
    }


def bench_inverters(batch, repeats, folder):
    """Milliseconds per batch for each layer's inverter, loaded as invert.py loads it."""
    ms = {}
    for layer in HIDDEN_LAYERS:
        Inverter(layer).save_lasagne(folder / f"{layer}.npz")
        inverter = load_inverter(folder / f"{layer}.npz", layer)
        feats = torch.randn(batch, *LAYER_SHAPES[layer])
        ms[layer] = 1000 * median_seconds(lambda: inverter(feats), repeats)  # noqa: B023
    return ms


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2, help="torch threads (default: 2)")
    p.add_argument("--batch", type=int, default=32, help="excerpts per batch (default: 32)")
    p.add_argument("--repeats", type=int, default=10, help="timed runs each (default: 10)")
    p.add_argument("--json", action="store_true", help="end with one JSON line of the numbers")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        result = bench_classifier(args.batch, args.repeats, Path(tmp))
        result["inverter_ms_per_batch32" if args.batch == 32 else "inverter_ms_per_batch"] = (
            bench_inverters(args.batch, args.repeats, Path(tmp))
        )
    result.update(threads=args.threads, batch=args.batch)
    print(f"classifier, plain fp32 NCHW: {result['plain_excerpts_per_s']:8.1f} excerpts/s")
    print(f"classifier, this project:    {result['classifier_excerpts_per_s']:8.1f} excerpts/s")
    ratio = result["classifier_excerpts_per_s"] / result["plain_excerpts_per_s"]
    print(f"  speed-up {ratio:.2f}x, max |difference| {result['classifier_max_abs_diff']:.1e}")
    for layer, ms in next(v for k, v in result.items() if k.startswith("inverter_ms")).items():
        print(f"inverter {layer:5s}: {ms:8.1f} ms per batch of {args.batch}")
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
