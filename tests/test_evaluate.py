"""svdnet.evaluate: frame predictions, median filter, threshold, metrics, baseline, CLI."""

import json
import math

import numpy as np
import pytest
import scipy.optimize
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from svdnet import evaluate
from svdnet.dataset import excerpts, frame_targets, read_labels
from svdnet.errors import InputError
from svdnet.model import SVDNet


def test_silence_is_the_standardised_log_floor():
    mean, std = np.full(80, -5.0), np.full(80, 2.0)
    np.testing.assert_allclose(evaluate.silence_frame(mean, std), (math.log(1e-7) + 5) / 2)


def test_padding_puts_each_frame_at_the_centre_of_its_excerpt():
    mels = np.arange(10, dtype=np.float32)[:, None] * np.ones(80, np.float32)
    padded = evaluate.pad_with_silence(mels, np.full(80, -1.0, np.float32))
    windows = excerpts(padded)
    assert len(windows) == len(mels)
    np.testing.assert_array_equal(windows[:, 57, 0], np.arange(10))
    assert (padded[:57] == -1).all() and (padded[-57:] == -1).all()


def test_frame_predictions_equal_feeding_each_centred_excerpt_alone():
    torch.manual_seed(0)
    model = SVDNet().eval()
    mels = np.random.default_rng(0).standard_normal((150, 80)).astype(np.float32)
    silence = np.full(80, -3.0, np.float32)
    got = evaluate.frame_predictions(model, mels, silence, "cpu", chunk_frames=64)
    windows = torch.from_numpy(
        np.ascontiguousarray(excerpts(evaluate.pad_with_silence(mels, silence)))
    )
    with torch.no_grad():
        expected = model(windows[:, None]).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_median_filter_removes_a_blip_shorter_than_half_its_window():
    predictions = np.zeros(400, np.float32)
    predictions[100:127] = 1.0  # 27 frames: fewer than half of 56
    predictions[250:290] = 1.0  # 40 frames: more than half
    smoothed = evaluate.smooth(predictions)
    assert smoothed[:200].max() == 0
    assert (smoothed[260:280] == 1).all()
    np.testing.assert_array_equal(evaluate.smooth(np.array([0, 0, 1, 0, 0.0]), 3), np.zeros(5))


def test_threshold_is_the_lowest_of_best_accuracy_midway_between_predictions():
    predictions = np.array([0.1, 0.4, 0.35, 0.8])
    targets = np.array([0, 0, 1, 1])
    # Accuracies for thresholds below 0.1, at 0.225, 0.375, 0.6 and above 0.8: 2, 3, 2, 3, 2.
    assert evaluate.best_threshold(predictions, targets) == pytest.approx(0.225)


def test_threshold_can_call_everything_one_class():
    assert evaluate.best_threshold(np.array([0.2, 0.6]), np.array([1, 1])) == 0.2
    assert evaluate.best_threshold(np.array([0.2, 0.6]), np.array([0, 0])) > 0.6


def test_metrics_of_a_hand_counted_example():
    # tp = 2, fn = 2, tn = 3, fp = 1
    predictions = np.array([0.9, 0.8, 0.1, 0.2, 0.1, 0.2, 0.3, 0.7])
    targets = np.array([1, 1, 1, 1, 0, 0, 0, 0])
    metrics = evaluate.binary_metrics(predictions, targets, 0.5)
    expected = {"accuracy": 5 / 8, "precision": 2 / 3, "recall": 1 / 2, "specificity": 3 / 4}
    expected["f1"] = 4 / 7
    assert metrics == pytest.approx(expected)


def test_undefined_metrics_are_zero():
    metrics = evaluate.binary_metrics(np.array([0.1, 0.2]), np.array([0, 0]), 0.5)
    assert metrics == {
        "accuracy": 1.0, "precision": 0.0, "recall": 0.0, "specificity": 1.0, "f1": 0.0
    }  # fmt: skip


def test_per_song_metrics_of_a_hand_counted_example():
    # Song a: 4 frames, tp 1, fn 1, tn 1, fp 1; song b: 3 frames, tn 2, fn 1.
    predictions = np.array([0.9, 0.1, 0.2, 0.7, 0.1, 0.3, 0.2])
    targets = np.array([1, 1, 0, 0, 0, 1, 0])
    songs = evaluate.per_song_metrics(predictions, targets, [4, 3], ["a.ogg", "b.ogg"], 0.5)
    assert list(songs) == ["a.ogg", "b.ogg"]
    assert songs["a.ogg"] == pytest.approx(
        {"accuracy": 0.5, "recall": 0.5, "specificity": 0.5, "singing": 0.5, "frames": 4}
    )
    assert songs["b.ogg"] == pytest.approx(
        {"accuracy": 2 / 3, "recall": 0.0, "specificity": 1.0, "singing": 1 / 3, "frames": 3}
    )


