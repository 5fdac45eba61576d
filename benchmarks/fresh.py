"""Running one measurement in a fresh interpreter, with or without the tuned allocator.

The plain PyTorch baselines must see glibc's default malloc, and the project's paths
the one its command-line tools set (:func:`svdnet.allocator.keep_freed_memory`);
that setting cannot be undone within a process, so each measurement gets its own.
"""

import multiprocessing
from concurrent.futures import ProcessPoolExecutor

import torch

from svdnet.allocator import keep_freed_memory


def _set_up(threads, keep_memory):
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    if keep_memory:
        keep_freed_memory()


def run_fresh(fn, *args, threads, keep_memory):
    """``fn(*args)`` in a new spawned process; returns its result."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        1, mp_context=context, initializer=_set_up, initargs=(threads, keep_memory)
    ) as pool:
        return pool.submit(fn, *args).result()
