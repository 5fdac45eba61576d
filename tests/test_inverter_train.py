"""inverters.train and inverters.evaluate: the recipe's pieces and short CPU runs."""

import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from inverters import evaluate as inverter_evaluate
from inverters import train
from inverters.model import Inverter, load_inverter
from svdnet.audio import save_meanstd
from svdnet.augment import excerpt_starts
from svdnet.dataset import load_split
from svdnet.errors import InputError
from svdnet.model import SVDNet


@pytest.fixture(scope="module")
def classifier():
    torch.manual_seed(0)
    return SVDNet().eval().requires_grad_(False)


@pytest.fixture
def classifier_file(tmp_path, classifier):
    classifier.save_lasagne(tmp_path / "classifier.npz")
    save_meanstd(tmp_path / "tiny_meanstd.npz", np.full(80, -4.0), np.full(80, 2.0))
    return tmp_path / "classifier.npz"


def argv_for(tiny_dataset, classifier_file, out, layer, *extra):
    """A short CPU run: one epoch of two batches of four excerpts."""
    dataset_path, name = tiny_dataset
    argv = [str(classifier_file), str(out), "--layer", layer, "--dataset", name]
    argv += ["--dataset-path", str(dataset_path), "--epochs", "1", "--batchsize", "4"]
    return argv + ["--max-excerpts", "8", "--valid-step", "100", "--device", "cpu", *extra]


def run_args(*args):
    return train.build_parser().parse_args(argv_for(*args))


def test_weight_penalty_sums_the_squared_weights_of_every_weighted_layer_only():
    inverter = Inverter("conv1")
    expected = sum(
        float((p.detach().double() ** 2).sum())
        for name, p in inverter.named_parameters()
        if name.endswith("op.weight")
    )
    assert train.weight_penalty(inverter).item() == pytest.approx(expected, rel=1e-5)
    # Batch-norm parameters do not count.
    for block in inverter.weighted_blocks():
        block.bn.gamma.data.fill_(5.0)
    assert train.weight_penalty(inverter).item() == pytest.approx(expected, rel=1e-5)


def test_loss_is_the_mse_plus_1e_4_times_the_weight_penalty(classifier):
    torch.manual_seed(1)
    inverter = Inverter("fc8").train()
    inputs = torch.randn(4, 1, 115, 80)
    loss, terms = train.inversion_loss(classifier, inverter, inputs, "fc8")
    with torch.no_grad():
        inversion = inverter(classifier.features(inputs, ["fc8"])["fc8"])
    mse = float(((inversion - inputs[:, 0]) ** 2).mean())
    assert terms["mse"].item() == pytest.approx(mse, rel=1e-5)
    assert loss.item() == pytest.approx(
        mse + 1e-4 * train.weight_penalty(inverter).item(), rel=1e-5
    )
    assert "featloss" not in terms


def test_a_process_share_of_a_batch_divides_the_summed_errors_by_that_share(classifier):
    # Under torchrun each process passes its share of the global batch (here 2.5 of 5).
    torch.manual_seed(2)
    inverter = Inverter("fc8").train()
    inputs = torch.randn(4, 1, 115, 80)
    loss, terms = train.inversion_loss(classifier, inverter, inputs, "fc8", "fc7", 0.5, 2.5)
    with torch.no_grad():
        inversion = inverter(classifier.features(inputs, ["fc8"])["fc8"])
        fc7 = classifier.features(inversion[:, None], ["fc7"])["fc7"]
        fc7_input = classifier.features(inputs, ["fc7"])["fc7"]
    mse = float(((inversion - inputs[:, 0]) ** 2).sum()) / (2.5 * 115 * 80)
    featloss = float(((fc7 - fc7_input) ** 2).sum()) / (2.5 * fc7.shape[1])
    assert terms["mse"].item() == pytest.approx(mse, rel=1e-5)
    assert terms["featloss"].item() == pytest.approx(featloss, rel=1e-5)
    assert loss.item() == pytest.approx(
        mse + 1e-4 * train.weight_penalty(inverter).item() + 0.5 * featloss, rel=1e-5
    )


