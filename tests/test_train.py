"""svdnet.train: the recipe's pieces, and short runs on a tiny corpus."""

import numpy as np
import pytest
import threadpoolctl
import torch

from svdnet import train
from svdnet.audio import load_meanstd, log_mel, mel_filterbank
from svdnet.dataset import load_split
from svdnet.device import on_device, warn_if_slow_bf16
from svdnet.model import SVDNet, load_classifier


def argv_for(tiny_dataset, out, *extra):
    """Command line of a short CPU run: one epoch of two batches of four excerpts."""
    dataset_path, name = tiny_dataset
    argv = [str(out), "--dataset", name, "--dataset-path", str(dataset_path)]
    argv += ["--epochs", "1", "--epochsize", "2", "--batchsize", "4", "--workers", "0"]
    return argv + ["--valid-excerpts", "16", "--device", "cpu", *extra]


def run_args(tiny_dataset, out, *extra):
    return train.build_parser().parse_args(argv_for(tiny_dataset, out, *extra))


def test_learning_rate_is_multiplied_by_085_after_every_epoch():
    got = [train.epoch_lr(0.01, epoch) for epoch in range(4)]
    np.testing.assert_allclose(got, [0.01, 0.0085, 0.007225, 0.00614125])


def test_orthogonal_init_gives_orthonormal_weight_rows_and_zero_biases():
    model = SVDNet()
    train.orthogonal_init(model)
    for op in model.weighted_ops():
        w = op.weight.detach().reshape(op.weight.shape[0], -1)
        w = w if w.shape[0] <= w.shape[1] else w.T  # the shorter side is orthonormal
        torch.testing.assert_close(w @ w.T, torch.eye(len(w)), atol=1e-5, rtol=0)
        assert not op.bias.any()


def test_meanstd_is_the_per_band_statistics_of_the_training_frames(tiny_dataset):
    songs = load_split(*tiny_dataset, "train", progress=False)
    filterbank = mel_filterbank()
    mean, std = train.compute_meanstd(songs, filterbank)
    frames = np.concatenate([log_mel(s.spect, filterbank) for s in songs]).astype(np.float64)
    np.testing.assert_allclose(mean, frames.mean(axis=0), rtol=1e-9)
    np.testing.assert_allclose(std, frames.std(axis=0), rtol=1e-6)


def test_training_step_with_a_nan_loss_leaves_the_model_unchanged():
    model = SVDNet()
    before = [p.detach().clone() for p in model.parameters()]
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.95, nesterov=True)
    inputs = torch.full((2, 1, 115, 80), float("nan"))
    loss = train.training_step(model, optimizer, inputs, torch.ones(2))
    assert torch.isnan(loss)
    for a, b in zip(before, model.parameters(), strict=True):
        assert torch.equal(a, b)


def test_batches_do_not_depend_on_the_number_of_workers(tiny_dataset):
    songs = load_split(*tiny_dataset, "train", progress=False)
    batches = train.EpochBatches(
        songs, 3, 4, 0, mel_filterbank(), np.zeros(80), np.ones(80), augment=True
    )
    cpu = torch.device("cpu")
    inline = list(train.batch_loader(batches, 0, cpu))
    workers = list(train.batch_loader(batches, 2, cpu))
    for (a, ya), (b, yb) in zip(inline, workers, strict=True):
        assert torch.equal(a, b) and torch.equal(ya, yb)
    batches.epoch = 1
    assert not torch.equal(next(iter(train.batch_loader(batches, 0, cpu)))[0], inline[0][0])


