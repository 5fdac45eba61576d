"""The "speech" voice family: recorded speakers made to sing.

Festival (Debian's ``festival`` with its ``festvox-*`` voices, built from recordings of real
speakers: diphones, unit selection or HTS models) speaks a line of lyrics in the speaker's
language and tells where each phone lies. Praat (``praat-parselmouth``) then sings it by
pitch-synchronous overlap-add: each vowel is stretched to fill its notes, consonants are
kept short, and the pitch follows the phrase's expressive contour. The source, the formants
and the consonants are those of a human voice, which no other family of the demo corpus has.

Every choice comes from the generator passed in, and both programs are deterministic, so a
song is a function of its seed (and of the installed festival voices).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import soundfile

from svdnet.democorpus.arrangement import Note
from svdnet.democorpus.dsp import _midi_to_hz, _samples
from svdnet.democorpus.melody import _note_bounds, expressive_contour
from svdnet.errors import InputError

if TYPE_CHECKING:  # singers draws the speakers from here
    from svdnet.democorpus.singers import Voice

# Festival voice: (language, register, Debian package). The held-out speakers speak
# languages that no training speaker speaks.
SPEAKERS = {
    "kal_diphone": ("en", "male", "festvox-kallpc16k"),
    "ked_diphone": ("en", "male", "festvox-kdlpc16k"),
    "cmu_us_slt_arctic_hts": ("en", "female", "festvox-us-slt-hts"),
    "pc_diphone": ("it", "male", "festvox-itapc16k"),
    "lp_diphone": ("it", "female", "festvox-italp16k"),
    "czech_machac": ("cs", "male", "festvox-czech-machac"),
    "czech_ph": ("cs", "male", "festvox-czech-ph"),
    "czech_dita": ("cs", "female", "festvox-czech-dita"),
    "czech_krb": ("cs", "child", "festvox-czech-krb"),
    "hy_fi_mv_diphone": ("fi", "male", "festvox-suopuhe-mv"),
    "suo_fi_lj_diphone": ("fi", "female", "festvox-suopuhe-lj"),
    "upc_ca_ona_hts": ("ca", "female", "festvox-ca-ona-hts"),
    "msu_ru_nsh_clunits": ("ru", "male", "festvox-ru"),
}
HELDOUT_SPEAKERS = (
    "hy_fi_mv_diphone",
    "suo_fi_lj_diphone",
    "upc_ca_ona_hts",
    "msu_ru_nsh_clunits",
)
SPEAKER_SETS = {
    "speech": tuple(name for name in SPEAKERS if name not in HELDOUT_SPEAKERS),
    "speech_heldout": HELDOUT_SPEAKERS,
}
VOICES_DIR = Path("/usr/share/festival/voices")
SILENCES = ("pau", "#")  # festival's names of a pause

# Lyrics: English from short words (festival's lexicon knows them), the other languages
# from consonant-vowel syllables in their own spelling, which festival reads phonemically.
ENGLISH_WORDS = (
    "love you me my heart night day light fire rain sky sun moon go home down see know "
    "feel way time life free fly high cry why soul dream road gone blue true one run "
    "baby hold on stay near far away long slow burn shine dance sing call fall"
).split()
SYLLABLES = {
    "it": ("bcdfglmnprstv", "aeiou"),
    "cs": ("bdklmnprstvz", "aeiouy"),
    "fi": ("hjklmnprstv", "aeiouy"),
    "ca": ("bdklmnprst", "aeiou"),
    "ru": ("бвгдзклмнпрст", "аеиоуыя"),
}
WORD_SYLLABLES = (1, 3)  # syllables per word, for the syllable languages

CONSONANT_SHARE = 0.35  # consonants take at most this share of a sung slot
FORMANT_RATIO = {"male": (0.94, 1.08), "female": (0.95, 1.1), "child": (1.05, 1.2)}
# Pitch range of the spoken voices, for Praat's analysis: a floor well above creak keeps
# creaky stretches from being taken at half their pitch (then sung an octave low).
ANALYSIS_PITCH_HZ = {"male": (90.0, 500.0), "female": (100.0, 600.0)}
MAX_TAKES = 3  # voices of an ensemble rendered as separate takes (the rest would only add time)
FESTIVAL_TIMEOUT_S = 120


@dataclass(frozen=True)
class Phone:
    """One phone of the spoken line, in seconds of the recording."""

    name: str
    start_s: float
    end_s: float
    vowel: bool


def debian_packages() -> list[str]:
    """The Debian packages of every speaker: festival and its voices."""
    return ["festival", *sorted({package for _, _, package in SPEAKERS.values()})]


def missing_tools(families: tuple[str, ...] = tuple(SPEAKER_SETS)) -> list[str]:
    """What the speech ``families`` need and this machine lacks (empty when they can sing).

    Returns
    -------
    list of str
        Debian or pip package names to install.
    """
    names = [name for family in families for name in SPEAKER_SETS.get(family, ())]
    if not names:
        return []
    missing = [] if shutil.which("festival") else ["festival"]
    missing += [SPEAKERS[name][2] for name in names if not _has_voice(name)]
    try:
        import parselmouth  # noqa: F401
    except ImportError:
        missing.append("praat-parselmouth (pip)")
    return missing


def check_tools(families: tuple[str, ...]) -> None:
    """Raise an :class:`InputError` naming every package that the speech ``families``
    among ``families`` need and this machine lacks."""
    missing = missing_tools(families)
    if missing:
        raise InputError(
            "the speech voices need " + " ".join(missing) + " (apt-get install festival and "
            "the festvox voices; pip install praat-parselmouth)"
        )


def _has_voice(name: str) -> bool:
    """Whether festival's voice ``name`` is installed (voices lie under a language)."""
    return any(path.is_dir() for path in VOICES_DIR.glob(f"*/{name}"))


