"""Distributed training under torchrun: the same run as one process, written once.

The runs start two CPU processes (gloo) with the interpreter running the tests and
compare them with one process trained on the same global batches, dropout off.
"""

import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from inverters import train as inverter_train
from inverters.sync_batchnorm import SyncLasagneBatchNorm
from svdnet import distributed
from svdnet import train as svdnet_train
from svdnet.audio import mel_filterbank
from svdnet.dataset import load_split
from svdnet.errors import InputError
from svdnet.lasagne import LasagneBatchNorm
from svdnet.training import restore_rng_states, rng_states

# Weights after a few steps: float rounding differs with the order of the sums.
TOLERANCE = {"rtol": 1e-3, "atol": 1e-5}


def torchrun(module, argv, cwd, succeed=True, env=None):
    """``python -m module argv`` in two CPU processes under torchrun; returns stderr."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    command += ["--nproc_per_node=2", "-m", module, *map(str, argv)]
    env = os.environ | {"OMP_NUM_THREADS": "1"} | (env or {})
    proc = subprocess.run(command, capture_output=True, text=True, cwd=cwd, env=env)
    assert (proc.returncode == 0) == succeed, proc.stderr[-3000:]
    return proc.stderr


def svdnet_argv(tiny_dataset, out, epochs, *extra):
    """Three batches of four augmented excerpts per epoch, dropout off."""
    dataset_path, name = tiny_dataset
    argv = [out, "--dataset", name, "--dataset-path", dataset_path, "--epochs", epochs]
    argv += ["--epochsize", "3", "--batchsize", "4", "--workers", "0", "--valid-excerpts", "16"]
    return [*argv, "--device", "cpu", "--no-dropout", *extra]


def assert_same_weights(a, b):
    with np.load(a) as one, np.load(b) as two:
        assert one.files == two.files
        for key in one.files:
            torch.testing.assert_close(
                one[key], two[key], **TOLERANCE, msg=lambda m, key=key: f"{key}: {m}"
            )


@pytest.fixture(scope="module")
def svdnet_runs(tiny_dataset, tmp_path_factory):
    """Two processes: one epoch, then resumed for a second; one process: the same."""
    runs = {}
    for name in ("two", "one"):
        folder = tmp_path_factory.mktemp(f"svdnet_{name}")
        out = folder / "net.npz"
        for epochs, extra in ((1, []), (2, ["--resume"])):
            argv = svdnet_argv(tiny_dataset, out, epochs, *extra)
            if name == "two":
                torchrun("svdnet.train", argv, folder)
            else:
                svdnet_train.train(svdnet_train.build_parser().parse_args(map(str, argv)))
            runs[name, epochs] = out.read_bytes()
            if epochs == 1:
                runs[name, "files"] = sorted(p.name for p in folder.iterdir())
                runs[name, "ckpt"] = torch.load(out.with_suffix(".ckpt"), weights_only=True)
        runs[name] = folder
    return runs


def write(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.subprocess
def test_two_processes_train_svdnet_as_one_does_on_the_same_global_batches(svdnet_runs, tmp_path):
    two = write(tmp_path, "two.npz", svdnet_runs["two", 1])
    one = write(tmp_path, "one.npz", svdnet_runs["one", 1])
    assert_same_weights(two, one)
    with np.load(one) as trained:  # biases start at 0: the steps moved them
        assert np.abs(trained["param13"]).max() > 100 * TOLERANCE["atol"]


@pytest.mark.subprocess
def test_only_one_checkpoint_and_one_weight_file_are_written(svdnet_runs):
    assert svdnet_runs["two", "files"] == ["net.ckpt", "net.npz", "tiny_meanstd.npz"]


@pytest.mark.subprocess
def test_the_checkpoint_keeps_each_process_its_own_random_state(svdnet_runs):
    rng = svdnet_runs["two", "ckpt"]["rng"]
    assert len(rng["ranks"]) == 2
    assert torch.equal(rng["torch"], rng["ranks"][0]["torch"])
    assert not torch.equal(rng["ranks"][0]["torch"], rng["ranks"][1]["torch"])


@pytest.mark.subprocess
def test_a_resumed_two_process_run_continues_where_it_stopped(svdnet_runs, tmp_path):
    two = write(tmp_path, "two.npz", svdnet_runs["two", 2])
    one = write(tmp_path, "one.npz", svdnet_runs["one", 2])
    assert_same_weights(two, one)
    assert torch.load(svdnet_runs["two"] / "net.ckpt", weights_only=True)["epoch"] == 2


@pytest.mark.subprocess
def test_two_processes_train_an_inverter_as_one_does_with_uneven_parts(
    tiny_dataset, classifier_files, tmp_path
):
    # 11 excerpts in batches of 4: the last batch of 3 gives the processes 2 and 1.
    # (Not conv1: there Adam turns the rounding of a few near-zero gradients into steps
    # of the learning rate, as a change of the number of threads already does.)
    dataset_path, name = tiny_dataset
    argv = [classifier_files, None, "--layer", "mp6", "--dataset", name]
    argv += ["--dataset-path", dataset_path, "--epochs", "1", "--batchsize", "4"]
    argv += ["--max-excerpts", "11", "--valid-step", "100", "--device", "cpu"]
    outs = {n: tmp_path / n / "gen_mp6.npz" for n in ("one", "two")}
    argv[1] = outs["two"]
    torchrun("inverters.train", argv, tmp_path)
    argv[1] = outs["one"]
    inverter_train.train(inverter_train.build_parser().parse_args(map(str, argv)))
    assert_same_weights(outs["two"], outs["one"])
    assert sorted(p.name for p in outs["two"].parent.iterdir()) == ["gen_mp6.ckpt", "gen_mp6.npz"]


@pytest.mark.parametrize("trainer", [svdnet_train, inverter_train])
def test_a_batch_that_does_not_split_over_the_processes_is_refused_in_one_line(
    trainer, tiny_dataset, classifier_files, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("WORLD_SIZE", "2")
    out = tmp_path / "out" / "m.npz"
    argv = [str(out)] if trainer is svdnet_train else [str(classifier_files), str(out)]
    argv += [] if trainer is svdnet_train else ["--layer", "fc8"]
    argv += ["--dataset", tiny_dataset[1], "--dataset-path", str(tiny_dataset[0])]
    with pytest.raises(SystemExit) as exit_info:
        trainer.main([*argv, "--batchsize", "5", "--device", "cpu"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.splitlines() == [
        "error: --batchsize 5 does not split evenly over 2 processes "
        "(the global batch is kept; choose a multiple of 2)"
    ]
    assert not out.parent.exists()


@pytest.mark.subprocess
def test_when_process_0_finds_bad_input_every_process_stops_with_one_line(tmp_path):
    err = torchrun("svdnet.train", [tmp_path / "m.npz", "--dataset", "none"], tmp_path, False)
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert sorted(lines) == [
        "error: datasets/none: dataset folder not found",
        "error: stopped: process 0 failed (its message says why)",
    ]
    assert "[rank1]: Traceback" not in err and "[rank0]: Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == []


# Loaded by every process at start-up (sitecustomize): process 0 fails to write its
# checkpoint at the end of the first epoch, while the other goes on training.
FAIL_PROCESS_0 = """
import os
if os.environ.get("RANK") == "0":
    import svdnet.training
    from svdnet.errors import InputError

    def save_checkpoint(*args, **kwargs):
        raise InputError("net.ckpt: no space left on device")

    svdnet.training.save_checkpoint = save_checkpoint
