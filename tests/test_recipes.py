"""The papers' recipes and protocols, pinned against values worked out by hand.

Each test here fails if a recipe constant or protocol step changes: the classifier's
loss targets and their direction, its optimiser and learning-rate decay in a real run,
the augmentation ranges, the evaluation protocol (padding, median filter, threshold on
the validation split only), the inverters' loss terms and error normalisation; and
short runs on a trivially separable corpus must learn, with reversed targets must not.
"""

import json
import math

import numpy as np
import pytest
import torch
from scipy.ndimage import median_filter

from inverters import train as inverter_train
from inverters.model import Inverter
from svdnet import augment, evaluate, train
from svdnet.audio import load_meanstd
from svdnet.dataset import dataset_dir, frame_targets, label_path, read_filelist, read_labels
from svdnet.model import SVDNet
from svdnet.training import standardised_split


def bce(p, target):
    return -(target * math.log(p) + (1 - target) * math.log(1 - p))


def test_classifier_loss_is_cross_entropy_against_002_for_no_singing_and_098_for_singing():
    model = SVDNet()
    outputs = torch.tensor([2.0, -1.0, 0.5], requires_grad=True)
    model.logits = lambda inputs: outputs  # fixed network outputs
    optimizer = torch.optim.SGD([outputs], lr=0.0)
    loss = train.training_step(
        model, optimizer, torch.zeros(3, 1, 115, 80), torch.tensor([1.0, 0, 0])
    )
    sigmoid = [1 / (1 + math.exp(-x)) for x in (2.0, -1.0, 0.5)]
    expected = (bce(sigmoid[0], 0.98) + bce(sigmoid[1], 0.02) + bce(sigmoid[2], 0.02)) / 3
    assert float(loss) == pytest.approx(expected, rel=1e-6)


def tiny_run_args(tiny_dataset, out, *extra):
    dataset_path, name = tiny_dataset
    argv = [str(out), "--dataset", name, "--dataset-path", str(dataset_path), "--device", "cpu"]
    argv += ["--workers", "0", "--valid-excerpts", "200", *extra]
    return train.build_parser().parse_args(argv)


def test_a_real_run_uses_nesterov_momentum_095_and_decays_the_rate_by_085_per_epoch(
    tiny_dataset, tmp_path, monkeypatch
):
    seen = []
    step = train.training_step

    def recording_step(model, optimizer, inputs, targets, bf16=False):
        group = optimizer.param_groups[0]
        seen.append((type(optimizer), group["momentum"], group["nesterov"], group["lr"]))
        return step(model, optimizer, inputs, targets, bf16)

    monkeypatch.setattr(train, "training_step", recording_step)
    args = tiny_run_args(tiny_dataset, tmp_path / "net.npz", "--epochs", "3", "--epochsize", "2")
    args.batchsize = 4
    train.train(args)
    assert {kind for kind, *_ in seen} == {torch.optim.SGD}
    assert {(m, n) for _, m, n, _ in seen} == {(0.95, True)}
    assert [lr for *_, lr in seen] == pytest.approx([0.01] * 2 + [0.0085] * 2 + [0.007225] * 2)


def test_augmentation_draws_stretch_and_shift_over_all_of_07_to_13(monkeypatch):
    drawn = {}

    def capture(spects, stretches, shifts):
        drawn.update(stretches=stretches, shifts=shifts)
        return spects

    monkeypatch.setattr(augment, "stretch_shift", capture)
    augment.random_stretch_shift(np.zeros((4000, 1, 1)), np.random.default_rng(0))
    for factors in drawn.values():
        assert factors.min() >= 0.7 and factors.max() <= 1.3
        assert factors.min() < 0.71 and factors.max() > 1.29  # the whole range is used
        assert abs(np.mean(factors) - 1) < 0.01  # uniform: as often up as down


def test_filter_gains_reach_but_never_pass_10_db():
    curves = augment.random_gain_curves_db(2000, 80, np.random.default_rng(0))
    assert np.abs(curves).max() <= 10 and np.abs(curves).max() > 9.9


def test_augmented_excerpts_are_cut_from_164_frames_to_115_by_372_bins():
    assert augment.WIDE_FRAMES == 164
    spects = np.ones((2, 164, 513), np.float32)
    out = augment.random_stretch_shift(spects, np.random.default_rng(0))
    assert out.shape == (2, 115, 372)