def test_logistic_regression_learns_a_linear_rule():
    rng = np.random.default_rng(0)
    frames = rng.standard_normal((2000, 80)).astype(np.float32)
    targets = (frames[:, 3] - frames[:, 7] > 0.5).astype(np.float32)
    weights, bias = evaluate.fit_logistic_regression(frames, targets)
    predictions = evaluate.logistic_predictions(frames, weights, bias)
    assert np.mean((predictions >= 0.5) == targets) > 0.97
    assert weights[3] > 1 and weights[7] < -1


def test_json_line_holds_metrics_threshold_and_baseline(
    tiny_dataset, classifier_files, capsys, tmp_path
):
    dataset_path, name = tiny_dataset
    argv = [str(classifier_files), "--dataset", name, "--dataset-path", str(dataset_path)]
    evaluate.main([*argv, "--device", "cpu", "--json"])
    results = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    keys = {*evaluate.METRICS, "threshold"}
    assert set(results) == keys | {"baseline"} and set(results["baseline"]) == keys
    assert all(0 <= results[k] <= 1 for k in evaluate.METRICS)
    # One frame's spectrum tells the tiny corpus's tone from noise.
    assert results["baseline"]["accuracy"] > 0.9
    # The same numbers from spectra cached on the way (train, valid and test files).
    cache = tmp_path / "cache"
    evaluate.main([*argv, "--device", "cpu", "--json", "--cache-spectra", str(cache)])
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == results
    assert len(list(cache.glob("*.npy"))) == 7


def test_per_song_results_follow_the_filelist_and_add_up_to_the_split(
    tmp_path, make_tiny_dataset, classifier_files, capsys
):
    folder = make_tiny_dataset(tmp_path, splits={"valid": 2, "test": 3})
    argv = [str(classifier_files), "--dataset", "tiny", "--dataset-path", str(tmp_path)]
    argv += ["--device", "cpu", "--no-baseline", "--per-song"]
    evaluate.main([*argv, "--json"])
    results = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    songs = results.pop("songs")
    assert list(songs) == ["test_0.wav", "test_1.wav", "test_2.wav"]
    for name, song in songs.items():  # each song's frames are its own: its labels say so
        labels = read_labels(folder / "labels" / name.replace(".wav", ".lab"))
        expected = np.mean(frame_targets(labels, song["frames"]) > 0.5)
        assert song["singing"] == pytest.approx(expected)
    frames = np.array([song["frames"] for song in songs.values()])
    accuracy = np.array([song["accuracy"] for song in songs.values()])
    assert np.sum(frames * accuracy) / frames.sum() == pytest.approx(results["accuracy"])
    evaluate.main(argv)
    text = capsys.readouterr().out
    assert "test_2.wav" in text and "accuracy over 3 files: mean" in text


def test_the_heldout_splits_are_reported_with_the_valid_threshold(
    tmp_path, make_tiny_dataset, classifier_files, capsys, caplog
):
    # The held-out splits are copies of test: the same frames give the same metrics.
    folder = make_tiny_dataset(tmp_path, splits={"train": 2, "valid": 2, "test": 2})
    held_out = ("heldout", "speakers", "sampled")
    for split in held_out:
        (folder / "filelists" / split).write_text((folder / "filelists" / "test").read_text())
    argv = [str(classifier_files), "--dataset", "tiny", "--dataset-path", str(tmp_path)]
    evaluate.main([*argv, "--device", "cpu", "--json"])
    results = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    heldout, *others = (results.pop(split) for split in held_out)
    assert all(other == heldout for other in others)
    assert heldout.pop("baseline") == pytest.approx(results.pop("baseline"))
    assert heldout == pytest.approx(results)
    evaluate.main([*argv, "--device", "cpu", "--splits", "test", "--json"])
    assert "heldout" not in json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    # valid only tunes the threshold: it is never reported, and no split is missing here.
    evaluate.main([*argv, "--device", "cpu", "--splits", "valid", "heldout", "--json"])
    assert set(json.loads(capsys.readouterr().out.strip().splitlines()[-1])) == set(results) | {
        "baseline", "heldout"
    }  # fmt: skip
    assert "not reported" not in caplog.text


def test_a_given_threshold_decides_svdnet_and_leaves_the_baseline_tuned(
    tiny_dataset, classifier_files, capsys
):
    dataset_path, name = tiny_dataset
    argv = [str(classifier_files), "--dataset", name, "--dataset-path", str(dataset_path)]
    argv += ["--device", "cpu", "--json"]

    def results(*extra):
        evaluate.main([*argv, *extra])
        return json.loads(capsys.readouterr().out.strip().splitlines()[-1])

    tuned, everything, nothing = results(), results("--threshold", "0"), results("--threshold", "2")
    # Half of each tiny song is singing: called all singing, accuracy is that half.
    assert (everything["recall"], everything["specificity"], everything["threshold"]) == (1, 0, 0)
    assert everything["accuracy"] == pytest.approx(0.5, abs=0.02)
    assert (nothing["recall"], nothing["specificity"], nothing["threshold"]) == (0, 1, 2)
    assert everything["baseline"] == nothing["baseline"] == tuned["baseline"]


