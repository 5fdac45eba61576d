"""Tests of the synthetic demo corpus: songs, labels and the written Jamendo layout."""

import json
import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from scipy import signal

from svdnet import democorpus
from svdnet.democorpus import (
    SR,
    generate_song,
    main,
    render_stems,
    song_name,
    song_seed,
    voice,
    write_corpus,
    writer,
)

# No train or valid song: they sing with speech too, which needs Debian's festival.
SMALL_N_SONGS = {"sampled": 1, "test": 2}
SHORT_S = 8.0
SEED = 3


def read_labels(path):
    """Parse a .lab file into (start_s, end_s, is_singing) tuples."""
    segments = []
    for line in path.read_text().splitlines():
        start, end, label = line.split()
        assert label in ("sing", "nosing")
        segments.append((float(start), float(end), label == "sing"))
    return segments


def sing_mask(segments, n, sr=SR):
    mask = np.zeros(n, bool)
    for start_s, end_s, sing in segments:
        if sing:
            mask[round(start_s * sr) : round(end_s * sr)] = True
    return mask


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """A small corpus of the pip-only splits, written once for the file-level tests."""
    root = tmp_path_factory.mktemp("full")
    base = write_corpus(
        root, SEED, tuple(SMALL_N_SONGS), SMALL_N_SONGS, duration_s=SHORT_S, progress=False
    )
    return base


def test_same_seed_gives_identical_song():
    samples_a, segments_a = generate_song(7, duration_s=10.0)
    samples_b, segments_b = generate_song(np.random.default_rng(7), duration_s=10.0)
    np.testing.assert_array_equal(samples_a, samples_b)
    assert segments_a == segments_b


def test_different_seeds_give_different_songs():
    samples_a, _ = generate_song(1, duration_s=10.0)
    samples_b, _ = generate_song(2, duration_s=10.0)
    assert not np.allclose(samples_a, samples_b)


def test_song_is_mono_float32_of_requested_length_without_clipping():
    samples, _ = generate_song(0, duration_s=9.5)
    assert samples.dtype == np.float32
    assert samples.shape == (round(9.5 * SR),)
    assert 0.1 < np.max(np.abs(samples)) <= 0.99


@pytest.mark.parametrize("seed,duration_s", [(0, 10.0), (1, 37.5), (2, 60.0), (4, 3.0)])
def test_segments_are_contiguous_alternating_and_cover_the_song(seed, duration_s):
    _, segments = generate_song(seed, duration_s=duration_s)
    assert segments[0][0] == 0.0
    assert segments[-1][1] == duration_s
    for (_, end_s, sing), (start_s, next_end_s, next_sing) in zip(
        segments[:-1], segments[1:], strict=True
    ):
        assert start_s == end_s
        assert next_end_s > start_s
        assert next_sing != sing
    for start_s, end_s, _ in segments:
        assert round(start_s * 1000) == pytest.approx(start_s * 1000, abs=1e-6)
        assert round(end_s * 1000) == pytest.approx(end_s * 1000, abs=1e-6)


def test_rejects_a_duration_below_one_millisecond():
    with pytest.raises(ValueError, match="duration_s"):
        generate_song(0, duration_s=0.0)


def test_singing_takes_between_a_fifth_and_four_fifths_of_the_time():
    sung_s = total_s = 0.0
    for seed in range(5):
        _, segments = generate_song(seed, duration_s=30.0)
        sung_s += sum(end_s - start_s for start_s, end_s, sing in segments if sing)
        total_s += 30.0
    assert 0.2 < sung_s / total_s < 0.8


def test_voice_sounds_only_in_sing_segments_mostly_between_200_and_3000_hz():
    stems, segments = render_stems(np.random.default_rng(1), duration_s=20.0)
    voice = stems["voice"]
    inside = sing_mask(segments, len(voice))
    assert inside.any()
    # Only the soft breaths between phrases lie outside the sung spans.
    assert np.sum(voice[inside] ** 2) > 0.99 * np.sum(voice**2)
    freqs_hz, power = signal.welch(voice[inside], SR, nperseg=2048)
    formant_region = (freqs_hz >= 200) & (freqs_hz <= 3000)
    assert np.sum(power[formant_region]) > 0.7 * np.sum(power)