@pytest.mark.parametrize(("augment", "n_frames"), [(False, 115), (True, 164)])
def test_batches_draw_from_every_excerpt_their_cut_allows(tiny_dataset, augment, n_frames):
    # Plain excerpts are 115 frames, to the last of each song; augmented ones are cut
    # from 164 frames, which a stretch by 0.7 reads.
    songs = load_split(*tiny_dataset, "train", progress=False)
    filterbank, mean, std = mel_filterbank(), np.zeros(80), np.ones(80)
    batches = train.EpochBatches(songs, 1, 4, 0, filterbank, mean, std, augment=augment)
    for i, song in enumerate(songs):
        starts = batches.starts[batches.starts[:, 0] == i, 1]
        np.testing.assert_array_equal(starts, np.arange(len(song.spect) - n_frames + 1))
    if not augment:
        every = [
            log_mel(s.spect[t : t + 115], filterbank)
            for s in songs
            for t in range(len(s.spect) - 114)
        ]
        for x in batches[0][0][:, 0].numpy():
            assert any(np.allclose(x, e, atol=1e-5) for e in every)


@pytest.mark.parametrize(("given", "used"), [(None, 1), (0, 0)])
def test_a_run_without_workers_takes_the_default_for_its_device(
    tiny_dataset, tmp_path, monkeypatch, given, used
):
    asked, loaders = [], []
    real_loader = train.batch_loader

    def default_workers(device):
        asked.append(device)
        return 1

    def batch_loader(batches, workers, device):
        loaders.append(workers)
        return real_loader(batches, 0, device)  # no worker processes in the test

    monkeypatch.setattr(train, "default_workers", default_workers)
    monkeypatch.setattr(train, "batch_loader", batch_loader)
    args = run_args(tiny_dataset, tmp_path / "model.npz")
    args.workers = given
    train.train(args)
    assert asked == ([torch.device("cpu")] if given is None else [])
    assert loaders == [used]


@pytest.mark.parametrize(
    "device, cpus, local_processes, workers",
    [
        ("cuda", 16, 1, 15),
        ("cuda", 1, 1, 1),
        ("cpu", 16, 1, 4),
        ("cpu", 2, 1, 2),
        ("cpu", 1, 1, 1),
        ("cpu", None, 1, 1),  # os.cpu_count() may not know
        ("cpu", 5, 2, 2),  # two processes on one machine share its 5 CPUs: 2 each
        ("cuda", 17, 2, 7),
    ],
)
def test_default_workers_feed_a_gpu_from_every_spare_cpu(
    monkeypatch, device, cpus, local_processes, workers
):
    monkeypatch.setattr(train.os, "cpu_count", lambda: cpus)
    monkeypatch.setattr(train.distributed, "local_world_size", lambda: local_processes)
    assert train.default_workers(torch.device(device)) == workers


class BlasThreads(torch.utils.data.Dataset):
    """Reports, as its items, how many threads numpy's BLAS may use while preparing them."""

    def __len__(self):
        return 2

    def __getitem__(self, i):
        info = [p for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"]
        return torch.tensor([p["num_threads"] for p in info])


@pytest.mark.skipif(
    not any(p["user_api"] == "blas" for p in threadpoolctl.threadpool_info()),
    reason="threadpoolctl sees no BLAS library in this numpy",
)
@pytest.mark.parametrize("workers", [0, 1])
def test_batches_are_prepared_with_single_threaded_blas(workers):
    before = threadpoolctl.threadpool_info()
    for threads in train.batch_loader(BlasThreads(), workers, torch.device("cpu")):
        assert len(threads) and (threads == 1).all()
    assert threadpoolctl.threadpool_info() == before  # restored after the epoch


class Stop(Exception):
    pass


@pytest.mark.parametrize("flags, n_bins", [([], 513), (["--no-augment"], 372)])
def test_training_keeps_the_bins_a_pitch_shift_down_reads(tiny_dataset, tmp_path, flags, n_bins):
    seen = []

    def record(songs, *args):
        seen.append({s.spect.shape[1] for s in songs})
        raise Stop

    with pytest.MonkeyPatch.context() as patch, pytest.raises(Stop):
        patch.setattr(train, "EpochBatches", record)
        train.train(run_args(tiny_dataset, tmp_path / "m.npz", *flags))
    assert seen == [{n_bins}]


def test_a_short_run_writes_meanstd_checkpoint_and_weights_that_load_back(tiny_dataset, tmp_path):
    out = tmp_path / "model.npz"
    model = train.train(run_args(tiny_dataset, out))
    assert (tmp_path / "tiny_meanstd.npz").is_file()
    assert torch.load(out.with_suffix(".ckpt"), weights_only=True)["epoch"] == 1
    mean, std = load_meanstd(tmp_path / "tiny_meanstd.npz")
    assert mean.shape == std.shape == (80,)
    model = model.eval()  # trained channels-last, as load_classifier sets it up
    loaded = load_classifier(out)
    x = torch.randn(3, 1, 115, 80)
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))