def test_thresholds_tuned_on_the_reported_split_give_its_best_accuracy(
    tmp_path, make_tiny_dataset, classifier_files, capsys
):
    folder = make_tiny_dataset(tmp_path, splits={"valid": 2, "test": 2})
    for lab in (folder / "labels").glob("test_*.lab"):  # no singing at all in test
        lab.write_text("0.000 6.000 nosing\n")
    argv = [str(classifier_files), "--dataset", "tiny", "--dataset-path", str(tmp_path)]
    argv += ["--device", "cpu", "--no-baseline", "--splits", "test", "--json"]

    def results(*extra):
        evaluate.main([*argv, *extra])
        return json.loads(capsys.readouterr().out.strip().splitlines()[-1])

    assert results()["accuracy"] < 1  # the valid split's threshold calls some frames singing
    own = results("--tune-on", "test")
    assert (own["accuracy"], own["specificity"]) == (1, 1)


def test_tuning_on_a_split_the_dataset_lacks_is_one_line(tiny_dataset, classifier_files, capsys):
    dataset_path, name = tiny_dataset
    argv = [str(classifier_files), "--dataset", name, "--dataset-path", str(dataset_path)]
    with pytest.raises(SystemExit) as exit_info:
        evaluate.main([*argv, "--device", "cpu", "--no-baseline", "--tune-on", "nosuch"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--tune-on" in err and "no nosuch split" in err


def test_a_missing_heldout_split_is_a_note(tiny_dataset, classifier_files, capsys, caplog):
    dataset_path, name = tiny_dataset
    argv = [str(classifier_files), "--dataset", name, "--dataset-path", str(dataset_path)]
    evaluate.main([*argv, "--device", "cpu", "--no-baseline"])
    table = capsys.readouterr().out
    assert "accuracy" in table
    for split in ("heldout", "speakers", "sampled"):
        assert split not in table and f"no {split} split" in caplog.text


def test_a_missing_meanstd_exits_2_with_one_line(tiny_dataset, classifier_files, capsys):
    (classifier_files.parent / "tiny_meanstd.npz").unlink()
    dataset_path, name = tiny_dataset
    with pytest.raises(SystemExit) as exit_info:
        evaluate.main(
            [str(classifier_files), "--dataset", name, "--dataset-path", str(dataset_path)]
        )
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "tiny_meanstd.npz" in err and len(err.splitlines()) == 1


@pytest.mark.parametrize("cuts", [[1], [60, 61, 200], [5, 100, 101, 102, 149]])
def test_predictions_of_a_block_stream_equal_those_of_the_whole_file(cuts):
    torch.manual_seed(0)
    model = SVDNet().eval()
    mels = np.random.default_rng(1).standard_normal((150, 80)).astype(np.float32)
    silence = np.full(80, -3.0, np.float32)
    whole = evaluate.frame_predictions(model, mels, silence, "cpu", chunk_frames=64)
    blocks = np.split(mels, cuts)
    streamed = evaluate.stream_predictions(model, iter(blocks), silence, "cpu", chunk_frames=20)
    np.testing.assert_allclose(streamed, whole, rtol=1e-5, atol=1e-6)


def test_strips_overlap_and_cover_every_frame_once():
    from svdnet.spectra import strips

    frames = np.arange(103)[:, None]
    got = list(strips(np.split(frames, [10, 11, 50]), 20, 5))
    assert [len(s) for s in got] == [25, 25, 25, 25, 23]
    assert [int(s[0, 0]) for s in got] == [0, 20, 40, 60, 80]
    assert list(strips([frames[:5]], 20, 5)) == []  # nothing beyond the overlap


def test_without_a_train_split_the_baseline_is_skipped_with_a_note(
    tmp_path, classifier_files, capsys, caplog, make_tiny_dataset
):
    make_tiny_dataset(tmp_path, splits={"valid": 2, "test": 2})
    argv = [str(classifier_files), "--dataset", "tiny", "--dataset-path", str(tmp_path)]
    evaluate.main([*argv, "--device", "cpu", "--json"])
    results = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert "baseline" not in results and 0 <= results["accuracy"] <= 1
    assert "no train split: the baseline is skipped" in caplog.text


def test_no_baseline_skips_it_on_purpose(tiny_dataset, classifier_files, capsys, monkeypatch):
    def fail(songs):
        raise AssertionError("the baseline was fitted")

    monkeypatch.setattr(evaluate, "fit_baseline", fail)
    dataset_path, name = tiny_dataset
    argv = [str(classifier_files), "--dataset", name, "--dataset-path", str(dataset_path)]
    evaluate.main([*argv, "--device", "cpu", "--no-baseline"])
    table = capsys.readouterr().out
    assert "accuracy" in table and "baseline" not in table


@pytest.mark.parametrize(
    ("options", "needed"),
    [
        ((), ("train", "valid", "test", "sampled")),
        (("--no-baseline",), ("valid", "test", "sampled")),
        (("--no-baseline", "--splits", "test", "heldout"), ("valid", "test")),
    ],
)
def test_only_the_splits_it_reads_are_synthesised(
    tiny_dataset, classifier_files, monkeypatch, options, needed
):
    asked = []
    monkeypatch.setattr(evaluate, "ensure_demo_splits", lambda path, name, s: asked.append(s))
    dataset_path, name = tiny_dataset
    argv = [str(classifier_files), "--dataset", name, "--dataset-path", str(dataset_path)]
    evaluate.main([*argv, "--device", "cpu", *options])
    assert asked == [needed]


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(1, 400), min_size=1, max_size=6))
def test_streamed_targets_are_those_of_the_whole_file(block_sizes):
    # Singing from 1.0 to 2.5 s and from 4.0 s on: each block's targets continue the last.
    labels = [(0.0, 1.0, False), (1.0, 2.5, True), (2.5, 4.0, False), (4.0, 60.0, True)]
    blocks = [np.zeros((n, 80), np.float32) for n in block_sizes]
    got = np.concatenate([t for _, t in evaluate._with_targets(blocks, labels)])
    # Frame i's centre lies at (315 i + 512) / 22050 s.
    centres = (np.arange(sum(block_sizes)) * 315 + 512) / 22050
    expected = ((centres >= 1.0) & (centres < 2.5)) | (centres >= 4.0)
    np.testing.assert_array_equal(got, expected.astype(np.float32))