def lr_sequence(schedule, losses, lr=1e-3):
    """Learning rate of each epoch, given each epoch's training loss."""
    lrs = []
    for epoch in range(len(losses)):
        lrs.append(lr)
        lr = train.next_lr(schedule, lr, epoch, losses[: epoch + 1])
    return lrs


def test_schedule_0_keeps_the_learning_rate():
    assert lr_sequence(0, [1.0, 0.5, 0.5, 0.7]) == [1e-3] * 4


def test_schedule_1_divides_by_ten_after_every_epoch():
    np.testing.assert_allclose(lr_sequence(1, [1.0] * 4), [1e-3, 1e-4, 1e-5, 1e-6])


def test_schedule_2_halves_from_epochs_15_and_22_on():
    expected = [1e-3] * 15 + [5e-4] * 7 + [2.5e-4] * 8
    np.testing.assert_allclose(lr_sequence(2, [1.0] * 30), expected)


def test_schedule_3_halves_when_the_loss_rounded_to_two_decimals_does_not_fall():
    losses = [1.0, 0.9, 0.904, 0.85, 0.851, 0.70]  # rounded: 1.0 .9 .9 .85 .85 .7
    np.testing.assert_allclose(lr_sequence(3, losses), [1e-3, 1e-3, 1e-3, 5e-4, 5e-4, 2.5e-4])


def test_featloss_gradient_reaches_the_inverter(classifier):
    torch.manual_seed(2)
    inverter = Inverter("fc8").train()
    inputs = torch.randn(4, 1, 115, 80)
    _, terms = train.inversion_loss(classifier, inverter, inputs, "fc8", "conv2", 1.0)
    terms["featloss"].backward()
    first_weight = inverter.weighted_blocks()[0].op.weight
    assert first_weight.grad is not None and first_weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in classifier.parameters())


def test_a_bf16_loss_runs_both_networks_in_bfloat16_and_returns_float32(classifier):
    torch.manual_seed(2)
    inverter = Inverter("conv4").train()
    inputs = torch.randn(4, 1, 115, 80)
    exact, _ = train.inversion_loss(classifier, inverter, inputs, "conv4", "conv2", 1.0)
    loss, terms = train.inversion_loss(
        classifier, inverter, inputs, "conv4", "conv2", 1.0, bf16=True
    )
    assert loss.dtype == terms["mse"].dtype == terms["featloss"].dtype == torch.float32
    # bfloat16 keeps 8 significant bits: close to the float32 loss, but not equal to it.
    assert loss.item() == pytest.approx(exact.item(), rel=0.05) and loss.item() != exact.item()
    loss.backward()
    first_weight = inverter.weighted_blocks()[0].op.weight
    assert first_weight.dtype == first_weight.grad.dtype == torch.float32
    assert first_weight.grad.abs().sum() > 0


def test_batch_norm_under_bf16_autocast_keeps_float32_running_statistics():
    from svdnet.lasagne import LasagneBatchNorm

    bn = LasagneBatchNorm(3).train()
    x = (torch.randn(4, 3, 5, 6) * 3 + 1).bfloat16()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        bn(x)
    assert bn.mean.dtype == bn.inv_std.dtype == torch.float32
    x64 = x.double()
    torch.testing.assert_close(bn.mean.double(), 0.1 * x64.mean(dim=(0, 2, 3)))


def test_a_bf16_run_trains_differently_from_float32(tiny_dataset, classifier_file, tmp_path):
    def weights(name, *extra):
        out = tmp_path / name
        train.train(run_args(tiny_dataset, classifier_file, out, "mp6", *extra))
        return np.load(out)

    fp32, bf16, again = weights("fp32.npz"), weights("bf16.npz", "--bf16"), weights("again.npz")
    assert all(np.array_equal(fp32[k], again[k]) for k in fp32.files)
    assert not all(np.array_equal(fp32[k], bf16[k]) for k in fp32.files)


def test_epoch_order_is_a_seeded_shuffle_capped_at_max_excerpts():
    a, b = train.epoch_order(100, 3, 0), train.epoch_order(100, 3, 0)
    np.testing.assert_array_equal(a, b)
    assert sorted(a) == list(range(100))
    assert not np.array_equal(a, train.epoch_order(100, 4, 0))
    np.testing.assert_array_equal(train.epoch_order(100, 3, 0, max_excerpts=10), a[:10])