def draw_speaker(rng: np.random.Generator, family: str, register: str) -> tuple[str, float]:
    """A festival voice of ``family``'s speakers for a singer of ``register``, and the
    factor its formants are moved by (a child sings with a child's or a woman's voice,
    its formants raised).

    Returns
    -------
    speaker : str
        A key of :data:`SPEAKERS`.
    ratio : float
    """
    wanted = ("child", "female") if register == "child" else (register,)
    names = [name for name in SPEAKER_SETS[family] if SPEAKERS[name][1] in wanted]
    speaker = names[int(rng.integers(len(names)))]
    return speaker, float(rng.uniform(*FORMANT_RATIO[register]))


def draw_lyrics(rng: np.random.Generator, language: str, n_syllables: int) -> str:
    """A line of ``n_syllables`` syllables (English: words) in ``language``."""
    if language == "en":
        return " ".join(str(w) for w in rng.choice(ENGLISH_WORDS, size=n_syllables))
    consonants, vowels = SYLLABLES[language]
    syllables = [
        (consonants[int(rng.integers(len(consonants)))] if rng.random() < 0.85 else "")
        + vowels[int(rng.integers(len(vowels)))]
        for _ in range(n_syllables)
    ]
    words, i = [], 0
    while i < len(syllables):
        size = int(rng.integers(WORD_SYLLABLES[0], WORD_SYLLABLES[1] + 1))
        words.append("".join(syllables[i : i + size]))
        i += size
    return " ".join(words)


def speak(speaker: str, text: str) -> tuple[np.ndarray, int, list[Phone]]:
    """Festival's rendering of ``text`` by ``speaker``: samples, rate and phones.

    Silences at either end are cut off; phone times are relative to the cut.
    """
    with tempfile.TemporaryDirectory() as folder:
        wav, script = Path(folder) / "line.wav", Path(folder) / "line.scm"
        quoted = text.replace("\\", "").replace('"', "")
        script.write_text(
            f"(voice_{speaker})\n"
            f'(set! utt (SynthText "{quoted}"))\n'
            f'(utt.save.wave utt "{wav}" (quote riff))\n'
            '(mapcar (lambda (s) (format t "%s %f %s\\n" (item.name s) (item.feat s "end")'
            ' (item.feat s "ph_vc"))) (utt.relation.items utt (quote Segment)))\n',
            encoding="utf-8",
        )
        done = subprocess.run(
            ["festival", "-b", str(script)],
            capture_output=True,
            text=True,
            timeout=FESTIVAL_TIMEOUT_S,
        )
        if done.returncode or not wav.exists():
            raise RuntimeError(f"festival failed for voice {speaker}: {done.stderr.strip()[-300:]}")
        samples, rate = soundfile.read(wav, dtype="float64")
    phones = _parse_phones(done.stdout)
    start_s, end_s = phones[0].start_s, phones[-1].end_s
    cut = samples[int(start_s * rate) : int(np.ceil(end_s * rate))]
    shifted = [Phone(p.name, p.start_s - start_s, p.end_s - start_s, p.vowel) for p in phones]
    return cut, rate, shifted