def by_hand(model, dataset_path, name, split, mean, std):
    """Predictions of every frame of a split as the protocol says, and the targets.

    57 silent frames a side, each frame's excerpt fed alone, a 56-frame median filter.
    """
    silence = (math.log(1e-7) - mean) / std
    predictions, targets = [], []
    folder = dataset_dir(dataset_path, name)
    for (_, mels, _), file_name in zip(
        standardised_split(dataset_path, name, split, mean, std),
        read_filelist(folder, split),
        strict=True,
    ):
        pad = np.repeat(silence[None].astype(np.float32), 57, axis=0)
        padded = np.concatenate([pad, mels, pad])
        excerpts = np.stack([padded[i : i + 115] for i in range(len(mels))])
        with torch.no_grad():
            p = model(torch.from_numpy(excerpts)[:, None]).numpy()
        predictions.append(median_filter(p, size=56, mode="nearest"))
        labels = read_labels(label_path(folder, file_name))
        targets.append(frame_targets(labels, len(mels)))
    return np.concatenate(predictions), np.concatenate(targets)


def test_evaluation_tunes_the_threshold_on_valid_and_reports_test_metrics(
    tmp_path, classifier_files, capsys, make_tiny_dataset
):
    """The valid split's labels are the test split's reversed: their best thresholds differ."""
    dataset_path, name = tmp_path / "corpus", "tiny"
    folder = make_tiny_dataset(dataset_path, splits={"valid": 2, "test": 2})
    for lab in folder.glob("labels/valid_*.lab"):
        lab.write_text(
            lab.read_text().replace("nosing", "x").replace("sing", "nosing").replace("x", "sing")
        )
    argv = [str(classifier_files), "--dataset", name, "--dataset-path", str(dataset_path)]
    evaluate.main([*argv, "--device", "cpu", "--json", "--no-baseline"])
    results = json.loads(capsys.readouterr().out.strip().splitlines()[-1])

    model = SVDNet().load_lasagne(classifier_files).eval()
    mean, std = np.full(80, -4.0), np.full(80, 2.0)
    valid = by_hand(model, dataset_path, name, "valid", mean, std)
    test_p, test_t = by_hand(model, dataset_path, name, "test", mean, std)
    threshold = evaluate.best_threshold(*valid)
    assert results["threshold"] == pytest.approx(threshold, rel=1e-5)
    assert evaluate.best_threshold(test_p, test_t) != pytest.approx(threshold, rel=1e-5)
    called, truth = test_p >= threshold, test_t > 0.5
    tp, tn = np.sum(called & truth), np.sum(~called & ~truth)
    assert results["accuracy"] == pytest.approx((tp + tn) / len(truth), abs=2e-3)
    assert results["recall"] == pytest.approx(tp / truth.sum(), abs=2e-3)
    assert results["specificity"] == pytest.approx(tn / (~truth).sum(), abs=2e-3)


def test_inverter_error_is_the_mean_over_excerpts_frames_and_bands():
    class Zeros(torch.nn.Module):
        def forward(self, feats):
            return torch.zeros(len(feats), 115, 80)

    rng = np.random.default_rng(0)
    mels = [rng.standard_normal((130, 80)).astype(np.float32) * 2]
    starts = np.array([[0, 0], [0, 10], [0, 15]])
    expected = np.mean([np.mean(mels[0][t : t + 115] ** 2) for t in (0, 10, 15)])
    got = inverter_train.inversion_mse(SVDNet().eval(), Zeros(), mels, starts, "fc8", "cpu")
    assert got == pytest.approx(expected, rel=1e-5)