def test_a_short_run_exports_an_inverter_that_loads_back_identical(
    tiny_dataset, classifier_file, tmp_path
):
    out = tmp_path / "gen_fc8.npz"
    inverter = train.train(run_args(tiny_dataset, classifier_file, out, "fc8")).eval()
    loaded = load_inverter(out, "fc8")
    features = torch.randn(3, 64)
    with torch.no_grad():
        assert torch.equal(loaded(features), inverter(features))
    assert torch.load(out.with_suffix(".ckpt"), weights_only=True)["epoch"] == 1


def test_resuming_matches_an_uninterrupted_run(tiny_dataset, classifier_file, tmp_path):
    straight, resumed = tmp_path / "straight.npz", tmp_path / "resumed.npz"
    common = (tiny_dataset, classifier_file)
    train.train(run_args(*common, straight, "conv1", "--epochs", "2", "--lr-schedule", "1"))
    train.train(run_args(*common, resumed, "conv1", "--epochs", "1", "--lr-schedule", "1"))
    train.train(
        run_args(*common, resumed, "conv1", "--epochs", "2", "--lr-schedule", "1", "--resume")
    )
    state = torch.load(resumed.with_suffix(".ckpt"), weights_only=True)
    assert state["epoch"] == 2 and state["lr"] == pytest.approx(1e-5)
    with np.load(straight) as a, np.load(resumed) as b:
        for key in a.files:
            np.testing.assert_allclose(a[key], b[key], rtol=1e-5, atol=1e-6)


class Recorder:
    """What a training run hands its pieces: each epoch's excerpts, each step's rate."""

    def __init__(self, monkeypatch):
        self.orders, self.lrs, self.loss_args = [], [], []
        recorder = self

        class RecordedBatches(train.RankBatches):
            def __init__(self, mels_list, order, batchsize):
                recorder.orders.append(np.array(order))
                super().__init__(mels_list, order, batchsize)

        def recorded_loss(*args, **kwargs):
            recorder.loss_args.append(args[3:])
            return inversion_loss(*args, **kwargs)

        inversion_loss = train.inversion_loss
        step = torch.optim.Adam.step

        def recorded_step(optimizer, *args, **kwargs):
            recorder.lrs.append(optimizer.param_groups[0]["lr"])
            return step(optimizer, *args, **kwargs)

        monkeypatch.setattr(train, "RankBatches", RecordedBatches)
        monkeypatch.setattr(train, "inversion_loss", recorded_loss)
        monkeypatch.setattr(torch.optim.Adam, "step", recorded_step)


def expected_orders(tiny_dataset, epochs, seed=0, step=10, max_excerpts=8):
    """``(song, start)`` of each epoch's excerpts, computed from the recipe's pieces."""
    lengths = [len(s.spect) for s in load_split(*tiny_dataset, "train", progress=False)]
    starts = excerpt_starts(lengths, 115, step)
    n = len(starts)
    return [starts[np.random.default_rng([seed, e]).permutation(n)[:max_excerpts]] for e in epochs]


def test_a_run_follows_the_recipe_epoch_by_epoch_and_resumes_after_the_last(
    tiny_dataset, classifier_file, tmp_path, monkeypatch, capsys, caplog
):
    out = tmp_path / "gen_fc8.npz"
    common = (tiny_dataset, classifier_file, out, "fc8", "--lr-schedule", "1")
    record = Recorder(monkeypatch)
    train.train(run_args(*common, "--epochs", "2", "--featloss-layer", "fc7",
                         "--featloss-weight", "0.5"))  # fmt: skip
    # Every 10th frame, 8 excerpts an epoch, shuffled by (seed, epoch); two batches each.
    for got, want in zip(record.orders, expected_orders(tiny_dataset, [0, 1]), strict=True):
        np.testing.assert_array_equal(got, want)
    assert record.lrs == pytest.approx([1e-3, 1e-3, 1e-4, 1e-4])
    assert record.loss_args == [("fc8", "fc7", 0.5, None, False)] * 4  # no share, no bf16
    printed = capsys.readouterr().out
    assert "fc8 epoch 1/2: lr 1.00e-03, train loss" in printed
    assert "fc8 epoch 2/2: lr 1.00e-04, train loss" in printed
    state = torch.load(out.with_suffix(".ckpt"), weights_only=True)
    assert len(state["losses"]) == 2 and all(np.isfinite(state["losses"]))

    record = Recorder(monkeypatch)
    with caplog.at_level("INFO", logger="inverters.train"):
        train.train(run_args(*common, "--epochs", "3", "--featloss-layer", "fc7",
                             "--featloss-weight", "0.5", "--resume"))  # fmt: skip
    assert f"resuming {out.with_suffix('.ckpt')} after epoch 2" in caplog.text
    assert f"wrote {out}" in caplog.text
    np.testing.assert_array_equal(record.orders[0], expected_orders(tiny_dataset, [2])[0])
    assert len(record.orders) == 1 and record.lrs == pytest.approx([1e-5, 1e-5])