def test_no_training_song_uses_the_heldout_voice_family_or_soundfont():
    from svdnet.democorpus.song import HELDOUT_PROFILE, PROFILES

    heldout = PROFILES["heldout"]
    assert heldout == HELDOUT_PROFILE
    for split in ("train", "valid", "test"):
        profile = PROFILES[split]
        assert not set(profile.voice_families) & set(heldout.voice_families)
        assert profile.soundfont != heldout.soundfont


def test_the_speakers_split_differs_from_training_only_in_its_voices():
    from svdnet.democorpus.song import PROFILES

    train, speakers = PROFILES["train"], PROFILES["speakers"]
    assert speakers.voice_families == ("speech_heldout",)
    assert "speech" in train.voice_families
    assert (speakers.soundfont, speakers.chain) == (train.soundfont, train.chain)
    for split in ("train", "valid", "test"):
        assert "speech_heldout" not in PROFILES[split].voice_families


def test_the_test_split_sings_the_training_voices_that_pip_can_install():
    from svdnet.democorpus.singers import SYNTHETIC_FAMILIES
    from svdnet.democorpus.song import PROFILES

    test, train = PROFILES["test"], PROFILES["train"]
    assert set(test.voice_families) <= set(SYNTHETIC_FAMILIES)
    assert set(test.voice_families) == set(train.voice_families) - {"speech"}
    assert (test.soundfont, test.chain) == (train.soundfont, train.chain)


def test_the_threshold_is_chosen_on_songs_sung_like_the_training_songs():
    from svdnet.democorpus.song import PROFILES

    assert PROFILES["valid"] == PROFILES["train"]


@pytest.mark.parametrize("levels_db", [None, (-20.0, -20.0)])
def test_voice_level_against_the_band_stays_in_the_drawn_range(levels_db):
    from svdnet.democorpus.song import VOICE_LEVEL_DB, Profile

    # The additive band and no chain keep this quick; levels are set the same way.
    profile = Profile(("rosenberg", "hnm"), None, False)
    if levels_db is not None:
        profile = replace(profile, voice_level_db=levels_db)
    low_db, high_db = profile.voice_level_db
    assert profile.voice_level_db == (levels_db or VOICE_LEVEL_DB)
    for seed in range(3):
        stems, segments = render_stems(np.random.default_rng(seed), 20.0, SR, profile)
        band = sum(v for k, v in stems.items() if k.startswith("band/"))
        inside = sing_mask(segments, len(band))
        level_db = 10 * np.log10(np.mean(stems["voice"][inside] ** 2) / np.mean(band**2))
        # Phrases vary by +-3 dB around the song's level, and rests dilute the mean.
        assert low_db - 6 < level_db < high_db + 3