def test_inverter_loss_adds_the_weighted_feature_loss_to_mse_and_weight_decay():
    torch.manual_seed(0)
    classifier = SVDNet().eval().requires_grad_(False)
    inverter = Inverter("fc8")
    inputs = torch.randn(3, 1, 115, 80)
    loss, terms = inverter_train.inversion_loss(classifier, inverter, inputs, "fc8", "conv5", 0.3)
    with torch.no_grad():
        inversion = inverter(classifier.features(inputs, ["fc8"])["fc8"])
        mse = torch.mean((inversion - inputs[:, 0]) ** 2)
        squares = sum(
            float(torch.sum(m.weight**2))
            for m in inverter.modules()
            if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d, torch.nn.Linear))
        )
        conv5 = classifier.features(inversion[:, None], ["conv5"])["conv5"]
        featloss = torch.mean((conv5 - classifier.features(inputs, ["conv5"])["conv5"]) ** 2)
    expected = float(mse) + 1e-4 * squares + 0.3 * float(featloss)
    assert float(loss.detach()) == pytest.approx(expected, rel=1e-5)
    assert float(terms["featloss"].detach()) == pytest.approx(float(featloss), rel=1e-5)


@pytest.mark.parametrize(("targets", "learns"), [((0.02, 0.98), True), ((0.98, 0.02), False)])
def test_a_short_run_learns_the_tiny_corpus_and_reversed_targets_do_not(
    tiny_dataset, tmp_path, monkeypatch, targets, learns
):
    """Tone or noise: a few dozen updates separate them; reversed targets invert the rule."""
    monkeypatch.setattr(train, "TARGETS", targets)
    args = tiny_run_args(tiny_dataset, tmp_path / "net.npz", "--epochs", "2", "--epochsize", "15")
    args.batchsize, args.augment = 16, False
    model = train.train(args).eval()
    mean, std = load_meanstd(tmp_path / "tiny_meanstd.npz")
    inputs, truth = train.valid_subset(*tiny_dataset, mean, std, None, 400)
    error = train.classification_error(model, inputs, truth, "cpu")
    assert error < 0.2 if learns else error > 0.6


def test_validation_excerpts_are_spread_evenly_from_the_first_to_the_last(tiny_dataset):
    mean, std = np.full(80, -4.0), np.full(80, 2.0)
    songs = standardised_split(*tiny_dataset, "valid", mean, std)
    folder = dataset_dir(*tiny_dataset)
    targets = [
        frame_targets(read_labels(label_path(folder, name)), len(mels))
        for name, (_, mels, _) in zip(read_filelist(folder, "valid"), songs, strict=True)
    ]
    every = [(i, t) for i, (_, mels, _) in enumerate(songs) for t in range(len(mels) - 114)]
    inputs, truth = train.valid_subset(*tiny_dataset, mean, std, None, 7)
    assert inputs.shape == (7, 115, 80) and truth.shape == (7,) and truth.dtype == np.float32
    chosen = [
        next(k for k, (i, t) in enumerate(every) if np.array_equal(songs[i][1][t : t + 115], x))
        for x in inputs
    ]
    assert chosen[0] == 0 and chosen[-1] == len(every) - 1
    assert np.allclose(np.diff(chosen), (len(every) - 1) / 6, atol=1)
    assert [targets[every[k][0]][every[k][1] + 57] for k in chosen] == list(truth)
    everything, every_truth = train.valid_subset(*tiny_dataset, mean, std, None, 10**6)
    assert len(everything) == len(every)  # the centre frame's target, frame 57 of 0..114
    assert list(every_truth) == [targets[i][t + 57] for i, t in every]


def test_threshold_counts_every_singing_frame_when_all_are_called_singing():
    # Thresholds below 0.1, at 0.15, 0.25 and above 0.3 get 2, 1, 2 and 1 frames right:
    # the lowest of the best, below every prediction, wins.
    assert evaluate.best_threshold(np.array([0.1, 0.2, 0.3]), np.array([1, 0, 1])) == 0.1
    assert evaluate.best_threshold(np.zeros(0), np.zeros(0)) == 0.5  # nothing to tune on
    above = evaluate.best_threshold(np.array([0.2, 0.6, 0.4]), np.zeros(3))
    assert 0.6 < above < 0.6 + 1e-6


def test_a_prediction_equal_to_the_threshold_counts_as_singing():
    metrics = evaluate.binary_metrics(np.array([0.5, 0.4]), np.array([1, 0]), 0.5)
    assert metrics["accuracy"] == 1.0 and metrics["recall"] == 1.0


