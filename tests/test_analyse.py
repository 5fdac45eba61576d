"""inverters.metrics on inputs with known answers, and inverters.analyse end to end."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from inverters import analyse, metrics
from inverters import evaluate as inverter_evaluate
from inverters.model import Inverter
from svdnet import evaluate as svdnet_evaluate
from svdnet.audio import save_meanstd
from svdnet.model import SVDNet

N_FRAMES, N_MELS = 115, 80


@pytest.fixture
def noise():
    return np.random.default_rng(0).standard_normal((4, N_FRAMES, N_MELS)).astype(np.float32)


def separable(rng):
    """Excerpts ``x[t, f] = gain[t] + spectrum[f]``: time and mel structure kept apart."""
    gain = rng.standard_normal((3, N_FRAMES, 1))
    spectrum = rng.standard_normal((3, 1, N_MELS))
    return gain + spectrum


# --- per-excerpt metrics ---------------------------------------------------------------


def test_an_inversion_equal_to_the_input_has_no_error_and_correlates_fully(noise):
    assert metrics.mean_squared_error(noise, noise) == pytest.approx([0] * 4)
    assert metrics.time_correlation(noise, noise) == pytest.approx([1] * 4)
    assert metrics.freq_correlation(noise, noise) == pytest.approx([1] * 4)


def test_correlations_ignore_level_and_scale_but_not_sign(noise):
    assert metrics.time_correlation(noise, 3 * noise + 1) == pytest.approx([1] * 4)
    assert metrics.freq_correlation(noise, 3 * noise + 1) == pytest.approx([1] * 4)
    assert metrics.time_correlation(noise, -noise) == pytest.approx([-1] * 4)
    assert metrics.mean_squared_error(noise, -noise) == pytest.approx(
        4 * np.mean(noise.astype(np.float64) ** 2, axis=(1, 2))
    )


def test_a_constant_inversion_correlates_0_not_nan(noise):
    constant = np.full_like(noise, 0.1)  # 0.1 is not exact in binary: a rounded mean
    assert metrics.time_correlation(noise, constant).tolist() == [0.0] * 4
    assert metrics.freq_correlation(noise, constant).tolist() == [0.0] * 4
    assert metrics.time_correlation(constant, noise).tolist() == [0.0] * 4


def test_pearson_matches_numpy_on_non_constant_vectors():
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((2, 5, 30))
    expected = [np.corrcoef(a, b)[0, 1] for a, b in zip(x, y, strict=True)]
    assert metrics.pearson(x, y, axis=1) == pytest.approx(expected)


def test_a_time_shuffle_loses_time_correlation_and_keeps_freq_correlation():
    """Each frame of the shuffled excerpt is a frame of the input: the same spectrum
    shifted by another gain, so every frame still correlates 1 along the mel axis; each
    band's course over time is a random permutation of itself, which correlates about 0
    (the gains are independent, so the correlation is within a few 1/sqrt(115) of 0)."""
    inputs = separable(np.random.default_rng(2))
    shuffled = inputs[:, np.random.default_rng(3).permutation(N_FRAMES)]
    assert metrics.freq_correlation(inputs, shuffled) == pytest.approx([1] * 3)
    assert np.all(np.abs(metrics.time_correlation(inputs, shuffled)) < 0.3)


def test_a_frequency_shuffle_loses_freq_correlation_and_keeps_time_correlation():
    """The mirror image: shuffling the mel bands leaves each band's course over time
    (the gains plus a constant) intact and scrambles each frame's spectrum."""
    inputs = separable(np.random.default_rng(4))
    shuffled = inputs[:, :, np.random.default_rng(5).permutation(N_MELS)]
    assert metrics.time_correlation(inputs, shuffled) == pytest.approx([1] * 3)
    assert np.all(np.abs(metrics.freq_correlation(inputs, shuffled)) < 0.35)