def _parse_phones(listing: str) -> list[Phone]:
    """Festival's ``name end vowel-flag`` lines as phones, without leading and trailing
    silences (named ``pau`` or ``#``)."""
    phones, start_s = [], 0.0
    for line in listing.splitlines():
        parts = line.split()
        if len(parts) != 3:
            continue
        name, end_s = parts[0], float(parts[1])
        phones.append(Phone(name, start_s, end_s, parts[2] == "+"))
        start_s = end_s
    spoken = [i for i, phone in enumerate(phones) if phone.name not in SILENCES]
    if not any(phone.vowel for phone in phones):
        raise RuntimeError(f"festival spoke no vowel: {listing[-200:]!r}")
    return phones[spoken[0] : spoken[-1] + 1]


def _slots(notes: list[Note], sr: int) -> list[tuple[int, int]]:
    """Sample spans of the sung syllables: a new one at every note not sung legato."""
    bounds = _note_bounds(notes, sr)
    starts = [0] + [bounds[i] for i, note in enumerate(notes) if i and not note.legato]
    return list(zip(starts, [*starts[1:], bounds[-1]], strict=True))


def _units(phones: list[Phone]) -> list[tuple[list[Phone], list[Phone]]]:
    """The spoken syllables: the consonants before each vowel, and the vowel (trailing
    consonants join the last one's vowel part, so they are sung at its end)."""
    units, consonants = [], []
    for phone in phones:
        if phone.vowel:
            units.append((consonants, [phone]))
            consonants = []
        else:
            consonants.append(phone)
    units[-1][1].extend(consonants)
    return units


