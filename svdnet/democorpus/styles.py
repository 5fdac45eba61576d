"""The demo band's repertoire as data: GM program families, styles, drum grooves.

A style names the drum grooves it may use, its chance of swing, and per role of the band
the chance that the role plays, the programs it may play on and the patterns it may play
(``patterns``). ``band`` draws from these tables; nothing here is random.
"""

from __future__ import annotations

from svdnet.democorpus.soundfont import FORBIDDEN_PROGRAMS


def _family(low: int, high: int) -> tuple[int, ...]:
    return tuple(p for p in range(low, high + 1) if p not in FORBIDDEN_PROGRAMS)


PIANOS, CHROMATIC, ORGANS, GUITARS = _family(0, 7), _family(8, 15), _family(16, 23), _family(24, 31)
BASSES, STRINGS, BRASS, REEDS = _family(32, 39), _family(40, 51), _family(56, 63), _family(64, 71)
PIPES, SYNTH_LEADS, PADS, ETHNIC = (
    _family(72, 79),
    _family(80, 87),
    _family(88, 95),
    _family(104, 111),
)


BAND_PROGRAMS = (
    PIANOS + CHROMATIC + ORGANS + GUITARS + BASSES + STRINGS + BRASS + REEDS + PIPES
    + SYNTH_LEADS + PADS + ETHNIC
)  # fmt: skip


LEAD_PROGRAMS = (
    21, 22, 24, 25, 26, 27, 28, 29, 30, 40, 41, 42, 56, 57, 59, 60, 64, 65, 66, 67, 68, 69,
    71, 72, 73, 74, 75, 77, 78, 79, 80, 81, 82, 83, 84, 86, 87, 104, 110, 111,
)  # fmt: skip


# Highest MIDI note that sounds in both soundfonts, where it is below the voice's A5.
LEAD_TOP_MIDI = {28: 84, 67: 73, 78: 79}


# Roles of the band. One stereo render costs about as much as the rest of a song, so the
# band is rendered once, its roles split between the left and the right channel: two stems.
ROLES = ("drums", "bass", "keys", "guitar", "strings", "arp")


