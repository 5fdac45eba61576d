"""The demo corpus on disk in the Jamendo layout, and its command line."""

from __future__ import annotations

import argparse
import dataclasses
import functools
import io
import json
import logging
import math
import os
import struct
import zlib
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np
import soundfile as sf
from tqdm import tqdm

from svdnet.cli import (
    finite_float,
    positive_float,
    positive_int,
    probability,
    random_seed,
    run_cli,
)
from svdnet.democorpus import speech
from svdnet.democorpus.dsp import SR
from svdnet.democorpus.singers import TRAINABLE_FAMILIES
from svdnet.democorpus.song import (
    DEFAULT_DURATION_S,
    HELD_OUT_SPLITS,
    PROFILES,
    TRAINING_PROFILE,
    Profile,
    generate_song,
)
from svdnet.errors import InputError
from svdnet.files import make_folder

logger = logging.getLogger("svdnet.democorpus")

DATASET = "demo"
# What each profile setting was before it was recorded in settings/<split>.json, as JSON
# reads it back (lists for tuples).
PROFILE_DEFAULTS = json.loads(
    json.dumps(
        {
            field.name: field.default
            for field in dataclasses.fields(Profile)
            if field.default is not dataclasses.MISSING
        }
    )
)
# The profile settings a corpus ablation may change in the train, valid and test splits
# (``write_corpus(changes=...)``); the held-out splits keep their own.
ABLATION_SETTINGS = ("voice_families", "vocalise", "voice_level_db")


# The detector trains on train, picks its threshold on valid and is tested on test; the
# held-out split's voices and instruments come from a family and a soundfont that no
# training song uses, the speakers split's voices from speakers that no training song has,
# the sampled split's from a soundfont's recorded voices (song.PROFILES).
SPLITS = ("train", "valid", "test", "heldout", "speakers", "sampled")
# heldout and speakers need Debian packages that pip cannot install: their songs are
# committed and made on request; sampled needs only pip and is made on first use.
DEFAULT_SPLITS = ("train", "valid", "test")


# Accuracy varies by song far more than by frame (a song's standard deviation is 10-14
# points), so the evaluation splits hold 40 songs, the held-out ones 28: their audio is
# committed, and 28 songs stay under 10 MB.
DEFAULT_N_SONGS = {
    "train": 400,
    "valid": 40,
    "test": 40,
    "heldout": 28,
    "speakers": 28,
    "sampled": 28,
}


def song_seed(seed: int, split: str, index: int) -> np.random.SeedSequence:
    """Seed of one song, independent of which other songs or splits are generated."""
    return np.random.SeedSequence(entropy=seed, spawn_key=(zlib.crc32(split.encode()), index))


def song_name(split: str, index: int) -> str:
    """Base name (no extension) of a demo song, e.g. ``demo_test_007``."""
    return f"{DATASET}_{split}_{index:03d}"


def format_labels(segments: list[tuple[float, float, bool]]) -> str:
    """Segments as .lab text: one ``start end sing|nosing`` line each, 3 decimals."""
    return "".join(f"{a:.3f} {b:.3f} {'sing' if sing else 'nosing'}\n" for a, b, sing in segments)


_BIT_REVERSED = bytes(int(f"{b:08b}"[::-1], 2) for b in range(256))


def _ogg_crc(page: bytes) -> int:
    """Ogg page checksum (CRC-32, polynomial 0x04C11DB7, MSB first, no init or xor).

    zlib's CRC-32 is the bit-reflected variant with init and final xor; reflecting the
    input bytes and the result, and cancelling the init by the CRC of as many zero bytes,
    gives the Ogg one at C speed.
    """
    reflected = zlib.crc32(page.translate(_BIT_REVERSED)) ^ zlib.crc32(bytes(len(page)))
    return int(f"{reflected:032b}"[::-1], 2)


def _set_ogg_serial(data: bytes, serial: int) -> bytes:
    """Replace the stream serial number on every Ogg page and fix the checksums.

    libsndfile picks a random serial, which would make equal songs give unequal files.
    """
    out, position = bytearray(data), 0
    while position < len(out):
        if out[position : position + 4] != b"OggS":
            raise ValueError(f"no Ogg page at byte {position}")
        n_segments = out[position + 26]
        table_end = position + 27 + n_segments
        page_end = table_end + sum(out[position + 27 : table_end])
        out[position + 14 : position + 18] = struct.pack("<I", serial)
        out[position + 22 : position + 26] = bytes(4)
        crc = _ogg_crc(bytes(out[position:page_end]))
        out[position + 22 : position + 26] = struct.pack("<I", crc)
        position = page_end
    return bytes(out)