def test_time_shuffled_noise_correlates_about_0_along_time(noise):
    """On white noise the mean over 80 bands of 115-frame correlations has a standard
    deviation of about 1 / sqrt(80 * 115) = 0.01."""
    shuffled = noise[:, np.random.default_rng(6).permutation(N_FRAMES)]
    assert np.all(np.abs(metrics.time_correlation(noise, shuffled)) < 0.05)


def test_agreement_and_probability_change_on_hand_made_probabilities():
    p_inputs = np.array([0.9, 0.2, 0.6, 0.4, 0.5])
    p_inversions = np.array([0.8, 0.7, 0.5, 0.4, 0.49])
    # Decisions at 0.5 (P >= 0.5 is singing): input S N S N S, inversion S S S N N.
    agree = metrics.decision_agreement(p_inputs, p_inversions, 0.5)
    assert agree.tolist() == [1.0, 0.0, 1.0, 1.0, 0.0]
    change = metrics.probability_change(p_inputs, p_inversions)
    assert change == pytest.approx([0.1, 0.5, 0.1, 0.0, 0.01])


# --- class collapse ----------------------------------------------------------------------


def test_pairwise_correlation_sum_matches_numpy_corrcoef():
    excerpts = np.random.default_rng(7).standard_normal((5, 6, 4))
    corr = np.corrcoef(excerpts.reshape(5, -1))
    total, n_pairs = metrics.pairwise_correlation_sum(excerpts)
    assert n_pairs == 10
    assert total == pytest.approx(corr[np.triu_indices(5, k=1)].sum())
    assert metrics.pairwise_correlation_sum(excerpts[:1]) == (0.0, 0)


def test_identical_inversions_collapse_a_class_to_one_minus_the_inputs_correlation():
    rng = np.random.default_rng(8)
    shared = rng.standard_normal((1, 6, 4))
    inputs = shared + rng.standard_normal((4, 6, 4))  # pairwise correlations near 0.5
    identical = np.repeat(shared, 4, axis=0)
    total, n_pairs = metrics.pairwise_correlation_sum(inputs)
    assert n_pairs == 6
    assert metrics.within_class_correlation([identical]) == pytest.approx(1.0)
    assert metrics.class_collapse([inputs], [identical]) == pytest.approx(1 - total / 6)
    assert 0 < metrics.class_collapse([inputs], [identical]) < 1
    assert metrics.class_collapse([inputs], [inputs]) == pytest.approx(0.0)


def test_class_collapse_stays_finite_where_the_inputs_are_uncorrelated():
    # Zero-mean +-1 patterns: each pair correlates 0 except rows 2 and 3, which are
    # opposite (-1), so the mean over the 6 pairs is -1/6, where a ratio would divide by
    # a number near 0.
    inputs = np.array([[1, 1, -1, -1], [1, -1, 1, -1], [1, -1, -1, 1], [-1, 1, 1, -1]], np.float64)
    assert metrics.within_class_correlation([inputs]) == pytest.approx(-1 / 6)
    same = np.repeat(inputs[:1], 4, axis=0)
    assert metrics.class_collapse([inputs], [same]) == pytest.approx(1 + 1 / 6)


def test_class_collapse_pools_the_classes_weighted_by_pairs():
    rng = np.random.default_rng(9)
    a_in, a_inv = rng.standard_normal((2, 3, 5, 2)) + rng.standard_normal((1, 5, 2))
    b_in, b_inv = rng.standard_normal((2, 2, 5, 2)) + rng.standard_normal((1, 5, 2))
    corr = [metrics.pairwise_correlation_sum(x)[0] for x in (a_in, a_inv, b_in, b_inv)]
    # Class a has 3 pairs and class b 1; the pooled means share the denominator 4.
    expected = (corr[1] + corr[3]) / 4 - (corr[0] + corr[2]) / 4
    assert metrics.class_collapse([a_in, b_in], [a_inv, b_inv]) == pytest.approx(expected)


