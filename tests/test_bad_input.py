"""Bad input to every command: one clear line, status 2, no traceback, nothing half written.

Options are checked by argparse (usage, then one ``error:`` line naming the option);
files found bad later end in exactly one ``error: <file>: <problem>`` line. Ctrl-C ends
in ``interrupted`` and status 130, with no temporary or partial file left behind.
"""

import argparse
import contextlib
import io
import math
import os
import re
import signal
import subprocess
import sys
import time
from itertools import pairwise

import numpy as np
import pytest
import soundfile as sf
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from inverters import cli as invert_cli
from inverters import evaluate as inverters_evaluate
from inverters import figure
from inverters import train as inverters_train
from svdnet import audio, democorpus, spectra, training
from svdnet import cli as svdnet_cli
from svdnet import evaluate as svdnet_evaluate
from svdnet import train as svdnet_train
from svdnet.dataset import read_labels
from svdnet.errors import InputError
from tests.conftest import write_tiny_dataset
from tests.test_download import corpus_script, weights_script
from tests.test_invert import ROOT, run, setup  # noqa: F401  (fixture)

# --- helpers ---------------------------------------------------------------------


# tqdm's timer, "[00:01<00:05, ...]" or "[00:01, ...]": on every progress bar, in no message.
PROGRESS_BAR = re.compile(r"\[\d\d:\d\d[<,]")


def messages(err):
    """The lines of ``err`` that a terminal shows, less the progress bars.

    A bar redraws itself after carriage returns, and a closed one may leave its line
    blank; what follows the last carriage return of a line is what stays visible.
    """
    visible = (line.rsplit("\r", 1)[-1] for line in err.split("\n"))
    return [line for line in visible if line.strip() and not PROGRESS_BAR.search(line)]


def one_error_line(err, *names):
    """Assert ``err`` is exactly one ``error:`` line naming each of ``names``; return it."""
    assert "Traceback" not in err
    lines = messages(err)
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    for name in names:
        assert str(name) in lines[0]
    return lines[0]


def exits(main, argv, capsys, status=2):
    """Run ``main(argv)``, expect ``SystemExit(status)``; return stderr."""
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == status
    return capsys.readouterr().err


def leftovers(folder):
    """Files under ``folder`` (temporary ones included), as relative path strings."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def parse_error(build_parser, argv):
    """Parse ``argv``; expect argparse's status 2 and return its ``error:`` line."""
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(argv)
    assert exit_info.value.code == 2
    err = stderr.getvalue()
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if "error:" in line]
    assert len(errors) == 1, err
    return errors[0]


# --- 1. option values ------------------------------------------------------------

# (parser, the positional arguments it needs, an option, one bad value of it).
BAD_OPTIONS = [
    (invert_cli.build_parser, ["c", "i", "d", "r"], "--time-index", "-1"),
    (invert_cli.build_parser, ["c", "i", "d", "r"], "--time-index", "nan"),
    (invert_cli.build_parser, ["c", "i", "d", "r"], "--time-index", "inf"),
    (invert_cli.build_parser, ["c", "i", "d", "r"], "--seed", "-1"),
    (invert_cli.build_parser, ["c", "i", "d", "r"], "--n_conv_layers", "0"),
    (invert_cli.build_parser, ["c", "i", "d", "r"], "--n_conv_filters", "-3"),
    (svdnet_train.build_parser, ["out.npz"], "--epochs", "-1"),
    (svdnet_train.build_parser, ["out.npz"], "--epochsize", "0"),
    (svdnet_train.build_parser, ["out.npz"], "--batchsize", "0"),
    (svdnet_train.build_parser, ["out.npz"], "--lr", "nan"),
    (svdnet_train.build_parser, ["out.npz"], "--lr", "0"),
    (svdnet_train.build_parser, ["out.npz"], "--lr", "-inf"),
    (svdnet_train.build_parser, ["out.npz"], "--workers", "-1"),
    (svdnet_train.build_parser, ["out.npz"], "--valid-excerpts", "0"),
    (svdnet_train.build_parser, ["out.npz"], "--seed", str(2**64)),
    (inverters_train.build_parser, ["c", "o", "--layer", "fc8"], "--step", "0"),
    (inverters_train.build_parser, ["c", "o", "--layer", "fc8"], "--valid-step", "-5"),
    (inverters_train.build_parser, ["c", "o", "--layer", "fc8"], "--max-excerpts", "0"),
    (inverters_train.build_parser, ["c", "o", "--layer", "fc8"], "--lr", "inf"),
    (inverters_train.build_parser, ["c", "o", "--layer", "fc8"], "--featloss-weight", "nan"),
    (inverters_train.build_parser, ["c", "o", "--layer", "fc8"], "--seed", "-2"),
    (inverters_evaluate.build_parser, ["c"], "--step", "0"),
    (figure.build_parser, ["c", "o.png"], "--file-index", "-1"),
    (figure.build_parser, ["c", "o.png"], "--time-index", "nan"),
    (figure.build_parser, ["c", "o.png"], "--time-index", "1e999"),
    (svdnet_evaluate.build_parser, ["c"], "--device", "tpu"),
]