def encode_ogg(samples: np.ndarray, sr: int, serial: int) -> bytes:
    """OGG Vorbis bytes of a mono signal, reproducible for a given stream serial."""
    buffer = io.BytesIO()
    sf.write(buffer, samples, sr, format="OGG", subtype="VORBIS")
    return _set_ogg_serial(buffer.getvalue(), serial)


def _write_atomic(path: Path, data: bytes) -> None:
    """Write via a temporary file in the same folder, so ``path`` is never half written."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        temporary.write_bytes(data)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def dataset_dir(root: str | os.PathLike) -> Path:
    """Folder of the demo dataset under a project root."""
    return Path(root) / "datasets" / DATASET


def split_profile(split: str, changes: dict | None = None) -> Profile:
    """The profile a split's songs are made with.

    ``changes`` (corpus ablations: :data:`ABLATION_SETTINGS` to new values) replace the
    profile's settings in all but the held-out splits, which keep their own.
    """
    profile = PROFILES[split]
    if split in HELD_OUT_SPLITS or not changes:
        return profile
    return dataclasses.replace(profile, **changes)


def check_changes(changes: dict) -> None:
    """Raise ``ValueError`` unless ``changes`` are valid corpus-ablation settings."""
    unknown = set(changes) - set(ABLATION_SETTINGS)
    if unknown:
        raise ValueError(f"changes may set {ABLATION_SETTINGS}, not {sorted(unknown)}")
    voices = changes.get("voice_families", TRAINABLE_FAMILIES)
    if not voices or not set(voices) <= set(TRAINABLE_FAMILIES):
        raise ValueError(f"voices must be a non-empty subset of {TRAINABLE_FAMILIES}, got {voices}")
    if not 0 <= changes.get("vocalise", 0) <= 1:
        raise ValueError(f"vocalise must lie in [0, 1], got {changes['vocalise']}")
    low, high = changes.get("voice_level_db", (0, 0))
    if not -math.inf < low <= high < math.inf:
        raise ValueError(f"voice_level_db must be finite, low to high, got {(low, high)}")


def split_settings(profile: Profile, seed: int, duration_s: float) -> dict:
    """What decides a split's songs besides their index, as ``settings/<split>.json`` holds it."""
    fields = dataclasses.asdict(profile)
    # Through JSON and back, so that it compares equal to a file read back (lists, floats).
    return json.loads(json.dumps({"seed": seed, "duration_s": duration_s, **fields}))


def check_settings(base: Path, split: str, settings: dict) -> None:
    """Refuse to add songs to a split that was written with other settings.

    Songs already on disk are kept, so a run with another seed, length or voices would
    otherwise mix two corpora under one name. A split without a settings file (written
    before they were kept) is taken as written with these settings.
    """
    path = base / "settings" / f"{split}.json"
    if not path.is_file():
        return
    try:
        recorded = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputError(f"{path}: not a settings file ({err}); delete it to continue") from err
    if not isinstance(recorded, dict):
        raise InputError(f"{path}: not a settings file (no JSON object); delete it to continue")
    # A setting added to the profiles later was, in a file that lacks it, its default.
    recorded = PROFILE_DEFAULTS | recorded
    changed = [
        f"{key} {recorded.get(key)!r} there, {value!r} now"
        for key, value in settings.items()
        if recorded.get(key) != value
    ]
    if changed:
        raise InputError(
            f"{path}: the {split} songs under {base} were made with other settings "
            f"({'; '.join(changed)}); give another ROOT, or delete that split's files"
        )