def test_schedule_3_in_a_run_halves_the_rate_when_the_rounded_loss_does_not_fall(
    tiny_dataset, classifier_file, tmp_path
):
    out = tmp_path / "gen_fc8.npz"
    train.train(run_args(tiny_dataset, classifier_file, out, "fc8", "--epochs", "2",
                         "--lr-schedule", "3"))  # fmt: skip
    state = torch.load(out.with_suffix(".ckpt"), weights_only=True)
    first, second = (round(loss, 2) for loss in state["losses"])
    assert state["lr"] == pytest.approx(1e-3 * (0.5 if second >= first else 1.0))


def test_a_run_trains_the_variant_its_options_ask_for(tiny_dataset, classifier_file, tmp_path):
    out = tmp_path / "gen_conv1.npz"
    args = run_args(tiny_dataset, classifier_file, out, "conv1")
    args.n_conv_layers, args.n_conv_filters = 2, 5
    inverter = train.train(args)
    assert [tuple(b.op.weight.shape) for b in inverter.weighted_blocks()][:2] == [
        (5, 64, 3, 3), (5, 5, 3, 3)
    ]  # fmt: skip
    assert len(inverter.weighted_blocks()) == len(Inverter("conv1", 2, 5).weighted_blocks())


def test_a_nan_loss_exits_2_and_keeps_the_last_good_checkpoint(
    tiny_dataset, classifier_file, tmp_path, monkeypatch, capsys
):
    out = tmp_path / "gen_conv1.npz"
    train.train(run_args(tiny_dataset, classifier_file, out, "conv1"))
    ckpt = out.with_suffix(".ckpt")
    good = ckpt.read_bytes()
    monkeypatch.setattr(train, "weight_penalty", lambda inverter: torch.tensor(float("nan")))
    with pytest.raises(SystemExit) as exit_info:
        train.main(
            argv_for(tiny_dataset, classifier_file, out, "conv1", "--epochs", "2", "--resume")
        )
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]
    assert "Traceback" not in err and "nan" in last and str(ckpt) in last
    assert ckpt.read_bytes() == good


def test_featloss_weight_without_a_layer_is_a_usage_error(
    tiny_dataset, classifier_file, tmp_path, capsys
):
    with pytest.raises(SystemExit) as exit_info:
        train.main(argv_for(tiny_dataset, classifier_file, tmp_path / "x.npz", "fc8",
                            "--featloss-weight", "0.1"))  # fmt: skip
    assert exit_info.value.code == 2
    assert "--featloss-weight needs --featloss-layer" in capsys.readouterr().err
    assert not (tmp_path / "x.npz").exists()


def test_a_last_batch_of_one_excerpt_is_left_out_where_batch_norm_needs_two(
    tiny_dataset, classifier_file, tmp_path
):
    # 9 excerpts in batches of 4: 4, 4 and 1; fc8's dense batch norm cannot take the 1.
    out = tmp_path / "gen_fc8.npz"
    train.train(run_args(tiny_dataset, classifier_file, out, "fc8", "--max-excerpts", "9"))
    assert out.exists()
    batches = train.RankBatches([np.zeros((200, 80), np.float32)], np.zeros((9, 2), int), 4)
    assert len(batches) == 2 and [n for n, _ in batches] == [4, 4]
    assert [n for n, _ in train.RankBatches(batches.mels_list, np.zeros((10, 2), int), 4)] == [
        4, 4, 2
    ]  # fmt: skip