def test_formant_filter_puts_spectral_peaks_at_the_vowel_formants():
    noise = np.random.default_rng(0).standard_normal(4 * SR)
    block = 110
    formants_hz = np.tile(
        democorpus.VOWEL_FORMANTS_HZ["a"] + (3500.0,), (len(noise) // block + 1, 1)
    )
    vowel = voice._formant_filter(noise, formants_hz, np.full(4, 80.0), block, SR)
    freqs_hz, power = signal.welch(vowel, SR, nperseg=4096)

    def power_at(hz):
        return power[np.argmin(np.abs(freqs_hz - hz))]

    # /a/: F1 730 Hz and F2 1090 Hz rise above the dip between them, F3 2440 above 1800 Hz.
    assert power_at(730) > 3 * power_at(910)
    assert power_at(1090) > 2 * power_at(910)
    assert power_at(2440) > 5 * power_at(1800)


def test_label_files_hold_the_synthesis_segments(corpus):
    for split, count in SMALL_N_SONGS.items():
        for index in range(count):
            _, segments = generate_song(
                song_seed(SEED, split, index), SHORT_S, SR, writer.split_profile(split)
            )
            written = read_labels(corpus / "labels" / f"{song_name(split, index)}.lab")
            assert written == [(round(a, 3), round(b, 3), sing) for a, b, sing in segments]


def test_ogg_decodes_to_the_song_at_22050_hz(corpus):
    samples, _ = generate_song(song_seed(SEED, "test", 1), SHORT_S)
    decoded, sr = sf.read(corpus / "audio" / "demo_test_001.ogg", dtype="float32")
    assert sr == 22050
    assert decoded.ndim == 1
    assert abs(len(decoded) - len(samples)) <= 1
    n = min(len(decoded), len(samples))
    assert np.corrcoef(decoded[:n], samples[:n])[0, 1] > 0.95


def test_file_lists_name_every_song_of_their_split(corpus):
    for split, count in SMALL_N_SONGS.items():
        names = (corpus / "filelists" / split).read_text().splitlines()
        assert names == [f"demo_{split}_{i:03d}.ogg" for i in range(count)]
        assert all((corpus / "audio" / name).is_file() for name in names)


def test_generating_only_the_test_split_gives_identical_files(corpus, tmp_path):
    base = write_corpus(
        tmp_path, SEED, ("test",), SMALL_N_SONGS, duration_s=SHORT_S, progress=False
    )
    assert not (base / "filelists" / "train").exists()
    for relative in [
        "filelists/test",
        "audio/demo_test_000.ogg",
        "audio/demo_test_001.ogg",
        "labels/demo_test_000.lab",
        "labels/demo_test_001.lab",
    ]:
        assert (base / relative).read_bytes() == (corpus / relative).read_bytes(), relative


def test_write_corpus_skips_songs_that_exist_and_fills_gaps(tmp_path):
    n_songs = {"test": 2}
    base = write_corpus(tmp_path, 0, ("test",), n_songs, duration_s=3.0, progress=False)
    kept_label = base / "labels" / "demo_test_000.lab"
    kept_label.write_text("0.000 3.000 nosing\n")
    regenerated_label = base / "labels" / "demo_test_001.lab"
    original = regenerated_label.read_text()
    (base / "audio" / "demo_test_001.ogg").unlink()
    regenerated_label.write_text("stale\n")

    write_corpus(tmp_path, 0, ("test",), n_songs, duration_s=3.0, progress=False)
    assert kept_label.read_text() == "0.000 3.000 nosing\n"
    assert (base / "audio" / "demo_test_001.ogg").is_file()
    assert regenerated_label.read_text() == original


def test_interrupted_run_leaves_no_half_files_and_no_file_list(tmp_path, monkeypatch):
    real_generate = democorpus.generate_song
    calls = []

    def generate_then_fail(*args, **kwargs):
        calls.append(args)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_generate(*args, **kwargs)

    monkeypatch.setattr(writer, "generate_song", generate_then_fail)
    with pytest.raises(KeyboardInterrupt):
        write_corpus(tmp_path, 0, ("test",), {"test": 3}, duration_s=3.0, progress=False)
    base = tmp_path / "datasets" / "demo"
    assert not (base / "filelists" / "test").exists()
    assert (base / "audio" / "demo_test_000.ogg").is_file()
    assert not (base / "audio" / "demo_test_001.ogg").exists()
    assert not list(base.rglob("*.tmp"))


def test_failed_write_leaves_neither_target_nor_temporary(tmp_path, monkeypatch):
    def failing_replace(source, target):
        raise OSError("disk full")

    monkeypatch.setattr(writer.os, "replace", failing_replace)
    target = tmp_path / "song.lab"
    with pytest.raises(OSError, match="disk full"):
        writer._write_atomic(target, b"0.000 1.000 sing\n")
    assert os.listdir(tmp_path) == []


def test_command_line_writes_the_requested_splits(tmp_path):
    main([str(tmp_path), "--splits", "test", "--n-test", "2", "--duration-s", "2.5"])
    base = tmp_path / "datasets" / "demo"
    assert (base / "filelists" / "test").read_text().split() == [
        "demo_test_000.ogg",
        "demo_test_001.ogg",
    ]
    assert read_labels(base / "labels" / "demo_test_001.lab")[-1][1] == 2.5
    assert not (base / "filelists" / "train").exists()


def test_voices_option_replaces_the_training_families_but_not_the_heldout_ones(
    tmp_path, monkeypatch
):
    families = {}

    def fake_song(rng, duration_s, sr, profile):
        families[len(families)] = profile.voice_families
        return np.zeros(round(duration_s * sr), np.float32), [(0.0, duration_s, False)]

    monkeypatch.setattr(writer, "generate_song", fake_song)
    monkeypatch.setattr(writer.speech, "check_tools", lambda families: None)  # no synthesis
    splits = ["train", "test", "heldout", "speakers", "sampled"]
    args = [str(tmp_path), "--splits", *splits, *(f"--n-{split}=1" for split in splits)]
    main([*args, "--duration-s", "1", "--voices", "fof", "hnm", "fof"])
    assert sorted(families.values()) == [
        ("fof", "hnm"),
        ("fof", "hnm"),
        ("lf",),
        ("sampled",),
        ("speech_heldout",),
    ]


@pytest.fixture
def silent_songs(monkeypatch):
    """Songs of silence: the settings tests need files, not synthesis."""

    def fake_song(rng, duration_s, sr, profile):
        return np.zeros(round(duration_s * sr), np.float32), [(0.0, duration_s, False)]

    monkeypatch.setattr(writer, "generate_song", fake_song)


@pytest.mark.parametrize(
    ("option", "changed"),
    [
        (["--seed", "1"], "seed 0 there, 1 now"),
        (["--duration-s", "2"], "duration_s 1.0 there, 2.0 now"),
        (["--voices", "fof"], "voice_families ['rosenberg', 'hnm'] there, ['fof'] now"),
        (["--vocalise", "0.5"], "vocalise 0.0 there, 0.5 now"),
        (["--voice-level", "-12", "6"], "voice_level_db [-9.0, 6.0] there, [-12.0, 6.0] now"),
    ],
)
def test_a_split_made_with_other_settings_is_refused_and_left_alone(
    tmp_path, silent_songs, capsys, option, changed
):
    first = [str(tmp_path), "--splits", "test", "--n-test", "1", "--duration-s", "1"]
    main(first)
    base = tmp_path / "datasets" / "demo"
    settings = base / "settings" / "test.json"
    assert json.loads(settings.read_text()) == {
        "seed": 0,
        "duration_s": 1.0,
        "voice_families": ["rosenberg", "hnm"],
        "soundfont": "timgm6mb",
        "chain": True,
        "vocalise": 0.0,
        "voice_level_db": [-9.0, 6.0],
    }
    capsys.readouterr()

    with pytest.raises(SystemExit) as stop:
        main([*first, "--n-test", "2", *option])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(settings) in err and changed in err
    assert not (base / "audio" / "demo_test_001.ogg").exists()
    assert (base / "filelists" / "test").read_text() == "demo_test_000.ogg\n"

    main([*first, "--n-test", "2"])  # the same settings add songs
    assert (base / "audio" / "demo_test_001.ogg").is_file()


def test_a_settings_file_from_before_the_vocalise_setting_holds_its_default(
    tmp_path, silent_songs, capsys
):
    first = [str(tmp_path), "--splits", "test", "--n-test", "1", "--duration-s", "1"]
    main(first)
    settings = tmp_path / "datasets" / "demo" / "settings" / "test.json"
    older = json.loads(settings.read_text())
    del older["vocalise"]
    settings.write_text(json.dumps(older))
    main([*first, "--n-test", "2"])  # taken as written with vocalise 0: songs are added
    assert (tmp_path / "datasets" / "demo" / "audio" / "demo_test_001.ogg").is_file()
    capsys.readouterr()
    settings.write_text(json.dumps(older))
    with pytest.raises(SystemExit) as stop:
        main([*first, "--n-test", "3", "--vocalise", "0.2"])
    assert stop.value.code == 2 and "vocalise 0.0 there, 0.2 now" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("option", "setting", "value"),
    [
        (["--vocalise", "0.75"], "vocalise", 0.75),
        (["--voice-level", "-15", "-3.5"], "voice_level_db", (-15.0, -3.5)),
    ],
)
def test_ablation_options_set_the_training_splits_but_not_the_heldout_ones(
    tmp_path, monkeypatch, option, setting, value
):
    made = []

    def fake_song(rng, duration_s, sr, profile):
        made.append((profile.voice_families, getattr(profile, setting)))
        return np.zeros(round(duration_s * sr), np.float32), [(0.0, duration_s, False)]

    monkeypatch.setattr(writer, "generate_song", fake_song)
    monkeypatch.setattr(writer.speech, "check_tools", lambda families: None)  # no synthesis
    splits = ["train", "valid", "test", "heldout", "speakers", "sampled"]
    args = [str(tmp_path), "--splits", *splits, *(f"--n-{split}=1" for split in splits)]
    main([*args, "--duration-s", "1", *option])
    changed = sorted(families for families, got in made if got == value)
    training = ("rosenberg", "hnm", "speech")
    assert changed == [("rosenberg", "hnm"), training, training]  # test, train, valid
    kept = {families for families, got in made if got == getattr(writer.PROFILES["test"], setting)}
    assert kept == {("lf",), ("sampled",), ("speech_heldout",)}