def write_corpus(
    root: str | os.PathLike,
    seed: int = 0,
    splits: tuple[str, ...] = DEFAULT_SPLITS,
    n_songs: dict[str, int] | None = None,
    duration_s: float = DEFAULT_DURATION_S,
    progress: bool = True,
    jobs: int = 1,
    changes: dict | None = None,
) -> Path:
    """Generate the demo corpus (audio, labels, file lists) under ``root/datasets/demo``.

    Songs whose .ogg and .lab both exist are skipped; a split whose
    ``settings/<split>.json`` records another seed, length or profile is refused
    (:class:`InputError`) before anything is written. Each file is written atomically and
    the file lists and settings come last, so an interrupted run leaves no
    complete-looking split.

    Parameters
    ----------
    root : path-like
        Project root.
    seed : int
        Corpus seed; song ``i`` of a split depends only on (seed, split, i).
    splits : tuple of str
        Splits to generate.
    n_songs : dict of str to int, optional
        Songs per split; defaults to ``DEFAULT_N_SONGS`` (400 / 40 / 40 / 28 / 28 / 28).
    duration_s : float
        Length of each song in seconds.
    progress : bool
        Show a tqdm progress bar over the songs.
    jobs : int
        Songs generated at once, each in its own process (1: in this process).
    changes : dict, optional
        Profile settings of the train, valid and test songs in place of their profiles'
        (corpus ablations): ``voice_families``, ``vocalise`` and ``voice_level_db``
        (:class:`song.Profile`); the heldout, speakers and sampled splits keep their own.

    Returns
    -------
    pathlib.Path
        The dataset folder ``root/datasets/demo``.
    """
    n_songs = DEFAULT_N_SONGS if n_songs is None else n_songs
    missing = [split for split in splits if split not in n_songs]
    if missing:
        raise ValueError(f"no song count for split(s) {missing}; n_songs has {list(n_songs)}")
    check_changes(changes or {})
    profiles = {split: split_profile(split, changes) for split in splits}
    families = {f for profile in profiles.values() for f in profile.voice_families}
    speech.check_tools(tuple(sorted(families)))
    base = dataset_dir(root)
    settings = {split: split_settings(profiles[split], seed, duration_s) for split in splits}
    for split in splits:
        check_settings(base, split, settings[split])
    kinds = ("audio", "labels", "filelists", "settings")
    folders = {kind: make_folder(base / kind) for kind in kinds}

    todo = [
        (split, index)
        for split in splits
        for index in range(n_songs[split])
        if not (
            (folders["audio"] / f"{song_name(split, index)}.ogg").exists()
            and (folders["labels"] / f"{song_name(split, index)}.lab").exists()
        )
    ]
    write = functools.partial(_write_song, base, seed, duration_s, profiles)
    bar = tqdm(total=len(todo), desc="demo corpus", unit="song", disable=not progress)
    with bar:
        if jobs == 1 or len(todo) < 2:
            for split, index in todo:
                write(split, index)
                bar.update()
        else:
            with ProcessPoolExecutor(min(jobs, len(todo))) as pool:
                for _ in as_completed([pool.submit(write, *song) for song in todo]):
                    bar.update()

    for split in splits:
        names = "".join(f"{song_name(split, i)}.ogg\n" for i in range(n_songs[split]))
        _write_atomic(folders["filelists"] / split, names.encode())
        text = json.dumps(settings[split], indent=2) + "\n"
        _write_atomic(folders["settings"] / f"{split}.json", text.encode())
    return base


def _write_song(
    base: Path,
    seed: int,
    duration_s: float,
    profiles: dict[str, Profile],
    split: str,
    index: int,
) -> None:
    """Synthesise song ``index`` of ``split`` and write its audio and labels atomically."""
    name = song_name(split, index)
    rng = song_seed(seed, split, index)
    samples, segments = generate_song(rng, duration_s, SR, profiles[split])
    serial = zlib.crc32(f"{seed}/{name}".encode())
    _write_atomic(base / "audio" / f"{name}.ogg", encode_ogg(samples, SR, serial))
    _write_atomic(base / "labels" / f"{name}.lab", format_labels(segments).encode())


def note_short_splits(root: str | os.PathLike, splits: tuple[str, ...]) -> None:
    """Log a note for each split whose file list names fewer songs than ``DEFAULT_N_SONGS``.

    Such a split was written before the splits grew; it is used as it is, and the note
    gives the command that adds the other songs. Splits without a file list are skipped.
    """
    base = dataset_dir(root)
    for split in splits:
        filelist = base / "filelists" / split
        if not filelist.is_file():
            continue
        # An empty or unreadable list is left to the reader, which says what is wrong.
        listed = len(filelist.read_text(errors="replace").split())
        if 0 < listed < DEFAULT_N_SONGS.get(split, 0):
            logger.warning(
                "note: %s lists %d songs, the demo corpus now has %d: "
                "`python -m svdnet.democorpus %s --splits %s --jobs 2` adds the others",
                filelist,
                listed,
                DEFAULT_N_SONGS[split],
                root,
                split,
            )