# Per style: drum grooves (empty: no drums), P(swing), and per role
# (probability, program pool, pattern pool). "solo" styles play the bass line on the
# same instrument as the chords (a pianist's left hand, a guitarist's thumb).
STYLES = {
    "solo_piano": ((), 0.2, {
        "bass": (1.0, PIANOS[:6], ("roots", "root_fifth", "held", "eighths")),
        "keys": (1.0, PIANOS[:6], ("arpeggio", "beats", "halves", "held")),
    }),
    "solo_guitar": ((), 0.2, {
        "bass": (1.0, (24, 25, 26, 27), ("roots", "root_fifth")),
        "guitar": (1.0, (24, 25, 26, 27), ("strum", "arpeggio")),
    }),
    "ballad": (("ballad", "halftime"), 0.2, {
        "drums": (0.5, (), ()),
        "bass": (0.7, (32, 33, 35), ("held", "roots")),
        "keys": (1.0, PIANOS[:6], ("arpeggio", "halves", "held")),
        "strings": (0.7, STRINGS + PADS, ("held",)),
    }),
    "rock": (("rock", "halftime", "eighths"), 0.1, {
        "drums": (1.0, (), ()),
        "bass": (1.0, (33, 34, 35), ("eighths", "roots", "root_fifth")),
        "guitar": (1.0, (25, 26, 27, 29, 30), ("power", "strum")),
        "keys": (0.5, (0, 1, 16, 17, 18, 19), ("held", "beats")),
    }),
    "pop": (("pop16", "four_floor", "rock"), 0.2, {
        "drums": (1.0, (), ()),
        "bass": (1.0, (33, 34, 36, 38, 39), ("syncopated", "eighths", "roots")),
        "keys": (0.8, PIANOS + CHROMATIC, ("beats", "offbeats", "arpeggio")),
        "strings": (0.6, PADS + STRINGS, ("held",)),
        "arp": (0.5, CHROMATIC + SYNTH_LEADS + (46,), ("arpeggio",)),
        "guitar": (0.5, (24, 25, 27, 28), ("strum", "offbeats")),
    }),
    "jazz": (("jazz",), 1.0, {
        "drums": (0.9, (), ()),
        "bass": (1.0, (32, 33, 35), ("walking",)),
        "keys": (0.8, (0, 1, 4, 11), ("comp",)),
        "guitar": (0.5, (26, 24), ("comp",)),
        "strings": (0.4, REEDS + BRASS, ("held", "stabs")),
    }),
    "organ_trio": (("shuffle", "jazz", "rock"), 0.6, {
        "drums": (1.0, (), ()),
        "bass": (1.0, (32, 33), ("walking", "roots")),
        "keys": (1.0, ORGANS[:4], ("held", "comp", "beats")),
    }),
    "folk": (("shuffle", "percussion", "ballad"), 0.3, {
        "drums": (0.4, (), ()),
        "bass": (0.6, (32, 33), ("root_fifth", "roots")),
        "guitar": (1.0, (24, 25), ("strum", "arpeggio")),
        "strings": (0.5, (21, 22, 23, 40, 42, 48, 110), ("held",)),
        "arp": (0.3, (46, 105, 106, 107), ("arpeggio",)),
    }),
    "orchestral": (("ballad",), 0.0, {
        "drums": (0.2, (), ()),
        "bass": (1.0, (42, 43, 45, 58), ("held", "roots")),
        "strings": (1.0, (40, 42, 44, 45, 48, 49, 50, 51), ("held", "arpeggio", "beats")),
        "keys": (0.6, BRASS + REEDS + PIPES, ("held", "stabs")),
        "arp": (0.5, (8, 9, 10, 11, 12, 13, 14, 46), ("arpeggio",)),
    }),
    "electronic": (("four_floor", "pop16"), 0.1, {
        "drums": (1.0, (), ()),
        "bass": (1.0, (38, 39, 81, 87), ("syncopated", "eighths", "pulse")),
        "strings": (0.9, PADS, ("held",)),
        "arp": (0.8, SYNTH_LEADS + CHROMATIC, ("arpeggio",)),
        "keys": (0.4, (4, 5, 16, 90), ("offbeats", "stabs")),
    }),
    "reggae": (("one_drop",), 0.5, {
        "drums": (1.0, (), ()),
        "bass": (1.0, (32, 33, 34), ("syncopated", "roots")),
        "guitar": (1.0, (26, 27, 28), ("offbeats",)),
        "keys": (0.7, (0, 4, 16, 17, 18), ("offbeats", "held")),
    }),
    "latin": (("bossa", "percussion"), 0.1, {
        "drums": (1.0, (), ()),
        "bass": (1.0, (32, 33), ("root_fifth", "syncopated")),
        "guitar": (1.0, (24, 25), ("comp", "arpeggio", "strum")),
        "keys": (0.4, (0, 4, 11, 12), ("comp",)),
        "strings": (0.3, (56, 61, 65, 66, 73, 48), ("held", "stabs")),
    }),
    "world": (("percussion", "ballad"), 0.3, {
        "drums": (0.6, (), ()),
        "bass": (0.6, (32, 33, 43), ("held", "root_fifth")),
        "arp": (1.0, ETHNIC + CHROMATIC, ("arpeggio", "strum")),
        "strings": (0.7, (48, 49, 89, 104, 109, 21), ("held",)),
    }),
}  # fmt: skip


SOLO_STYLES = ("solo_piano", "solo_guitar")


# One bar of 16ths per GM drum note: x accent, o normal, g ghost, - rest. Hi-hats keep
# time instead of ride cymbals: every ride hit rings for seconds in the synth and a
# ride pattern alone would triple the cost of a render.
DRUM_GROOVES = {
    "rock": {36: "x-------x-o-----", 38: "----x-------x---", 42: "x-o-x-o-x-o-x-o-"},
    "eighths": {36: "x---o---x---o---", 38: "----x-------x---", 42: "x-x-x-x-x-x-x-x-"},
    "halftime": {36: "x-----o---------", 38: "--------x-------", 42: "x-o-x-o-x-o-x-o-"},
    "pop16": {36: "x-----o-x-o-----", 38: "----x-------x---", 42: "xooxxooxxooxxoox"},
    "four_floor": {36: "x---x---x---x---", 39: "----x-------x---", 42: "o---o---o---o---",
                   46: "--x---x---x---x-"},
    "shuffle": {36: "x-------x-------", 38: "----x-------x---", 42: "x-o-x-o-x-o-x-o-"},
    "jazz": {42: "x---x-o-x---x-o-", 44: "----x-------x---", 36: "g-------g-------",
             38: "------g-------g-"},
    "ballad": {36: "x-------x-------", 37: "----x-------x---", 42: "x---x---x---x---"},
    "one_drop": {36: "--------x-------", 37: "--------x-------", 42: "x-o-x-o-x-o-x-o-"},
    "bossa": {36: "x--ox--ox--ox--o", 37: "x--o--o---o--o--", 42: "xoxoxoxoxoxoxoxo"},
    "percussion": {62: "x-o---o-x-o---o-", 63: "---o-------o----", 64: "----x-------x-o-",
                   70: "xoxoxoxoxoxoxoxo"},
}  # fmt: skip


HIT_LEVELS = {"x": 1.0, "o": 0.75, "g": 0.4}


TOMS = (50, 48, 47, 45, 43, 41)