@pytest.mark.parametrize(
    "build_parser, positional, option, value",
    BAD_OPTIONS,
    ids=[f"{b.__module__}{o}={v}" for b, _, o, v in BAD_OPTIONS],
)
def test_an_option_out_of_range_is_a_usage_error_naming_it(build_parser, positional, option, value):
    line = parse_error(build_parser, [*positional, f"{option}={value}"])
    assert f"argument {option}" in line


@pytest.mark.parametrize(
    "option, values",
    [
        ("--seed", ["-1"]),
        ("--n-test", ["0"]),
        ("--duration-s", ["nan"]),
        ("--duration-s", ["0.0001"]),
        ("--vocalise", ["1.5"]),
        ("--vocalise", ["-0.1"]),
        ("--vocalise", ["nan"]),
        ("--voice-level", ["nan", "0"]),
        ("--voice-level", ["-9", "inf"]),
        ("--voice-level", ["6", "-9"]),  # low above high
        ("--voice-level", ["-9"]),
    ],
)
def test_democorpus_rejects_bad_options_before_writing(tmp_path, capsys, option, values):
    argv = [str(tmp_path), "--splits", "test", option, *values]
    err = exits(democorpus.main, argv, capsys)
    assert f"argument {option}" in err and "Traceback" not in err
    assert leftovers(tmp_path) == []


def _is_bad_time(x):
    return not math.isfinite(x) or x < 0


@settings(max_examples=30, deadline=None)
@given(st.floats(allow_nan=True, allow_infinity=True).filter(_is_bad_time))
def test_any_negative_or_non_finite_time_index_is_rejected(time_s):
    line = parse_error(invert_cli.build_parser, ["c", "i", "d", "r", f"--time-index={time_s!r}"])
    assert "argument --time-index" in line


@settings(max_examples=30, deadline=None)
@given(st.floats(min_value=0, max_value=1e6))
def test_any_finite_non_negative_time_index_is_accepted(time_s):
    args = invert_cli.build_parser().parse_args(["c", "i", "d", "r", f"--time-index={time_s!r}"])
    assert args.time_index == time_s


@settings(max_examples=30, deadline=None)
@given(st.integers(min_value=-(10**30), max_value=10**30))
def test_integer_types_accept_exactly_their_range(value):
    for check, low in ((svdnet_cli.positive_int, 1), (svdnet_cli.non_negative_int, 0)):
        if value >= low:
            assert check(str(value)) == value
        else:
            with pytest.raises(argparse.ArgumentTypeError, match=str(value)):
                check(str(value))
    if 0 <= value < 2**64:
        assert svdnet_cli.random_seed(str(value)) == value
    else:
        with pytest.raises(argparse.ArgumentTypeError):
            svdnet_cli.random_seed(str(value))


@settings(max_examples=30, deadline=None)
@given(st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=5)))
def test_float_types_accept_only_finite_numbers_in_range(value):
    text = value if isinstance(value, str) else repr(value)
    try:
        number = float(text)
    except ValueError:
        number = math.nan
    for check, ok in (
        (svdnet_cli.finite_float, math.isfinite(number)),
        (svdnet_cli.non_negative_float, math.isfinite(number) and number >= 0),
        (svdnet_cli.positive_float, math.isfinite(number) and number > 0),
    ):
        if ok:
            assert check(text) == number
        else:
            with pytest.raises(argparse.ArgumentTypeError):
                check(text)