def test_resuming_continues_the_epochs_and_matches_an_uninterrupted_run(tiny_dataset, tmp_path):
    straight, resumed = tmp_path / "straight.npz", tmp_path / "resumed.npz"
    train.train(run_args(tiny_dataset, straight, "--epochs", "2"))
    train.train(run_args(tiny_dataset, resumed, "--epochs", "1"))
    train.train(run_args(tiny_dataset, resumed, "--epochs", "2", "--resume"))
    assert torch.load(resumed.with_suffix(".ckpt"), weights_only=True)["epoch"] == 2
    with np.load(straight) as a, np.load(resumed) as b:
        for key in a.files:
            np.testing.assert_allclose(a[key], b[key], rtol=1e-5, atol=1e-6)


def test_keep_epochs_writes_each_epochs_weights_as_a_shorter_run_ends(tiny_dataset, tmp_path):
    kept, short = tmp_path / "kept.npz", tmp_path / "short.npz"
    train.train(run_args(tiny_dataset, kept, "--epochs", "2", "--keep-epochs"))
    train.train(run_args(tiny_dataset, short, "--epochs", "1"))
    assert sorted(p.name for p in tmp_path.glob("*.epoch*")) == [
        "kept.epoch1.npz",
        "kept.epoch2.npz",
    ]
    assert not list(tmp_path.glob("short.epoch*"))
    pairs = [("kept.epoch1.npz", short), ("kept.epoch2.npz", kept)]
    for epoch_file, final in pairs:
        with np.load(tmp_path / epoch_file) as a, np.load(final) as b:
            assert a.files == b.files
            for key in a.files:
                np.testing.assert_allclose(a[key], b[key], rtol=1e-5, atol=1e-6)
    with np.load(short) as a, np.load(kept) as b:  # the epochs differ enough to tell apart
        assert any(not np.allclose(a[k], b[k], rtol=1e-5, atol=1e-6) for k in a.files)


def test_resuming_with_other_settings_is_refused(tiny_dataset, tmp_path, capsys):
    out = tmp_path / "model.npz"
    train.train(run_args(tiny_dataset, out))
    with pytest.raises(SystemExit) as exit_info:
        train.main(argv_for(tiny_dataset, out, "--epochs", "2", "--batchsize", "8", "--resume"))
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "batchsize: 4 there, 8 now" in err.splitlines()[-1]


def test_resuming_with_dropout_switched_is_refused_either_way(tiny_dataset, tmp_path, capsys):
    out = tmp_path / "model.npz"
    train.train(run_args(tiny_dataset, out, "--no-dropout"))
    with pytest.raises(SystemExit):
        train.main(argv_for(tiny_dataset, out, "--epochs", "2", "--resume"))
    assert "dropout: False there, True now" in capsys.readouterr().err
    # A checkpoint from before --no-dropout does not record it: it had dropout on.
    ckpt = out.with_suffix(".ckpt")
    state = torch.load(ckpt, weights_only=True)
    del state["config"]["dropout"]
    torch.save(state, ckpt)
    with pytest.raises(SystemExit):
        train.main(argv_for(tiny_dataset, out, "--epochs", "2", "--resume", "--no-dropout"))
    assert "dropout: True there, False now" in capsys.readouterr().err
    train.train(run_args(tiny_dataset, out, "--epochs", "2", "--resume"))
    assert torch.load(ckpt, weights_only=True)["config"]["dropout"] is True


