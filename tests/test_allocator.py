"""keep_freed_memory: a freed big block is reused, not faulted in afresh."""

import subprocess
import sys

import pytest

from svdnet import allocator

# Page faults while filling a fresh 64 MiB tensor ten times, freeing it in between,
# after ten fills that let the heap reach its steady size.
FAULTS = """
import resource, sys, torch
from svdnet.allocator import keep_freed_memory
if sys.argv[1] == "keep":
    assert keep_freed_memory()
for _ in range(10):
    torch.ones(1 << 24)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    torch.ones(1 << 24)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def page_faults(mode):
    out = subprocess.run(
        [sys.executable, "-c", FAULTS, mode], capture_output=True, text=True, check=True
    )
    return int(out.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc only")
@pytest.mark.subprocess
def test_freed_blocks_are_reused_instead_of_faulted_in():
    pages = 10 * (64 << 20) // 4096  # 163,840 pages of 4 KiB if every fill faults
    assert page_faults("default") > pages // 2
    assert page_faults("keep") < pages // 50


def test_without_mallopt_it_is_a_no_op(monkeypatch):
    monkeypatch.setattr(allocator.ctypes.util, "find_library", lambda name: "no-such-libc")
    assert allocator.keep_freed_memory() is False