def main(argv: list[str] | None = None) -> None:
    """Command line entry point: ``python -m svdnet.democorpus ROOT [options]``."""
    parser = argparse.ArgumentParser(
        prog="python -m svdnet.democorpus",
        description="Write a synthetic singing-voice corpus to ROOT/datasets/demo "
        "(Jamendo layout: audio/*.ogg, labels/*.lab, filelists/<split>).",
    )
    parser.add_argument("root", help="project root that receives datasets/demo")
    parser.add_argument(
        "--seed", type=random_seed, default=0, help="corpus seed (default: %(default)s)"
    )
    parser.add_argument(
        "--splits",
        nargs="+",
        choices=SPLITS,
        default=list(DEFAULT_SPLITS),
        help="splits to generate (default: %(default)s; train and speakers need Debian's "
        "festival and its voices, heldout the Debian package fluid-soundfont-gm)",
    )
    for split in SPLITS:
        parser.add_argument(
            f"--n-{split}",
            type=positive_int,
            default=DEFAULT_N_SONGS[split],
            help=f"songs in the {split} split (default: %(default)s)",
        )
    parser.add_argument(
        "--duration-s",
        type=_duration_s,
        default=DEFAULT_DURATION_S,
        help="length of each song in seconds (default: %(default)s)",
    )
    parser.add_argument(
        "--jobs",
        type=positive_int,
        default=1,
        help="songs generated at once, one process each (default: %(default)s)",
    )
    ablation = parser.add_argument_group(
        "corpus ablations",
        "settings of the train, valid and test songs (the heldout, speakers and sampled "
        "splits keep their own); a split already written with others is refused: write "
        "to a root of its own",
    )
    ablation.add_argument(
        "--voices",
        nargs="+",
        choices=TRAINABLE_FAMILIES,
        help=f"voice families (default: {' '.join(TRAINING_PROFILE.voice_families)} for "
        f"train and valid, {' '.join(PROFILES['test'].voice_families)} for test)",
    )
    ablation.add_argument(
        "--vocalise",
        type=probability,
        help="chance that a synthetic singer sings on vowels alone "
        f"(default: {TRAINING_PROFILE.vocalise})",
    )
    ablation.add_argument(
        "--voice-level",
        nargs=2,
        type=finite_float,
        metavar=("LOW_DB", "HIGH_DB"),
        help="range of the voice's level against the band, drawn per song "
        f"(default: {TRAINING_PROFILE.voice_level_db[0]:g} {TRAINING_PROFILE.voice_level_db[1]:g})",
    )
    args = parser.parse_args(argv)
    if args.voice_level is not None and args.voice_level[0] > args.voice_level[1]:
        parser.error(f"argument --voice-level: LOW_DB above HIGH_DB: {args.voice_level}")
    n_songs = {split: getattr(args, f"n_{split}") for split in SPLITS}
    splits = tuple(args.splits)
    base = run_cli(
        write_corpus,
        args.root,
        args.seed,
        splits,
        n_songs,
        args.duration_s,
        True,
        args.jobs,
        _changes(args),
    )
    logger.info("demo corpus ready in %s", base)


def _changes(args: argparse.Namespace) -> dict:
    """The profile settings that the corpus-ablation options change."""
    changes = {}
    if args.voices is not None:
        changes["voice_families"] = tuple(dict.fromkeys(args.voices))
    if args.vocalise is not None:
        changes["vocalise"] = args.vocalise
    if args.voice_level is not None:
        changes["voice_level_db"] = tuple(args.voice_level)
    return changes


def _duration_s(text: str) -> float:
    """argparse ``type`` of ``--duration-s``: the 1 ms that :func:`generate_song` needs."""
    value = positive_float(text)
    if round(value * 1000) < 1:
        raise argparse.ArgumentTypeError(f"must be at least 0.001 (1 ms), got {text!r}")
    return value