def test_each_process_gets_its_rows_of_every_batch_and_none_of_a_too_small_one(monkeypatch):
    # Process 3 of 4, batches of 4 over 10 excerpts: rows 3 and 7, then none of the last
    # batch of 2, which still reports the global size so the loss is weighed right.
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "3")
    mels = np.arange(200 * 80, dtype=np.float32).reshape(200, 80)
    order = np.stack([np.zeros(10, int), np.arange(10) * 5], axis=1)
    parts = list(train.RankBatches([mels], order, 4))
    assert [n for n, _ in parts] == [4, 4, 2]
    assert [len(part) for _, part in parts] == [1, 1, 0]
    np.testing.assert_array_equal(parts[0][1][0], mels[15:130])
    np.testing.assert_array_equal(parts[1][1][0], mels[35:150])
    assert parts[2][1].shape == (0, 115, 80) and parts[2][1].dtype == np.float32


@pytest.mark.parametrize("option", ["--batchsize", "--max-excerpts"])
def test_batches_of_one_excerpt_are_a_usage_error(
    tiny_dataset, classifier_file, tmp_path, option, capsys
):
    with pytest.raises(SystemExit) as exit_info:
        train.main(argv_for(tiny_dataset, classifier_file, tmp_path / "x.npz", "fc8", option, "1"))
    assert exit_info.value.code == 2
    message = f"{option} must be at least 2: batch norm needs two excerpts a batch"
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x.npz").exists()


@pytest.mark.parametrize(
    "extra, problem",
    [
        (["--layer", "fc8", "--n_conv_layers", "2"], "--n_conv_layers/--n_conv_filters do not "
         "apply to fc8"),
        (["--layer", "fc7", "--n_conv_filters", "4"], "--n_conv_layers/--n_conv_filters do not "
         "apply to fc7"),
    ],
)  # fmt: skip
def test_variant_options_for_a_dense_layer_are_usage_errors(extra, problem, capsys):
    parser = train.build_parser()
    with pytest.raises(SystemExit) as exit_info:
        train.check_args(parser, parser.parse_args(["c.npz", "o.npz", *extra]))
    assert exit_info.value.code == 2
    assert problem in capsys.readouterr().err


def test_conv_inverters_take_their_variant_options():
    parser = train.build_parser()
    argv = ["c.npz", "o.npz", "--layer", "conv1", "--n_conv_layers", "2", "--n_conv_filters", "4"]
    train.check_args(parser, parser.parse_args(argv))  # no usage error


def test_evaluate_reports_the_mse_of_each_inverter_found(
    tiny_dataset, classifier_file, tmp_path, capsys, caplog
):
    argv = evaluate_argv(tiny_dataset, classifier_file)
    models = classifier_file.parent / "models"
    inverter_evaluate.main([*argv, "--step", "50", "--json"])
    results = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(results) == {"fc8", "conv1"}
    assert all(r["mse"] > 0 for r in results.values())
    assert f"skipping conv5: {models / 'tiny_augment_gen_conv5.npz'} not found" in caplog.text
    # Without --json, a line per layer in the network's order, four decimals.
    inverter_evaluate.main([*argv, "--step", "50"])
    lines = capsys.readouterr().out.strip().splitlines()[-2:]
    assert lines == [f"{layer:6s} mse {results[layer]['mse']:.4f}" for layer in ("conv1", "fc8")]