def test_the_heldout_split_ignores_voices_and_an_unreadable_settings_file_is_named(
    tmp_path, silent_songs, capsys
):
    args = [str(tmp_path), "--splits", "heldout", "--n-heldout", "1", "--duration-s", "1"]
    main(args)
    main([*args, "--voices", "fof"])  # heldout keeps its own voices: nothing changed
    settings = tmp_path / "datasets" / "demo" / "settings" / "heldout.json"
    capsys.readouterr()
    for content in (b"\xff{", b"[1, 2]"):
        settings.write_bytes(content)
        with pytest.raises(SystemExit) as stop:
            main(args)
        err = capsys.readouterr().err
        assert stop.value.code == 2 and f"{settings}: not a settings file" in err


@pytest.mark.parametrize(
    ("split", "voices", "soundfont"),
    [
        ("valid", ["rosenberg", "hnm", "speech"], "timgm6mb"),
        ("heldout", ["lf"], "fluidr3"),
        ("speakers", ["speech_heldout"], "timgm6mb"),
    ],
)
def test_the_committed_settings_are_the_defaults(split, voices, soundfont):
    demo = Path(__file__).parents[1] / "datasets" / "demo"
    expected = writer.split_settings(writer.split_profile(split), 0, writer.DEFAULT_DURATION_S)
    assert json.loads((demo / "settings" / f"{split}.json").read_text()) == expected
    assert expected["voice_families"] == voices and expected["soundfont"] == soundfont
    names = (demo / "filelists" / split).read_text().split()
    assert names == [f"demo_{split}_{i:03d}.ogg" for i in range(writer.DEFAULT_N_SONGS[split])]