def test_the_baseline_is_the_minimum_of_the_penalised_cross_entropy():
    # An independent fit of the same objective: mean BCE + l2 |w|^2, the bias not
    # penalised; 40 correlated features of scales 0.1 to 10 need many L-BFGS iterations.
    rng = np.random.default_rng(0)
    frames = rng.normal(size=(2000, 40)) @ rng.normal(size=(40, 40)) * np.geomspace(0.1, 10, 40)
    targets = (frames @ rng.normal(size=40) + 5 * rng.normal(size=2000) > 0.5).astype(float)
    l2 = 1e-3

    def objective(params):
        logits = frames @ params[:-1] + params[-1]
        bce = np.mean(np.logaddexp(0, logits) - targets * logits)
        return bce + l2 * np.sum(params[:-1] ** 2)

    best = scipy.optimize.minimize(objective, np.zeros(41), method="BFGS", options={"gtol": 1e-12})
    weights, bias = evaluate.fit_logistic_regression(frames, targets, l2=l2)
    # Within 2e-5 of the minimum 0.0337 (L-BFGS's default 20 iterations stop 0.016 above).
    assert -1e-9 < objective(np.r_[weights.numpy(), float(bias)]) - best.fun < 1e-3


def test_a_train_split_without_frames_gives_no_baseline_but_one_line():
    message = "^the train split holds no frames to fit the baseline on$"
    with pytest.raises(InputError, match=message):
        evaluate.fit_baseline([])


def test_the_table_has_a_column_per_split_and_model_and_a_row_per_metric():
    def metrics(base):
        keys = (*evaluate.METRICS, "threshold")
        return {key: base + i / 100 for i, key in enumerate(keys)}

    results = metrics(0.9) | {"baseline": metrics(0.7)}
    results["heldout"] = metrics(0.8) | {"baseline": metrics(0.6)}
    rows = [
        ("accuracy", 0.9, 0.7, 0.8, 0.6),
        ("precision", 0.91, 0.71, 0.81, 0.61),
        ("recall", 0.92, 0.72, 0.82, 0.62),
        ("specificity", 0.93, 0.73, 0.83, 0.63),
        ("f1", 0.94, 0.74, 0.84, 0.64),
        ("threshold", 0.95, 0.75, 0.85, 0.65),
    ]
    header = " " * 12 + "".join(
        f" {name:>13s}" for name in ("test", "test base", "heldout", "heldout base")
    )
    expected = [header] + [
        f"{key:12s}" + "".join(f" {v:13.4f}" for v in values) for key, *values in rows
    ]
    assert evaluate.format_table(results) == "\n".join(expected)
    assert evaluate.format_table(metrics(0.9)).splitlines()[0].split() == ["test"]