def test_class_collapse_is_none_without_a_pair():
    one = np.ones((1, 5, 2)) * np.arange(10).reshape(1, 5, 2)
    assert metrics.within_class_correlation([one, one[:0]]) is None
    assert metrics.class_collapse([one, one[:0]], [one, one[:0]]) is None


def test_class_collapse_needs_the_same_classes():
    two = np.random.default_rng(3).standard_normal((2, 5, 2))
    with pytest.raises(ValueError, match="same classes"):
        metrics.class_collapse([two, two], [two])


# --- evenly spaced sample ---------------------------------------------------------------


def test_even_sample_keeps_every_stride_th_item_and_at_most_its_limit():
    sample = metrics.EvenSample(100)
    for start in range(0, 1000, 7):
        sample.add(np.arange(start, min(start + 7, 1000)))
    # 1000 items under a limit of 100: the stride doubles to 16 (63 items kept).
    assert sample.stride == 16
    assert sample.items().tolist() == list(range(0, 1000, 16))


def test_even_sample_keeps_a_short_stream_whole_and_halves_a_big_batch_repeatedly():
    short = metrics.EvenSample(10)
    short.add(np.arange(10))
    assert short.items().tolist() == list(range(10))
    big = metrics.EvenSample(10)
    big.add(np.arange(45))  # one batch over four times the limit
    assert big.items().tolist() == list(range(0, 45, 8))


# --- the command on the tiny corpus -------------------------------------------------------


@pytest.fixture(scope="module")
def setup(tiny_dataset, tmp_path_factory):
    """A random classifier, its meanstd, and random inverters of three layers."""
    folder = tmp_path_factory.mktemp("analyse")
    torch.manual_seed(0)
    SVDNet().save_lasagne(folder / "classifier.npz")
    save_meanstd(folder / "tiny_meanstd.npz", np.full(80, -4.0), np.full(80, 2.0))
    models = folder / "models"
    for layer in ("conv1", "mp6", "fc8"):
        Inverter(layer).eval().save_lasagne(models / f"tiny_augment_gen_{layer}.npz")
    dataset_path, name = tiny_dataset
    argv = [str(folder / "classifier.npz"), "--dataset", name, "--dataset-path", str(dataset_path)]
    return argv + ["--models", str(models), "--device", "cpu"]


def test_mse_is_the_one_inverters_evaluate_reports_on_the_same_excerpts(setup, tmp_path):
    argv = [*setup, "--step", "30"]
    expected = inverter_evaluate.evaluate(inverter_evaluate.build_parser().parse_args(argv))
    args = analyse.build_parser().parse_args([*argv, "--threshold", "0.5", "--out", str(tmp_path)])
    layers = analyse.analyse(args)["layers"]
    assert list(layers) == ["conv1", "mp6", "fc8"]
    for layer, result in expected.items():
        assert layers[layer]["mse"] == pytest.approx(result["mse"], rel=1e-5)


def test_threshold_is_the_one_svdnet_evaluate_picks_on_valid(setup, tmp_path):
    expected = svdnet_evaluate.evaluate(
        svdnet_evaluate.build_parser().parse_args([*setup[:5], "--device", "cpu", "--no-baseline"])
    )["threshold"]
    args = analyse.build_parser().parse_args([*setup, "--step", "100", "--out", str(tmp_path)])
    assert analyse.analyse(args)["threshold"] == expected