@pytest.mark.parametrize("family", ["choir", "sampled"])  # sampled: the soundfont's voices
def test_voices_option_refuses_an_unknown_or_untrainable_family(tmp_path, capsys, family):
    with pytest.raises(SystemExit) as stop:
        main([str(tmp_path), "--voices", family])
    assert stop.value.code == 2 and "--voices" in capsys.readouterr().err
    assert not (tmp_path / "datasets").exists()


def test_no_split_but_sampled_sings_with_the_soundfont_voices():
    from svdnet.democorpus.singers import SAMPLED_FAMILIES, TRAINABLE_FAMILIES
    from svdnet.democorpus.song import PROFILES

    assert not set(SAMPLED_FAMILIES) & set(TRAINABLE_FAMILIES)
    for split, profile in PROFILES.items():
        assert (split == "sampled") == bool(set(profile.voice_families) & set(SAMPLED_FAMILIES))
    assert PROFILES["sampled"].soundfont == PROFILES["train"].soundfont


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"voice_families": ("choir",)}, "voices"),
        ({"voice_families": ()}, "voices"),
        ({"voice_level_db": (6.0, -9.0)}, "voice_level_db"),
        ({"voice_level_db": (float("nan"), 0.0)}, "voice_level_db"),
        ({"vocalise": 1.5}, "vocalise"),
        ({"soundfont": "fluidr3"}, "changes may set"),  # the held-out soundfont: never
    ],
)
def test_write_corpus_refuses_bad_changes_before_writing(tmp_path, changes, message):
    with pytest.raises(ValueError, match=message):
        write_corpus(tmp_path, splits=("test",), n_songs={"test": 1}, changes=changes)
    assert not (tmp_path / "datasets").exists()


def test_speech_voices_without_festival_stop_with_one_line_before_writing(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.setattr(democorpus.speech.shutil, "which", lambda name: None)
    with pytest.raises(SystemExit) as stop:
        main([str(tmp_path), "--splits", "test", "--n-test", "1", "--voices", "hnm", "speech"])
    err = capsys.readouterr().err
    assert stop.value.code == 2
    assert err.splitlines() == [err.strip()] and "the speech voices need festival" in err
    assert not (tmp_path / "datasets").exists()