def duration_factors(phones: list[Phone], notes: list[Note], sr: int) -> list[tuple[Phone, float]]:
    """How much to stretch each phone so that the syllables fill the notes.

    Spoken syllables and sung ones are paired in order, in as many groups as the fewer
    of them: a group of several spoken syllables shares its notes, a group of several
    notes is held on its syllable's vowel. Consonants keep their length (or shrink to
    :data:`CONSONANT_SHARE` of the group); vowels take the rest.

    Returns
    -------
    list of (Phone, float)
        Every phone in order with its factor (output over spoken duration).
    """
    units, slots = _units(phones), _slots(notes, sr)
    n_groups = min(len(units), len(slots))
    factors = []
    for g in range(n_groups):
        group = units[g * len(units) // n_groups : (g + 1) * len(units) // n_groups]
        spans = slots[g * len(slots) // n_groups : (g + 1) * len(slots) // n_groups]
        target_s = (spans[-1][1] - spans[0][0]) / sr
        onsets = [p for cons, _ in group for p in cons]
        nuclei = [p for _, vowel in group for p in vowel]
        # Trailing consonants (in the last nucleus list) count as consonants too.
        fixed = [p for p in onsets + nuclei if not p.vowel]
        fixed_s = sum(p.end_s - p.start_s for p in fixed)
        vowel_s = sum(p.end_s - p.start_s for p in nuclei if p.vowel)
        consonant_factor = min(1.0, CONSONANT_SHARE * target_s / fixed_s) if fixed_s else 1.0
        vowel_factor = (target_s - consonant_factor * fixed_s) / max(vowel_s, 1e-6)
        for cons, vowel in group:
            factors += [(p, consonant_factor) for p in cons]
            factors += [(p, vowel_factor if p.vowel else consonant_factor) for p in vowel]
    return factors


def _time_map(factors: list[tuple[Phone, float]], step_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Spoken times on a grid of ``step_s`` and the sung times they become."""
    end_s = factors[-1][0].end_s
    spoken_s = np.arange(0.0, end_s + step_s, step_s)
    edges = np.array([p.start_s for p, _ in factors] + [end_s])
    rates = np.array([f for _, f in factors])
    sung_edges = np.concatenate(([0.0], np.cumsum(np.diff(edges) * rates)))
    return spoken_s, np.interp(spoken_s, edges, sung_edges)


def _sing_take(
    samples: np.ndarray,
    rate: float,
    factors: list[tuple[Phone, float]],
    contour_hz: np.ndarray,
    pitch_range_hz: tuple[float, float],
    seed: int,
    sr: int,
) -> np.ndarray:
    """One PSOLA resynthesis of the spoken ``samples`` on the sung timing and pitch.

    ``seed`` seeds Praat's own random numbers, which jitter the pulses it makes up for
    stretched unvoiced stretches: without it no two runs would give the same samples.
    """
    import parselmouth
    from parselmouth.praat import call, run

    run(f"random_initializeWithSeedUnsafelyButPredictably ({seed})")
    spoken_s, sung_s = _time_map(factors, 0.005)
    # Praat's overlap-add makes at most three times as many samples as it is given: pad
    # with silence that keeps its length, and cut it off afterwards.
    padded = np.concatenate((samples, np.zeros(int(np.ceil(sung_s[-1] * rate)))))
    sound = parselmouth.Sound(padded, sampling_frequency=rate)
    manipulation = call(sound, "To Manipulation", 0.01, *pitch_range_hz)
    durations = call("Create DurationTier", "durations", 0.0, sound.xmax)
    edge_s = 1e-4
    for phone, factor in factors:
        for t_s in (phone.start_s + edge_s, phone.end_s - edge_s):
            call(durations, "Add point", max(t_s, 0.0), factor)
    call(durations, "Add point", factors[-1][0].end_s + edge_s, 1.0)
    pitches = call("Create PitchTier", "pitch", 0.0, sound.xmax)
    index = np.clip((sung_s * sr).astype(int), 0, len(contour_hz) - 1)
    for t_s, f0_hz in zip(spoken_s, contour_hz[index], strict=True):
        call(pitches, "Add point", t_s, float(f0_hz))
    call([manipulation, durations], "Replace duration tier")
    call([manipulation, pitches], "Replace pitch tier")
    sung = call(manipulation, "Get resynthesis (overlap-add)")
    if sung.sampling_frequency != sr:
        sung = call(sung, "Resample", sr, 50)
    return np.asarray(sung.values[0], dtype=np.float64)


def sing_phrase(
    rng: np.random.Generator, notes: list[Note], voice: Voice, sr: int
) -> tuple[np.ndarray, np.ndarray]:
    """Sing one phrase with a recorded speaker (see the module's docstring).

    Arguments and results are those of :func:`svdnet.democorpus.vocals.render_vocal_phrase`;
    here ``voice.speaker`` speaks the lyrics, its expression shapes the pitch, doubled and
    ensemble voices become up to :data:`MAX_TAKES` takes, and the voiced mask marks the
    sung vowels.
    """
    if voice.speaker is None:
        raise ValueError(f"a voice of family {voice.family} needs a speaker (see draw_voice)")
    language = SPEAKERS[voice.speaker][0]
    n = _samples(notes[-1].end_ms - notes[0].onset_ms, sr)
    lyrics = draw_lyrics(rng, language, len(_slots(notes, sr)))
    samples, rate, phones = speak(voice.speaker, lyrics)
    pitch_range_hz = ANALYSIS_PITCH_HZ["male" if SPEAKERS[voice.speaker][1] == "male" else "female"]
    # Formants move by the ratio when the recording is read at a rate that much higher
    # (its pitch and pace too, but the sung pitch and timing are set afresh below).
    # Praat's own "Change gender" does the same with random numbers of its own.
    ratio = voice.speaker_formant_ratio
    rate *= ratio
    phones = [Phone(p.name, p.start_s / ratio, p.end_s / ratio, p.vowel) for p in phones]
    factors = duration_factors(phones, notes, sr)
    out = np.zeros(n)
    for take in range(min(voice.n_voices, MAX_TAKES)):
        midi = expressive_contour(rng, notes, voice.expression, sr)
        if take:
            midi = midi + rng.normal(0.0, voice.detune_cents) / 100
        seed = int(rng.integers(2**31))
        sung = _sing_take(samples, rate, factors, _midi_to_hz(midi), pitch_range_hz, seed, sr)
        sung = sung[:n]
        delay = int(np.clip(rng.normal(0.0, voice.spread_ms), 0, 60) * sr / 1000) if take else 0
        gain = 1.0 if not take else rng.uniform(0.6, 0.9)
        out[delay : delay + len(sung)] += gain * sung[: n - delay]
    return out, _vowel_mask(factors, n, sr)


def _vowel_mask(factors: list[tuple[Phone, float]], n: int, sr: int) -> np.ndarray:
    """Samples of the sung phrase inside vowels."""
    spoken_s, sung_s = _time_map(factors, 0.001)
    mask = np.zeros(n, bool)
    for phone, _ in factors:
        if phone.vowel:
            a, b = np.interp([phone.start_s, phone.end_s], spoken_s, sung_s)
            mask[int(a * sr) : int(b * sr)] = True
    return mask