@pytest.mark.parametrize(("options", "augmented"), [((), True), (("--no-augment",), False)])
def test_a_run_augments_its_batches_unless_told_not_to(
    tiny_dataset, tmp_path, monkeypatch, options, augmented
):
    asked = []

    def spy(*args, **kwargs):
        asked.append(args[7])
        return augment_batch(*args, **kwargs)

    augment_batch = train.augmented_batch
    monkeypatch.setattr(train, "augmented_batch", spy)
    train.train(run_args(tiny_dataset, tmp_path / "model.npz", *options))
    assert asked == [augmented, augmented]  # two batches, made in this process


@pytest.mark.parametrize(("options", "p"), [((), 0.5), (("--no-dropout",), 0.0)])
def test_a_run_trains_with_dropout_unless_told_not_to(tiny_dataset, tmp_path, options, p):
    model = train.train(run_args(tiny_dataset, tmp_path / "model.npz", *options))
    # Before each of the three dense layers: fc7, fc8 and the output.
    assert [m.p for m in model.modules() if isinstance(m, torch.nn.Dropout)] == [p, p, p]


def test_a_bf16_run_computes_in_bfloat16(tiny_dataset, tmp_path):
    fp32 = train.train(run_args(tiny_dataset, tmp_path / "fp32.npz", "--no-dropout"))
    bf16 = train.train(run_args(tiny_dataset, tmp_path / "bf16.npz", "--no-dropout", "--bf16"))
    again = train.train(run_args(tiny_dataset, tmp_path / "again.npz", "--no-dropout"))
    weights = [list(m.parameters()) for m in (fp32, bf16, again)]
    assert all(torch.equal(a, b) for a, b in zip(weights[0], weights[2], strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(weights[0], weights[1], strict=True))


def test_each_epoch_reports_its_rate_loss_and_the_validation_error(tiny_dataset, tmp_path, capsys):
    model = train.train(run_args(tiny_dataset, tmp_path / "model.npz", "--epochs", "2"))
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("epoch")]
    assert [line.split(": ")[0] for line in lines] == ["epoch 1/2", "epoch 2/2"]
    assert "lr 1.00e-02, train loss " in lines[0] and "lr 8.50e-03, train loss " in lines[1]
    mean, std = load_meanstd(tmp_path / "tiny_meanstd.npz")
    inputs, truth = train.valid_subset(*tiny_dataset, mean, std, None, 16)
    error = train.classification_error(model, inputs, truth, "cpu")
    assert lines[1].endswith(f"valid error {error:.2%}")


def test_a_nan_loss_exits_2_and_keeps_the_last_good_checkpoint(
    tiny_dataset, tmp_path, monkeypatch, capsys
):
    out = tmp_path / "model.npz"
    train.train(run_args(tiny_dataset, out))
    ckpt = out.with_suffix(".ckpt")
    good, weights = ckpt.read_bytes(), out.read_bytes()

    def nan_loss(logits, targets):
        return logits.sum() * float("nan")

    monkeypatch.setattr(train.nn.functional, "binary_cross_entropy_with_logits", nan_loss)
    with pytest.raises(SystemExit) as exit_info:
        train.main(argv_for(tiny_dataset, out, "--epochs", "2", "--resume"))
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]
    assert "Traceback" not in err and "nan" in last and "epoch 2/2" in last
    assert ckpt.read_bytes() == good and out.read_bytes() == weights