def test_filter_gains_span_both_signs_and_interpolate_by_raised_cosines():
    curves = augment.random_gain_curves_db(2000, 80, np.random.default_rng(0))
    assert curves.min() < -9.9 and curves.max() > 9.9 and curves.dtype == np.float32
    # With 9 bands, band 2k is control point k and band 2k + 1 lies midway between two.
    points = np.random.default_rng(1).uniform(-10, 10, size=(3, augment.N_FILTER_POINTS))
    nine = augment.random_gain_curves_db(3, 9, np.random.default_rng(1))
    np.testing.assert_allclose(nine[:, ::2], points, rtol=1e-6)
    np.testing.assert_allclose(nine[:, 1::2], (points[:, :-1] + points[:, 1:]) / 2, rtol=1e-5)


def test_schedule_3_compares_losses_rounded_to_two_decimals_from_the_second_epoch_on():
    halved = inverter_train.next_lr(3, 1e-3, 1, [0.502, 0.498])  # both round to 0.50
    assert halved == pytest.approx(5e-4)
    assert inverter_train.next_lr(3, 1e-3, 1, [0.52, 0.498]) == pytest.approx(1e-3)
    assert inverter_train.next_lr(3, 1e-3, 0, [0.5]) == pytest.approx(1e-3)  # nothing before


def test_inverter_error_of_a_quiet_excerpt_has_no_offset():
    class Zeros(torch.nn.Module):
        def forward(self, feats):
            return torch.zeros(len(feats), 115, 80)

    mels = [np.full((115, 80), 0.01, np.float32)]
    got = inverter_train.inversion_mse(
        SVDNet().eval(), Zeros(), mels, np.array([[0, 0]]), "fc8", "cpu"
    )
    assert got == pytest.approx(1e-4, rel=1e-4)


def test_a_float32_step_runs_in_float32_not_under_autocast():
    torch.manual_seed(0)
    model = SVDNet().eval()  # no dropout: the same logits twice
    inputs, targets = torch.randn(4, 1, 115, 80), torch.tensor([1.0, 0, 1, 0])
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    loss = train.training_step(model, optimizer, inputs, targets)
    with torch.no_grad():
        expected = torch.nn.functional.binary_cross_entropy_with_logits(
            model.logits(inputs), 0.02 + 0.96 * targets
        )
    assert float(loss) == pytest.approx(float(expected), rel=1e-6)


def test_the_trainers_command_line_defaults_are_the_papers_recipes():
    svdnet_args = train.build_parser().parse_args(["out.npz"])
    assert (svdnet_args.epochs, svdnet_args.epochsize, svdnet_args.batchsize) == (20, 2000, 32)
    assert svdnet_args.lr == 0.01 and svdnet_args.augment and svdnet_args.dropout
    assert not svdnet_args.bf16 and svdnet_args.seed == 0 and not svdnet_args.resume
    assert (svdnet_args.valid_excerpts, svdnet_args.workers) == (1000, None)
    assert (svdnet_args.dataset, svdnet_args.dataset_path, svdnet_args.device) == (
        "jamendo",
        ".",
        "auto",
    )
    args = inverter_train.build_parser().parse_args(["c.npz", "out.npz", "--layer", "fc8"])
    assert (args.epochs, args.batchsize, args.lr, args.lr_schedule) == (30, 32, 1e-3, 0)
    assert (args.step, args.valid_step, args.max_excerpts) == (10, 50, None)
    assert (args.featloss_layer, args.featloss_weight) == (None, 0.0)
    assert (args.n_conv_layers, args.n_conv_filters) == (None, None)
    assert str(args.out) == "out.npz" and hasattr(args.out, "with_suffix")


@pytest.mark.parametrize(
    "argv",
    [
        ["c.npz", "out.npz"],  # --layer is required
        ["c.npz", "out.npz", "--layer", "fc9"],
        ["c.npz", "out.npz", "--layer", "fc8", "--lr-schedule", "4"],
        ["c.npz", "out.npz", "--layer", "fc8", "--featloss-layer", "conv9"],
        ["c.npz", "out.npz", "--layer", "conv1", "--n_conv_layers", "0"],
        ["c.npz", "out.npz", "--layer", "conv1", "--n_conv_filters", "0"],
    ],
)
def test_the_inverter_trainer_refuses_options_outside_the_recipe(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        inverter_train.build_parser().parse_args(argv)
    assert exit_info.value.code == 2