"""


@pytest.mark.subprocess
def test_when_process_0_fails_mid_training_the_others_stop_with_one_line(tiny_dataset, tmp_path):
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(FAIL_PROCESS_0)
    path = os.pathsep.join(filter(None, [str(hook), os.environ.get("PYTHONPATH")]))
    argv = svdnet_argv(tiny_dataset, tmp_path / "run" / "net.npz", 2)
    err = torchrun("svdnet.train", argv, tmp_path, False, {"PYTHONPATH": path})
    lines = sorted(line[line.index("error: ") :] for line in err.splitlines() if "error: " in line)
    assert lines == [
        "error: net.ckpt: no space left on device",
        "error: stopped: process 1 lost another process (that one's message says why)",
    ]
    assert "[rank1]: Traceback" not in err and "[rank0]: Traceback" not in err


def test_a_lost_peer_is_one_line_and_other_runtime_errors_pass_through():
    with pytest.raises(InputError, match="lost another process"):
        with distributed._peer_loss_in_one_line():
            raise RuntimeError("[pair.cc:553] Connection closed by peer [127.0.0.1]:48021")
    with pytest.raises(RuntimeError, match="shapes do not match"):
        with distributed._peer_loss_in_one_line():
            raise RuntimeError("shapes do not match")


def test_the_parts_of_a_batch_are_its_rows_with_the_same_augmentation(tiny_dataset):
    songs = load_split(*tiny_dataset, "train", progress=False)

    def batches(part=slice(None)):
        args = (songs, 2, 6, 0, mel_filterbank(), np.zeros(80), np.ones(80), True, part)
        return svdnet_train.EpochBatches(*args)

    whole = batches()
    parts = [batches(distributed.shard(6, rank, 3)) for rank in range(3)]
    for batch_idx in range(2):
        inputs, targets = whole[batch_idx]
        assert torch.equal(torch.cat([part[batch_idx][0] for part in parts]), inputs)
        assert torch.equal(torch.cat([part[batch_idx][1] for part in parts]), targets)


@pytest.mark.parametrize("n", [0, 1, 5, 32, 33])
@pytest.mark.parametrize("n_parts", [1, 2, 3, 8])
def test_shards_cover_every_item_once_in_order_in_parts_of_nearly_equal_size(n, n_parts):
    parts = [list(range(n))[distributed.shard(n, part, n_parts)] for part in range(n_parts)]
    assert sum(parts, []) == list(range(n))
    assert max(map(len, parts)) - min(map(len, parts)) <= 1


def test_the_synchronised_batch_norm_takes_float32_statistics_of_bfloat16_input():
    # bfloat16 keeps 8 significant bits: sums and counts of a channel's values must be
    # taken in float32 for the statistics to match a float32 run's.
    x = (torch.randn(4, 3, 5, 15) * 3 + 1).bfloat16()
    plain, synced = LasagneBatchNorm(3), SyncLasagneBatchNorm(3)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        outputs = [bn(x).float() for bn in (plain, synced)]
    expected = LasagneBatchNorm(3)(x.float())  # the same input, in float32 throughout
    for out in outputs:
        torch.testing.assert_close(out, expected, rtol=1e-2, atol=1e-2)
    torch.testing.assert_close(synced.mean, plain.mean)
    torch.testing.assert_close(synced.inv_std, plain.inv_std)
    assert synced.mean.dtype == synced.inv_std.dtype == torch.float32


def test_without_torchrun_the_synchronised_batch_norm_is_lasagnes():
    torch.manual_seed(0)
    plain, synced = LasagneBatchNorm(3), SyncLasagneBatchNorm(3)
    for bn in (plain, synced):
        with torch.no_grad():
            bn.gamma.copy_(torch.tensor([0.5, 1.0, 2.0]))
    x = torch.randn(4, 3, 5, 6) * 3 + 1
    outputs, grads = [], []
    for bn in (plain, synced):
        x_bn = x.clone().requires_grad_()
        out = bn(x_bn)
        (out * torch.arange(out.numel()).reshape(out.shape)).sum().backward()
        outputs.append(out.detach())
        grads.append((x_bn.grad, bn.gamma.grad, bn.beta.grad))
    torch.testing.assert_close(outputs[1], outputs[0])
    for a, b in zip(grads[1], grads[0], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(synced.mean, plain.mean)
    torch.testing.assert_close(synced.inv_std, plain.inv_std)


def test_a_process_resumes_with_its_own_random_state(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    with torch.random.fork_rng():
        states = []
        for seed in (0, 1):
            torch.manual_seed(seed)
            states.append(rng_states())
        restore_rng_states({**states[0], "ranks": states})
        assert torch.equal(torch.get_rng_state(), states[1]["torch"])