def test_batch_norm_in_training_mode_follows_lasagne():
    """Batch statistics (biased variance, epsilon 1e-4); running mean and inv_std move by 0.1."""
    from svdnet.lasagne import LasagneBatchNorm

    torch.manual_seed(3)
    bn = LasagneBatchNorm(3).train()
    with torch.no_grad():
        bn.gamma.uniform_(0.5, 2)
        bn.beta.normal_()
    x = (torch.randn(4, 3, 5, 6) * 3 + 1).requires_grad_()
    y = bn(x)
    x64 = x.detach().double()
    mean = x64.mean(dim=(0, 2, 3))
    inv_std = 1 / torch.sqrt(x64.var(dim=(0, 2, 3), unbiased=False) + 1e-4)
    expected = (x64 - mean[:, None, None]) * (bn.gamma.detach().double() * inv_std)[:, None, None]
    expected = expected + bn.beta.detach().double()[:, None, None]
    torch.testing.assert_close(y.double(), expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(bn.mean.double(), 0.1 * mean, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(bn.inv_std.double(), 0.9 + 0.1 * inv_std, rtol=1e-5, atol=1e-6)
    # Gradients flow through the batch statistics, as in Lasagne.
    (grad,) = torch.autograd.grad(y.sum(), x)
    torch.testing.assert_close(grad, torch.zeros_like(grad), rtol=0, atol=1e-5)


def test_streamed_error_equals_the_error_over_the_whole_files(
    tiny_dataset, classifier, classifier_file, monkeypatch
):
    """Strips of a few frames give the mse of excerpts cut from whole files in memory."""
    from svdnet.augment import excerpt_starts
    from svdnet.training import standardised_split

    torch.manual_seed(1)
    models = classifier_file.parent / "models"
    models.mkdir()
    inverter = Inverter("conv5").eval()
    inverter.save_lasagne(models / "tiny_augment_gen_conv5.npz")
    dataset_path, name = tiny_dataset
    monkeypatch.setattr(inverter_evaluate, "STRIP_FRAMES", 33)  # many strips per file
    argv = [str(classifier_file), "--dataset", name, "--dataset-path", str(dataset_path)]
    args = inverter_evaluate.build_parser().parse_args([*argv, "--models", str(models)])
    args.step, args.device = 7, "cpu"
    streamed = inverter_evaluate.evaluate(args)["conv5"]["mse"]

    mean, std = np.full(80, -4.0), np.full(80, 2.0)
    mels = [m for _, m, _ in standardised_split(dataset_path, name, "test", mean, std)]
    starts = excerpt_starts([len(m) for m in mels], 115, 7)
    whole = train.inversion_mse(classifier, inverter, mels, starts, "conv5", "cpu")
    assert streamed == pytest.approx(whole, rel=1e-5)


def evaluate_argv(tiny_dataset, classifier_file):
    """inverters.evaluate's arguments, with conv1 and fc8 inverters beside the classifier."""
    models = classifier_file.parent / "models"
    for layer in ("conv1", "fc8"):
        Inverter(layer).eval().save_lasagne(models / f"tiny_augment_gen_{layer}.npz")
    argv = [str(classifier_file), "--dataset", tiny_dataset[1], "--models", str(models)]
    return [*argv, "--dataset-path", str(tiny_dataset[0]), "--device", "cpu"]


def evaluate_args(tiny_dataset, classifier_file, *extra):
    argv = evaluate_argv(tiny_dataset, classifier_file)
    return inverter_evaluate.build_parser().parse_args([*argv, *extra])


def test_evaluation_divides_the_summed_error_by_excerpts_times_bins(
    tiny_dataset, classifier_file, monkeypatch
):
    # Summed squared errors of 2 per bin, and of 3 at fc8, must give 2 and 3 exactly.
    batches = []

    def errors(classifier, inverters, batch, device):
        batches.append(len(batch))
        return {"conv1": 2.0 * len(batch) * 115 * 80, "fc8": 3.0 * len(batch) * 115 * 80}

    monkeypatch.setattr(inverter_evaluate, "squared_errors", errors)
    cache = classifier_file.parent / "cache"
    args = evaluate_args(tiny_dataset, classifier_file, "--cache-spectra", str(cache))
    assert args.step == 10  # the default: every 10th frame, as in training
    assert inverter_evaluate.evaluate(args) == {"conv1": {"mse": 2.0}, "fc8": {"mse": 3.0}}
    # Each 6 s test file (416 frames) has an excerpt every 10 frames: 31 each.
    assert sum(batches) == 2 * 31
    assert len(list(cache.glob("*.npy"))) == 2  # the test files' spectra, cached on the way


def test_evaluation_without_any_inverter_file_is_one_line(tiny_dataset, tmp_path):
    message = f"^{tmp_path}: no tiny_augment_gen_<layer>.npz inverter found$"
    with pytest.raises(InputError, match=message):
        inverter_evaluate.load_inverters(tmp_path, "tiny", "cpu")


def test_evaluation_of_test_files_too_short_for_an_excerpt_is_one_line(
    make_tiny_dataset, classifier_file, tmp_path
):
    root = tmp_path / "short"
    make_tiny_dataset(root, duration_s=1.0)
    args = evaluate_args((root, "tiny"), classifier_file)
    message = "^no test file is long enough for an excerpt of 115 frames$"
    with pytest.raises(InputError, match=message):
        inverter_evaluate.evaluate(args)


def test_a_short_run_trains_from_the_memory_mapped_cache(tiny_dataset, classifier_file, tmp_path):
    cache = tmp_path / "cache"
    out = tmp_path / "inv.npz"
    train.train(run_args(tiny_dataset, classifier_file, out, "fc8", "--cache-spectra", str(cache)))
    assert len(list(cache.glob("*.npy"))) == 5  # train and valid files
    load_inverter(out, "fc8")


@pytest.mark.parametrize("layer", ["conv1", "conv2", "mp3", "conv4", "conv5", "mp6"])
@pytest.mark.parametrize("n_layers, n_filters", [(1, 5), (2, 16), (3, 7)])
def test_a_variant_loads_back_with_the_architecture_it_was_saved_with(
    layer, n_layers, n_filters, tmp_path
):
    torch.manual_seed(0)
    saved = Inverter(layer, n_layers, n_filters).eval()
    saved.save_lasagne(tmp_path / "variant.npz")
    loaded = load_inverter(tmp_path / "variant.npz", layer)
    assert loaded.lasagne_shapes() == saved.lasagne_shapes()


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.integers(1, 150), min_size=1, max_size=5),
    st.integers(1, 12),
    st.sampled_from([33, 40, 4096]),
)
def test_file_excerpts_are_every_step_th_excerpt_of_the_whole_file(block_sizes, step, strip):
    mels = np.random.default_rng(0).random((sum(block_sizes), 80)).astype(np.float32)
    blocks = np.split(mels, np.cumsum(block_sizes)[:-1])
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(inverter_evaluate, "STRIP_FRAMES", strip)
        batches = list(inverter_evaluate.file_excerpts(iter(blocks), step, batchsize=5))
    got = np.concatenate(batches) if batches else np.zeros((0, 115, 80), np.float32)
    expected = [mels[t : t + 115] for t in range(0, len(mels) - 114, step)]
    np.testing.assert_array_equal(got, np.array(expected).reshape(-1, 115, 80))