def test_a_missing_dataset_exits_2_with_one_line_and_writes_nothing(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        train.main([str(tmp_path / "m.npz"), "--dataset", "none", "--dataset-path", str(tmp_path)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "none" in err and len(err.splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_a_bf16_autocast_step_updates_the_float32_weights():
    torch.manual_seed(0)
    model = on_device(SVDNet(), torch.device("cpu")).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.95, nesterov=True)
    before = model.stages["conv1"][0].weight.detach().clone()
    inputs = on_device(torch.randn(2, 1, 115, 80), torch.device("cpu"))
    loss = train.training_step(model, optimizer, inputs, torch.ones(2), bf16=True)
    assert torch.isfinite(loss)
    weight = model.stages["conv1"][0].weight
    assert weight.dtype == torch.float32 and not torch.equal(weight, before)


def test_with_a_cache_splits_stay_memory_mapped_and_slice_to_the_same_mels(tiny_dataset, tmp_path):
    from svdnet.training import LazyMels, standardised_split

    mean, std = np.full(80, -4.0), np.full(80, 2.0)
    eager = standardised_split(*tiny_dataset, "train", mean, std)
    lazy = standardised_split(*tiny_dataset, "train", mean, std, tmp_path / "cache")
    for (_, whole, targets), (_, mels, lazy_targets) in zip(eager, lazy, strict=True):
        assert isinstance(mels, LazyMels) and isinstance(mels.spect.base, np.memmap)
        assert len(mels) == len(whole)
        np.testing.assert_allclose(mels[40:155], whole[40:155], rtol=1e-5, atol=1e-5)
        np.testing.assert_array_equal(lazy_targets, targets)


def test_a_short_run_trains_from_the_memory_mapped_cache(tiny_dataset, tmp_path):
    cache = tmp_path / "cache"
    train.train(run_args(tiny_dataset, tmp_path / "net.npz", "--cache-spectra", str(cache)))
    assert len(list(cache.glob("*.npy"))) == 5  # train and valid files
    load_classifier(tmp_path / "net.npz")


def test_the_validation_error_counts_excerpts_on_the_wrong_side_of_p_one_half():
    class GivenLogits(torch.nn.Module):
        def logits(self, x):
            return x[:, 0, 0, 0]

    logits = np.array([-2.0, 0.5, 3.0, -0.1, 0.9], np.float32)
    inputs = np.broadcast_to(logits[:, None, None], (5, 115, 80)).copy()
    targets = np.array([0.0, 1, 0, 1, 1], np.float32)
    # Called singing: 0.5, 3.0 and 0.9; wrong: the 3.0 (no singing) and the -0.1 (singing).
    error = train.classification_error(GivenLogits(), inputs, targets, torch.device("cpu"), 2)
    assert error == pytest.approx(2 / 5)


@pytest.mark.parametrize(
    ("flags", "noted"),
    [
        ("fpu sse4_2 avx2 fma", True),
        ("avx2 avx512f amx_bf16 amx_tile", False),
        ("avx512_bf16", False),
    ],
)
def test_bf16_is_noted_as_slow_only_on_cpus_without_native_bfloat16(tmp_path, caplog, flags, noted):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("".join(f"processor\t: {i}\nflags\t\t: {flags}\n\n" for i in range(2)))
    assert warn_if_slow_bf16(torch.device("cpu"), cpuinfo) is noted
    assert ("several times slower" in caplog.text) is noted


def test_bf16_is_not_noted_where_flags_are_unknown_or_on_a_gpu(tmp_path, caplog):
    assert not warn_if_slow_bf16(torch.device("cpu"), tmp_path / "missing")
    (tmp_path / "no_flags").write_text("processor\t: 0\nmodel name\t: some cpu\n")
    assert not warn_if_slow_bf16(torch.device("cpu"), tmp_path / "no_flags")
    slow = tmp_path / "slow"
    slow.write_text("flags\t\t: avx2\n")
    assert not warn_if_slow_bf16(torch.device("cuda"), slow)
    assert caplog.text == ""