def test_cli_writes_json_markdown_and_figure_and_prints_the_json_last(setup, tmp_path, capsys):
    out = tmp_path / "out"
    analyse.main([*setup, "--step", "40", "--threshold", "0.5", "--out", str(out), "--json"])
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed == json.loads((out / "analysis.json").read_text())
    assert printed["threshold"] == 0.5
    layers = printed["layers"]
    assert set(layers) == {"conv1", "mp6", "fc8"}
    for row in layers.values():
        assert set(analyse.METRICS) <= set(row)
        by_class = row["by_class"]
        assert (
            by_class["sing"]["n_excerpts"] + by_class["nosing"]["n_excerpts"]
            == (printed["n_excerpts"])
        )
        assert 0 <= row["agreement"] <= 1 and row["mse"] > 0
        difference = row["class_corr"] - printed["input_class_corr"]
        assert row["class_collapse"] == pytest.approx(difference)
    table = (out / "analysis.md").read_text().splitlines()
    assert table[1] == f"inputs' class_corr {printed['input_class_corr']:.3f}"
    assert table[3] == "| layer | " + " | ".join(analyse.METRICS) + " |"
    assert [line.split(" | ")[0] for line in table[5:]] == ["| conv1", "| mp6", "| fc8"]
    assert (out / "analysis.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_class_without_excerpts_has_null_metrics(setup, tmp_path):
    # No probability reaches 2: every excerpt is predicted nosing.
    args = analyse.build_parser().parse_args(
        [*setup, "--step", "100", "--threshold", "2", "--out", str(tmp_path)]
    )
    results = analyse.analyse(args)
    for row in results["layers"].values():
        sing, nosing = row["by_class"]["sing"], row["by_class"]["nosing"]
        assert sing["n_excerpts"] == 0
        assert all(sing[key] is None for key in analyse.METRICS)
        assert nosing["n_excerpts"] == results["n_excerpts"] > 0
        assert nosing["mse"] == pytest.approx(row["mse"])
        assert row["agreement"] == 1.0  # nothing can reach the threshold either way
    assert results["collapse_excerpts"]["sing"] == 0


@pytest.mark.parametrize("option", [["--step", "0"], ["--threshold", "nan"], ["--split", "x"]])
def test_a_bad_option_exits_2(setup, option, capsys):
    with pytest.raises(SystemExit) as exit_info:
        analyse.main([*setup, *option])
    assert exit_info.value.code == 2
    assert "error" in capsys.readouterr().err


def test_any_split_the_dataset_lists_can_be_analysed(setup, tmp_path, make_tiny_dataset):
    make_tiny_dataset(tmp_path, splits={"extra": 2})
    argv = [*setup, "--dataset-path", str(tmp_path), "--split", "extra", "--threshold", "0.5"]
    results = analyse.analyse(analyse.build_parser().parse_args([*argv, "--out", str(tmp_path)]))
    assert results["split"] == "extra"
    # As many excerpts as the two test files of the same length give, but other songs.
    test_argv = [*setup, "--threshold", "0.5", "--out", str(tmp_path / "test")]
    test = analyse.analyse(analyse.build_parser().parse_args(test_argv))
    assert results["n_excerpts"] == test["n_excerpts"] > 0
    assert results["layers"]["conv1"]["mse"] != test["layers"]["conv1"]["mse"]


def test_a_split_the_demo_corpus_lacks_is_refused_before_synthesis(setup, tmp_path, capsys):
    folder = Path(setup[0]).parent
    models = tmp_path / "models"
    models.mkdir()
    (models / "demo_augment_gen_fc8.npz").symlink_to(folder / "models/tiny_augment_gen_fc8.npz")
    meanstd = str(folder / "tiny_meanstd.npz")
    argv = [*setup, "--dataset", "demo", "--dataset-path", str(tmp_path), "--meanstd", meanstd]
    argv += ["--models", str(models)]
    with pytest.raises(SystemExit) as exit_info:
        analyse.main([*argv, "--split", "extra", "--out", str(tmp_path / "out")])
    assert exit_info.value.code == 2
    assert "no split 'extra'" in capsys.readouterr().err.strip().splitlines()[-1]
    assert not (tmp_path / "datasets").exists()
    assert not (tmp_path / "out").exists()


def test_a_missing_models_folder_is_one_error_line_and_exit_2(setup, tmp_path, capsys):
    argv = [*setup, "--models", str(tmp_path / "none"), "--threshold", "0.5"]
    with pytest.raises(SystemExit) as exit_info:
        analyse.main([*argv, "--out", str(tmp_path / "out")])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith("error: ")
    assert not (tmp_path / "out").exists()