@pytest.mark.parametrize(
    "saved, asked",
    [(("fc8",), "conv1"), (("fc7",), "mp3"), (("mp3", 2, 5), "fc8"), (("conv5", 1, 9), "fc7")],
)
def test_an_inverter_loaded_as_another_layer_names_the_layer_it_is_for(saved, asked, tmp_path):
    Inverter(*saved).save_lasagne(tmp_path / "inv.npz")
    with pytest.raises(InputError, match=f"this inverter is for layer .*{saved[0]}.*, not {asked}"):
        load_inverter(tmp_path / "inv.npz", asked)


def test_an_unknown_layer_is_one_line_naming_the_eight(tmp_path):
    Inverter("fc8").save_lasagne(tmp_path / "inv.npz")
    message = "^unknown layer 'fc9'; choose from conv1, conv2, mp3, conv4, conv5, mp6, fc7, fc8$"
    with pytest.raises(InputError, match=message):
        load_inverter(tmp_path / "inv.npz", "fc9")


@pytest.mark.parametrize("layer", ["conv1", "mp6", "fc8"])
def test_inverter_weights_start_he_normal_with_a_gain_of_one(layer):
    # The original's He-normal initialisation with ELU's gain 1: std 1 / sqrt(fan_in).
    torch.manual_seed(0)
    for block in Inverter(layer).weighted_blocks():
        weight = block.op.weight.detach()
        fan_in, _ = torch.nn.init._calculate_fan_in_and_fan_out(weight)
        assert float(weight.std()) == pytest.approx(fan_in**-0.5, rel=0.15)


def test_a_loaded_inverter_is_in_inference_mode(tmp_path):
    Inverter("conv5").save_lasagne(tmp_path / "inv.npz")
    loaded = load_inverter(tmp_path / "inv.npz", "conv5")
    assert not loaded.training and not any(p.requires_grad for p in loaded.parameters())
