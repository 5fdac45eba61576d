"""Run a module's mutmut mutants against its fast covering tests only.

A mutant that survives ``mutmut run`` costs every test that covers its function, and
the front end and the network are covered by nearly the whole suite (three minutes per
mutant on two cores, most of it in a few end-to-end runs). This runs each mutant that
``mutmut run`` has not yet run against the covering tests that took at most
``--max-test-seconds`` in mutmut's clean run (optionally only those of the named test
files), fastest first, stopping at the first failure. A mutant that survives here may
still be killed by a slower test: the score is a lower bound.

Run from the repository root after ``mutmut run`` has made ``mutants/`` (and collected
its test coverage)::

    OMP_NUM_THREADS=1 SVDNET_REFERENCE=../shared/reference python \\
        scripts/mutants_fast_tests.py svdnet/model.py --max-test-seconds 2

Results go to ``mutants/<module>.fast.json`` (mutant name -> ``killed``, ``survived``,
``timeout`` or ``no tests``); a second run continues where the first stopped.
"""

import argparse
import fnmatch
import importlib
import json
import os
import signal
import sys
import time
from pathlib import Path

STATUS = {0: "survived", 1: "killed"}


def pending_mutants(module, results, again=(), only="*"):
    """Names (matching ``only``) of the module's mutants that neither mutmut nor an
    earlier run has tried, and those whose earlier result here is in ``again``."""
    meta = json.loads(Path("mutants", module + ".meta").read_text())["exit_code_by_key"]
    return [
        name
        for name, code in meta.items()
        if code is None
        and (name not in results or results[name] in again)
        and fnmatch.fnmatchcase(name, only)
    ]


def tests_for(name, stats, files, max_seconds):
    """The fast tests (of ``files``, if any) covering the mutant's function, fastest first."""
    function = name.rsplit("__mutmut_", 1)[0]
    seconds = stats["duration_by_test"]
    tests = stats["tests_by_mangled_function_name"].get(function, [])
    tests = [t for t in tests if not files or t.split("::")[0] in files]
    return sorted((t for t in tests if seconds.get(t, 0.0) <= max_seconds), key=seconds.get)


def preload_tests():
    """Import every test module and warm PyTorch once, for each forked child to inherit.

    The mutants switch at call time (mutmut's trampolines read ``MUTANT_UNDER_TEST``),
    so modules imported before the fork serve every mutant.
    """
    for path in sorted(Path("tests").glob("*.py")):
        importlib.import_module(f"tests.{path.stem}")
    # A training step of each optimiser imports what PyTorch imports lazily (seconds).
    import torch

    model = torch.nn.Conv2d(1, 2, 3)
    model(torch.randn(2, 1, 9, 9)).sum().backward()
    torch.optim.SGD(model.parameters(), 0.1).step()
    torch.optim.Adam(model.parameters()).step()


def start(name, tests):
    """Fork a child that runs ``tests`` with mutant ``name`` switched on."""
    pid = os.fork()
    if pid == 0:
        import pytest

        os.environ["MUTANT_UNDER_TEST"] = name
        args = ["-x", "-q", "-p", "no:randomly", "-p", "no:cacheprovider", *tests]
        with open(os.devnull, "w") as quiet:
            os.dup2(quiet.fileno(), 1)
            os.dup2(quiet.fileno(), 2)
        os._exit(min(int(pytest.main(args)), 1))
    return pid


def run(module, files, max_seconds, jobs, timeout_s, again=(), only="*"):
    """Run every pending mutant of ``module``; returns the results by mutant name."""
    out = Path("mutants", module + ".fast.json")
    results = json.loads(out.read_text()) if out.exists() else {}
    stats = json.loads(Path("mutants", "mutmut-stats.json").read_text())
    queue = pending_mutants(module, results, again, only)
    running = {}
    os.chdir("mutants")  # the mutated tree, as mutmut runs it
    sys.path.insert(0, os.getcwd())
    preload_tests()
    while queue or running:
        while queue and len(running) < jobs:
            name = queue.pop(0)
            tests = tests_for(name, stats, files, max_seconds)
            if not tests:
                results[name] = "no tests"
                continue
            running[start(name, tests)] = (name, time.monotonic())
        for pid, (name, began) in list(running.items()):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                results[name] = STATUS.get(os.waitstatus_to_exitcode(status), "killed")
            elif time.monotonic() - began > timeout_s:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                results[name] = "timeout"
            else:
                continue
            del running[pid]
            Path("..", out).write_text(json.dumps(results, indent=1))
            print(f"{len(results)} {name} {results[name]}", flush=True)
        time.sleep(0.05)
    os.chdir("..")
    return results


def main():
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("module", help="e.g. svdnet/model.py")
    parser.add_argument("files", nargs="*", help="only these test files (default: all)")
    parser.add_argument(
        "--max-test-seconds", type=float, default=2.0, help="slowest test to run (default: 2)"
    )
    parser.add_argument(
        "--again",
        nargs="+",
        default=(),
        choices=("survived", "no tests", "timeout"),
        help="run the mutants with these earlier results again, with these tests",
    )
    parser.add_argument("--only", default="*", help="mutant names matching this pattern")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per mutant")
    args = parser.parse_args()
    results = run(
        args.module, set(args.files), args.max_test_seconds, args.jobs, args.timeout, args.again,
        args.only,
    )  # fmt: skip
    counts = {s: sum(r == s for r in results.values()) for s in set(results.values())}
    print(json.dumps({"module": args.module, "mutants": len(results), **counts}))


if __name__ == "__main__":
    main()