@pytest.mark.subprocess
def test_invert_script_with_a_nan_time_index_exits_2_and_writes_nothing(setup):  # noqa: F811
    argv = [sys.executable, str(ROOT / "invert.py"), str(setup / "classifier.npz")]
    argv += [str(setup / "inv_fc8.npz"), str(setup), str(setup / "out"), "--time-index", "nan"]
    proc = subprocess.run(argv, capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert (
        proc.stderr.strip()
        .splitlines()[-1]
        .endswith("error: argument --time-index: must be a finite number, got 'nan'")
    )
    assert not (setup / "out").exists()


# --- 2. weight and statistics files ----------------------------------------------


def _with_param(path, index, value):
    params = dict(np.load(path))
    params[f"param{index}"] = value
    np.savez(path, **params)


def _nan_in_param3(s):
    params = np.load(s / "classifier.npz")["param3"].copy()
    params[0] = np.nan
    _with_param(s / "classifier.npz", 3, params)
    return "classifier file param3 holds NaN or infinite values"


def _inf_in_inverter(s):
    params = np.load(s / "inv_fc8.npz")["param0"].copy()
    params[-1, -1] = np.inf
    _with_param(s / "inv_fc8.npz", 0, params)
    return "inverter file param0 holds NaN or infinite values"


def _strings_as_weights(s):
    _with_param(s / "classifier.npz", 1, np.array(["a"] * 64))
    return "classifier file param1 holds <U1 values, not numbers"


def _pickled_objects(s):
    np.savez(s / "classifier.npz", param0=np.array([{"a": 1}], dtype=object))
    return "not a readable .npz classifier file"


def _npy_as_weights(s):
    np.save(s / "classifier.npy", np.zeros(3))
    (s / "classifier.npy").rename(s / "classifier.npz")
    return "not a readable .npz classifier file (not a zip archive)"


def _audio_as_weights(s):
    (s / "classifier.npz").write_bytes((s / "datasets/tiny/audio/song0.wav").read_bytes())
    return "not a readable .npz classifier file (not a zip archive)"


def _text_as_weights(s):
    (s / "classifier.npz").write_text("param0 = 1\n")
    return "not a readable .npz classifier file (not a zip archive)"


def _folder_as_weights(s):
    (s / "classifier.npz").unlink()
    (s / "classifier.npz").mkdir()
    return "classifier file is a folder"


def _copied(source, target, problem):
    """A spoiler that puts the file ``source`` where ``target`` is expected."""

    def spoil(s):
        (s / target).write_bytes((s / source).read_bytes())
        return problem

    return spoil


_inverter_as_classifier = _copied(
    "inv_fc8.npz", "classifier.npz", "classifier file holds 52 arrays, expected 14"
)
_classifier_as_inverter = _copied(
    "classifier.npz", "inv_conv5.npz", "this is an SVDNet classifier file, not a conv5 inverter"
)
_meanstd_as_weights = _copied(
    "meanstd.npz",
    "classifier.npz",
    "not a Lasagne parameter file (expected keys param0..paramN, found mean, std)",
)
_weights_as_meanstd = _copied(
    "inv_fc8.npz", "meanstd.npz", "meanstd file needs keys 'mean' and 'std' (found param0"
)


def _zero_std(s):
    std = np.full(80, 2.0)
    std[12] = 0
    audio.save_meanstd(s / "meanstd.npz", np.zeros(80), std)
    return "meanstd file: std must be positive (band 12 is 0)"


def _negative_std(s):
    audio.save_meanstd(s / "meanstd.npz", np.zeros(80), np.full(80, -1.0))
    return "meanstd file: std must be positive (band 0 is -1)"


def _nan_mean(s):
    mean = np.zeros(80)
    mean[5] = np.nan
    audio.save_meanstd(s / "meanstd.npz", mean, np.ones(80))
    return "meanstd file: mean of band 5 is nan"


def _meanstd_of_wrong_rank(s):
    audio.save_meanstd(s / "meanstd.npz", np.zeros((1, 80)), np.ones((1, 80)))
    return "meanstd holds (1, 80) / (1, 80) values, expected (80,)"


BAD_FILES = {
    "nan in a classifier param": ("classifier.npz", "fc8", _nan_in_param3),
    "inf in an inverter param": ("inv_fc8.npz", "fc8", _inf_in_inverter),
    "strings as weights": ("classifier.npz", "fc8", _strings_as_weights),
    "pickled objects": ("classifier.npz", "fc8", _pickled_objects),
    "an .npy as weights": ("classifier.npz", "fc8", _npy_as_weights),
    "audio as weights": ("classifier.npz", "fc8", _audio_as_weights),
    "text as weights": ("classifier.npz", "fc8", _text_as_weights),
    "a folder as weights": ("classifier.npz", "fc8", _folder_as_weights),
    "an inverter as classifier": ("classifier.npz", "fc8", _inverter_as_classifier),
    "a classifier as inverter": ("inv_conv5.npz", "conv5", _classifier_as_inverter),
    "meanstd as weights": ("classifier.npz", "fc8", _meanstd_as_weights),
    "weights as meanstd": ("meanstd.npz", "fc8", _weights_as_meanstd),
    "a zero std": ("meanstd.npz", "fc8", _zero_std),
    "a negative std": ("meanstd.npz", "fc8", _negative_std),
    "a nan mean": ("meanstd.npz", "fc8", _nan_mean),
    "meanstd of the wrong rank": ("meanstd.npz", "fc8", _meanstd_of_wrong_rank),
}


@pytest.mark.parametrize("case", BAD_FILES)
def test_a_bad_weight_or_meanstd_file_is_one_line_naming_it(setup, capsys, case):  # noqa: F811
    name, layer, spoil = BAD_FILES[case]
    problem = spoil(setup)
    with pytest.raises(SystemExit) as exit_info:
        run(setup, layer)
    assert exit_info.value.code == 2
    one_error_line(capsys.readouterr().err, setup / name, problem)
    assert not (setup / "results").exists()


def _nan_in_std_band_3():
    std = np.ones(80)
    std[3] = np.nan
    return {"mean": np.zeros(80), "std": std}


def _small_stds_and_a_zero_in_band_12():
    std = np.full(80, 0.5)  # log-mel bands can have a std below 1: valid
    std[12] = 0
    return {"mean": np.zeros(80), "std": std}


BAD_MEANSTD = {
    "no std": ({"mean": np.zeros(80)}, "meanstd file needs keys 'mean' and 'std' (found mean)"),
    "no keys at all": ({"other": np.zeros(1)}, "needs keys 'mean' and 'std' (found other)"),
    "a short std": (
        {"mean": np.zeros(80), "std": np.ones(79)},
        "meanstd holds (80,) / (79,) values, expected (80,)",
    ),
    "a nan std": (_nan_in_std_band_3(), "meanstd file: std of band 3 is nan"),
    "strings": (
        {"mean": np.array(["a"] * 80), "std": np.ones(80)},
        "meanstd file: mean holds <U1 values, not numbers",
    ),
    "a zero std after small ones": (
        _small_stds_and_a_zero_in_band_12(),
        "meanstd file: std must be positive (band 12 is 0)",
    ),
}


# The same checks met directly, for problems the tables above do not make.
@pytest.mark.parametrize("case", BAD_MEANSTD)
def test_a_bad_meanstd_file_names_itself_and_its_problem(tmp_path, case):
    arrays, problem = BAD_MEANSTD[case]
    np.savez(tmp_path / "meanstd.npz", **arrays)
    with pytest.raises(InputError) as error:
        audio.load_meanstd(tmp_path / "meanstd.npz")
    message = str(error.value)
    assert message.startswith(f"{tmp_path / 'meanstd.npz'}: ") and problem in message


def test_trainer_with_a_nan_classifier_exits_2_before_writing(setup, tmp_path, capsys):  # noqa: F811
    _nan_in_param3(setup)
    argv = [str(setup / "classifier.npz"), str(tmp_path / "out" / "inv.npz"), "--layer", "fc8"]
    argv += ["--dataset", "tiny", "--dataset-path", str(setup), "--device", "cpu"]
    err = exits(inverters_train.main, argv, capsys)
    one_error_line(err, setup / "classifier.npz", "param3 holds NaN or infinite values")
    assert not (tmp_path / "out").exists()


# --- 3. label files --------------------------------------------------------------

BAD_LAB_LINES = {
    "1.0 2.0 shout": "unknown label 'shout'",
    "2.0 1.0 sing": "ends before it starts",
    "-1.0 2.0 sing": "negative start",
    "nan 2.0 sing": "times must be finite",
    "1.0 inf sing": "times must be finite",
    "0.4 2.0 sing": "starts at 0.4 s, before the previous one ends at 0.5 s",
    "1.0 2.0 sing extra": "4 fields",
}


@pytest.mark.parametrize("line", BAD_LAB_LINES)
def test_a_bad_lab_line_is_named_with_its_file_and_line_number(tmp_path, line):
    (tmp_path / "bad.lab").write_text(f"0.0 0.5 nosing\n\n{line}\n")
    with pytest.raises(InputError) as error:
        read_labels(tmp_path / "bad.lab")
    assert str(error.value).startswith(f"{tmp_path / 'bad.lab'}:3: ")
    assert BAD_LAB_LINES[line] in str(error.value)


@st.composite
def lab_segments(draw):
    """Contiguous or gapped segments in time order, as (start_ms, end_ms, label)."""
    times = sorted(draw(st.lists(st.integers(0, 10**6), min_size=2, max_size=12, unique=True)))
    keep_gaps = draw(st.booleans())
    pairs = list(pairwise(times))[:: 2 if keep_gaps else 1]
    labels = draw(st.lists(st.sampled_from(["sing", "nosing"]), min_size=len(pairs)))
    return [(a, b, label) for (a, b), label in zip(pairs, labels, strict=False)]


@settings(max_examples=30, deadline=None)
@given(segments=lab_segments(), bad=st.sampled_from(sorted(BAD_LAB_LINES)), data=st.data())
def test_one_bad_line_among_good_ones_is_found(tmp_path_factory, segments, bad, data):
    lines = [f"{a / 1000:.3f} {b / 1000:.3f} {label}" for a, b, label in segments]
    path = tmp_path_factory.mktemp("lab") / "song.lab"
    path.write_text("".join(f"{line}\n" for line in lines))
    assert [s[2] for s in read_labels(path)] == [label == "sing" for _, _, label in segments]
    # A line that breaks a rule on its own, wherever it goes, is reported at its number.
    if bad.startswith("0.4"):
        return  # an overlap depends on its neighbour; covered above
    at = data.draw(st.integers(0, len(lines)))
    path.write_text("".join(f"{line}\n" for line in [*lines[:at], bad, *lines[at:]]))
    with pytest.raises(InputError, match=rf"song\.lab:{at + 1}: "):
        read_labels(path)


@settings(max_examples=30, deadline=None)
@given(segments=lab_segments(), data=st.data())
def test_a_segment_starting_inside_the_previous_one_is_an_overlap(tmp_path_factory, segments, data):
    i = data.draw(st.integers(1, max(1, len(segments) - 1)))
    if len(segments) < 2:
        segments = [*segments, segments[0]]  # a repeat overlaps itself
        i = 1
    prev_start, prev_end, _ = segments[i - 1]
    start = data.draw(st.integers(prev_start, prev_end - 1))
    segments[i] = (start, max(start, segments[i][1]), segments[i][2])
    path = tmp_path_factory.mktemp("lab") / "song.lab"
    path.write_text("".join(f"{a / 1000:.3f} {b / 1000:.3f} {s}\n" for a, b, s in segments))
    with pytest.raises(InputError, match=rf"song\.lab:{i + 1}: .*before the previous one ends"):
        read_labels(path)


def test_trainer_with_an_overlapping_label_exits_2_naming_file_and_line(tmp_path, capsys):
    folder = write_tiny_dataset(tmp_path, splits={"train": 1, "valid": 1, "test": 1}, duration_s=3)
    lab = folder / "labels" / "train_0.lab"
    lab.write_text("0.000 1.500 nosing\n1.000 3.000 sing\n")
    argv = [str(tmp_path / "m.npz"), "--dataset", "tiny", "--dataset-path", str(tmp_path)]
    err = exits(svdnet_train.main, [*argv, "--device", "cpu"], capsys)
    one_error_line(err, f"{lab}:2: ", "before the previous one ends at 1.5 s")
    assert not (tmp_path / "m.npz").exists() and not (tmp_path / "tiny_meanstd.npz").exists()


# --- 4. Ctrl-C -------------------------------------------------------------------


def test_run_cli_turns_ctrl_c_into_status_130_and_one_line(capsys):
    def interrupted():
        raise KeyboardInterrupt

    err = exits(lambda _: svdnet_cli.run_cli(interrupted), None, capsys, status=130)
    assert err == "interrupted\n"


def test_ctrl_c_while_saving_a_plot_leaves_no_file(setup, capsys, monkeypatch):  # noqa: F811
    def savefig_cut_short(fig, f, **kwargs):
        f.write(b"%PDF-1.4 partial")
        raise KeyboardInterrupt

    monkeypatch.setattr("matplotlib.figure.Figure.savefig", savefig_cut_short)
    with pytest.raises(SystemExit) as exit_info:
        run(setup, "fc8", "--time-index", "0", "--save-arrays")
    assert exit_info.value.code == 130
    assert messages(capsys.readouterr().err) == ["interrupted"]
    assert leftovers(setup / "results") == []


def test_ctrl_c_while_caching_a_spectrogram_leaves_no_file(setup, capsys, monkeypatch):  # noqa: F811
    stream = spectra.stream

    def stream_cut_short(path, *args):
        yield next(iter(stream(path, *args)))
        raise KeyboardInterrupt

    monkeypatch.setattr(spectra, "stream", stream_cut_short)
    song = setup / "datasets/tiny/audio/song0.wav"
    with pytest.raises(SystemExit) as exit_info:
        svdnet_cli.run_cli(spectra.cached_spectrogram, song, setup / "cache")
    assert exit_info.value.code == 130
    assert messages(capsys.readouterr().err) == ["interrupted"]
    assert leftovers(setup / "cache") == []


def test_ctrl_c_in_training_keeps_the_last_checkpoint_and_leaves_no_temporary_file(
    tmp_path, capsys, monkeypatch
):
    write_tiny_dataset(tmp_path, splits={"train": 1, "valid": 1, "test": 1}, duration_s=3)
    out = tmp_path / "run" / "m.npz"
    argv = [str(out), "--dataset", "tiny", "--dataset-path", str(tmp_path), "--epochs", "2"]
    argv += ["--epochsize", "1", "--batchsize", "2", "--workers", "0", "--valid-excerpts", "2"]
    argv += ["--no-augment", "--device", "cpu"]
    steps = []
    step = svdnet_train.training_step

    def interrupt_in_epoch_2(*args, **kwargs):
        steps.append(1)
        if len(steps) == 2:
            raise KeyboardInterrupt
        return step(*args, **kwargs)

    monkeypatch.setattr(svdnet_train, "training_step", interrupt_in_epoch_2)
    err = exits(svdnet_train.main, argv, capsys, status=130)
    assert messages(err) == ["interrupted"] and "Traceback" not in err
    assert leftovers(out.parent) == ["m.ckpt", "tiny_meanstd.npz"]
    assert torch.load(out.with_suffix(".ckpt"), weights_only=True)["epoch"] == 1


def test_ctrl_c_while_writing_a_checkpoint_leaves_no_file(tmp_path, monkeypatch):
    def save_cut_short(state, f):
        f.write(b"PK partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(training.torch, "save", save_cut_short)
    with pytest.raises(KeyboardInterrupt):
        training.save_checkpoint(tmp_path / "m.ckpt", {"epoch": 1})
    assert leftovers(tmp_path) == []


def test_ctrl_c_in_the_demo_corpus_leaves_no_partial_song_or_filelist(
    tmp_path, capsys, monkeypatch
):
    generate = democorpus.generate_song
    songs = []

    def interrupt_second_song(*args, **kwargs):
        songs.append(1)
        if len(songs) == 2:
            raise KeyboardInterrupt
        return generate(*args, **kwargs)

    monkeypatch.setattr(democorpus.writer, "generate_song", interrupt_second_song)
    argv = [str(tmp_path), "--splits", "test", "--n-test", "3", "--duration-s", "0.5"]
    assert messages(exits(democorpus.main, argv, capsys, status=130)) == ["interrupted"]
    assert leftovers(tmp_path) == [
        "datasets/demo/audio/demo_test_000.ogg",
        "datasets/demo/labels/demo_test_000.lab",
    ]


@pytest.mark.parametrize("script", ["corpus", "weights"])
def test_ctrl_c_during_a_download_leaves_no_file(tmp_path, capsys, monkeypatch, script):
    def fetch_cut_short(url, out_file, label, progress):
        out_file.write(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr("svdnet.download._fetch", fetch_cut_short)
    dest = tmp_path / "dest"
    base = ["--base-url", "http://127.0.0.1:9", "--no-progress"]
    if script == "corpus":
        err = exits(corpus_script.main, [str(dest), *base], capsys, status=130)
    else:
        err = exits(weights_script.main, ["--dest", str(dest), *base], capsys, status=130)
    assert messages(err) == ["interrupted"] and "Traceback" not in err
    assert leftovers(dest) == []


@pytest.mark.subprocess
def test_sigint_stops_a_real_run_with_status_130_and_no_partial_file(tmp_path):
    argv = [sys.executable, "-m", "svdnet.democorpus", str(tmp_path), "--splits", "test"]
    proc = subprocess.Popen(
        [*argv, "--n-test", "50", "--duration-s", "5"],
        cwd=ROOT,
        stderr=subprocess.PIPE,
    )
    audio_dir = tmp_path / "datasets" / "demo" / "audio"
    deadline = time.monotonic() + 60
    while not (audio_dir.is_dir() and any(audio_dir.glob("*.ogg"))):
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    err = proc.communicate(timeout=60)[1].decode()  # bytes: keeps the bars' carriage returns
    assert proc.returncode == 130, err[-3000:]
    assert messages(err) == ["interrupted"] and "Traceback" not in err
    files = leftovers(tmp_path)
    assert not any(name.endswith(".tmp") or "filelists" in name for name in files)
    oggs = [name for name in files if name.endswith(".ogg")]
    for name in oggs:  # every song written is whole
        sf.read(tmp_path / name)


@pytest.mark.subprocess
def test_ctrl_c_stops_invert_all_with_status_130_before_the_next_layer(tmp_path):
    log = tmp_path / "calls"
    fake_python = tmp_path / "python"  # stands in for invert.py: logs, then waits
    fake_python.write_text(f'#!/bin/sh\necho "$@" >> {log}\nexec sleep 30\n')
    fake_python.chmod(0o755)
    models = tmp_path / "models"
    models.mkdir()
    for layer in ("fc8", "fc7"):
        (models / f"clf_gen_{layer}.npz").write_bytes(b"")
    proc = subprocess.Popen(
        ["bash", str(ROOT / "invert_all.sh"), "clf.npz", str(models), "tiny", str(tmp_path)],
        env={**os.environ, "PYTHON": str(fake_python)},
        cwd=tmp_path,
        start_new_session=True,  # its own process group, as a terminal's Ctrl-C reaches
    )
    deadline = time.monotonic() + 30
    while not log.exists():
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGINT)
    assert proc.wait(timeout=30) == 130
    assert len(log.read_text().splitlines()) == 1 and "--layer fc8" in log.read_text()


# --- 5. other bad input ----------------------------------------------------------


def test_audio_with_nan_samples_is_one_line_naming_it(setup, capsys):  # noqa: F811
    path = setup / "datasets/tiny/audio/song0.wav"
    samples = np.zeros(3 * audio.SAMPLE_RATE, np.float32)
    samples[100] = np.nan  # inside the plotted excerpt: invert.py decodes only that part
    sf.write(path, samples, audio.SAMPLE_RATE, subtype="FLOAT")
    with pytest.raises(SystemExit) as exit_info:
        run(setup, "fc8", "--time-index", "0")
    assert exit_info.value.code == 2
    one_error_line(capsys.readouterr().err, path, "holds NaN or infinite samples")


def test_an_empty_filelist_is_one_line_naming_it(setup, capsys):  # noqa: F811
    (setup / "datasets/tiny/filelists/test").write_text("\n")
    with pytest.raises(SystemExit) as exit_info:
        run(setup)
    assert exit_info.value.code == 2
    one_error_line(capsys.readouterr().err, "filelists/test", "filelist is empty")


def test_a_binary_filelist_is_one_line_naming_it(setup, capsys):  # noqa: F811
    (setup / "datasets/tiny/filelists/test").write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    with pytest.raises(SystemExit) as exit_info:
        run(setup)
    assert exit_info.value.code == 2
    one_error_line(capsys.readouterr().err, "filelists/test", "not a filelist")


def test_a_trainer_output_that_is_a_folder_is_refused_before_training(tmp_path, capsys):
    (tmp_path / "m.npz").mkdir()
    err = exits(svdnet_train.main, [str(tmp_path / "m.npz"), "--dataset-path", "none"], capsys)
    one_error_line(err, tmp_path / "m.npz", "weight file is a folder")


def test_a_trainer_output_under_a_file_is_refused_before_training(tmp_path, capsys):
    (tmp_path / "file").write_text("")
    out = tmp_path / "file" / "inv.npz"
    argv = ["classifier.npz", str(out), "--layer", "fc8", "--device", "cpu"]
    err = exits(inverters_train.main, argv, capsys)
    one_error_line(err, out, "is not a folder")


def test_resuming_from_a_file_that_is_not_a_checkpoint_is_refused(tmp_path):
    torch.save(torch.zeros(3), tmp_path / "m.ckpt")
    with pytest.raises(InputError, match=r"m\.ckpt: not a checkpoint of this trainer"):
        training.load_checkpoint(tmp_path / "m.ckpt", {"seed": 0})


@pytest.mark.parametrize(
    "out, mse, problem",
    [
        ("fig.txt", None, "unknown figure format '.txt'"),
        ("folder.png", None, "figure is a folder"),
        ("fig.png", "{not json", "not a readable JSON results file"),
        ("fig.png", '{"fc8": {"mse": NaN}}', 'fc8 needs a finite number as "mse"'),
        ("fig.png", '{"fc8": 0.5}', 'fc8 needs a finite number as "mse"'),
    ],
)
def test_figure_checks_its_output_and_mse_file_first(tmp_path, capsys, out, mse, problem):
    (tmp_path / "folder.png").mkdir()
    argv = [str(tmp_path / "missing_classifier.npz"), str(tmp_path / out)]
    if mse is not None:
        (tmp_path / "mse.json").write_text(mse)
        argv += ["--mse", str(tmp_path / "mse.json")]
    one_error_line(exits(figure.main, argv, capsys), problem)


def test_democorpus_root_that_is_a_file_is_one_line(tmp_path, capsys):
    (tmp_path / "root").write_text("")
    argv = [str(tmp_path / "root"), "--splits", "test", "--n-test", "1"]
    one_error_line(exits(democorpus.main, argv, capsys), tmp_path / "root", "cannot create")


def test_download_into_a_file_is_one_line(tmp_path, capsys):
    (tmp_path / "dest").write_text("")
    argv = [str(tmp_path / "dest"), "--base-url", "http://127.0.0.1:9", "--no-progress"]
    one_error_line(exits(corpus_script.main, argv, capsys), tmp_path / "dest")


@pytest.mark.subprocess
def test_ctrl_c_while_a_tool_imports_is_one_line_and_status_130():
    # As `python -m svdnet...` sees it: sys.argv[0] is "-m" while the modules import.
    code = "import sys; sys.argv[0] = '-m'; import os, signal, svdnet, time\n"
    code += "os.kill(os.getpid(), signal.SIGINT); time.sleep(5)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 130
    assert proc.stderr.strip() == "interrupted"
