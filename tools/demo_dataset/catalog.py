"""The event-class catalog (spec/data.md sections 5-6): classes, their AudioSet labels, their train and held-out
sources, and the rules the mixer needs (background / drum-pattern / speech roles, pitch ranges, licences).

debian_sound_sources.json is a byte-identical copy of shared/audioset/ so the tool works without that folder;
the class list is the engine's own data/class_labels_indices.csv (the one engine_prep reads). Deliberate differences from the JSON are kept here, each with its reason:
  * SOURCE_FIXES: the minetest `fire_*.ogg` glob also matches `fire_extinguish_flame*` (a hiss) and
    `fire_flint_and_steel` (a scrape), which are not Crackle; they are excluded.
  * the npm piano source is skipped (npm is not reachable from build machines, spec/data.md 5.1).
"""
import csv
import fnmatch
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
CATALOG_PATH = os.path.join(HERE, "debian_sound_sources.json")
CLASS_LABELS_PATH = os.path.join(HERE, "..", "..", "data", "class_labels_indices.csv")

SAMPLE_RATE = 32000
CLIP_SECONDS = 10.0
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".aiff", ".aif", ".gsm")

# Package sets (spec/data.md 5.1). Sources whose package is not in the chosen set are skipped.
TINY_PACKAGES = ("bucklespring-data", "sonic-pi-samples")
CORE_PACKAGES = (
    "fluid-soundfont-gm", "timgm6mb-soundfont", "hydrogen-drumkits", "avldrums.lv2-soundfont", "sonic-pi-samples",
    "tuxpaint-stamps-default", "gcompris-qt-data", "asterisk-core-sounds-en-wav", "asterisk-core-sounds-es-wav",
    "asterisk-core-sounds-fr-wav", "asterisk-core-sounds-it-wav", "asterisk-core-sounds-ru-wav",
    "asterisk-prompt-fr-armelle", "bucklespring-data", "minetest-data", "fillets-ng-data-cs", "fillets-ng-data-nl",
    "klettres-data", "ktuberling-data", "pocketsphinx-testdata",
    # small UI-sound packages that hold the catalog's Camera sources (0.4 + 3.8 + 18.7 MB)
    "sound-theme-freedesktop", "deepin-sound-theme", "lomiri-sounds",
)
EXTENDED_PACKAGES = CORE_PACKAGES + (
    "widelands-data", "megaglest-data", "supertux-data", "lincity-ng-data", "freeciv-data", "hydrogen-drumkits-effects",
)
# Programs the generators run, and the Debian packages that provide them.
TOOL_PACKAGES = {
    "sox": ("sox",),
    "fluidsynth": ("fluidsynth",),
    "espeak-ng": ("espeak-ng",),
    "text2wave": ("festival", "festvox-kallpc16k", "festvox-us-slt-hts"),
}
TINY_TOOLS = ("sox", "espeak-ng")
CORE_TOOLS = ("sox", "fluidsynth", "espeak-ng", "text2wave")
# Versions the catalog was measured with (Debian 12); another version is used with a warning.
TESTED_VERSIONS = {
    "fluid-soundfont-gm": "3.1-5.3", "timgm6mb-soundfont": "1.3-5", "hydrogen-drumkits": "2017.09.19~dfsg-1",
    "avldrums.lv2-soundfont": "0.5.2-2", "sonic-pi-samples": "3.2.2~repack-8",
    "tuxpaint-stamps-default": "2022.06.04-1",
    "gcompris-qt-data": "3.1-2", "bucklespring-data": "1.4.0-2", "minetest-data": "5.6.1+dfsg+~1.9.0mt8+dfsg-2",
}

# Mixing roles (spec/data.md 5.3).
BACKGROUND = {"rain", "wind", "water", "fire", "cricket", "white_noise", "pink_noise"}
DRUM_PATTERN = {"drum_kit", "drum_machine"}
SPEECH = {"speech_female", "speech_male", "speech", "speech_synth"}
# Weak splits and single-source classes (flagged with a warning sign in spec/data.md 6).
WEAK = {"speech_male", "tabla", "goat", "cricket", "roaring_cat", "typing", "wind", "applause", "heartbeat",
        "engine_start", "glass_shatter", "vacuum_cleaner", "toilet_flush", "siren", "cash_register", "burping",
        "clapping"}
# Repetitions of a short one-shot in one event (default 1-6).
REPEATS = {"clapping": (2, 8), "finger_snapping": (2, 8), "beep": (2, 8)}
# MIDI pitch range of the phrases rendered for each tonal class.
PITCH_RANGE = {
    "piano": (36, 96), "electric_piano": (40, 88), "organ": (36, 84), "synthesizer": (40, 88),
    "acoustic_guitar": (40, 76), "electric_guitar": (40, 80), "bass_guitar": (28, 55), "banjo": (48, 79),
    "harp": (36, 91), "violin": (55, 96), "cello": (36, 72), "string_section": (43, 84), "trumpet": (55, 82),
    "trombone": (40, 72), "french_horn": (41, 77), "saxophone": (49, 81), "clarinet": (50, 89), "flute": (60, 96),
    "accordion": (48, 84), "harmonica": (60, 84), "marimba": (48, 96), "glockenspiel": (72, 108),
    "vibraphone": (53, 89), "steelpan": (55, 84), "tubular_bells": (60, 77), "timpani": (40, 55), "choir": (48, 79),
}
# Extra labels carried by some files of a class: (class, glob on the file's installed path, AudioSet name).
EXTRA_LABELS = (
    ("chicken", "*/rooster*", "Crowing, cock-a-doodle-doo"),
    ("chicken", "*/hen.ogg", "Cluck"),
    ("acoustic_guitar", "*/belofilms_GuitarStrums/*", "Strum"),
)
SOURCE_FIXES = {("fire", "train", 0): {"exclude": "*fire_extinguish*|*fire_flint*"}}

# Licence of each source: package -> licence, or -> [(path glob, licence), ...] checked in order.
_HYDROGEN = [
    ("*/ForzeeStereo/*", "GPL-2 (Vladimir Sadovnikov, Alexander Belokurov)"),
    ("*/Millo*", "GPL-2 (Emiliano Grilli)"),
    ("*/ColomboAcousticDrumkit/*", "GPL-2+ with composition exception (Marcos Guglielmetti)"),
    ("*/BJA_Pacific/*", "CC-BY-SA-3.0-us (Luc Tunguay)"),
    ("*/The Black Pearl 1.0/*", "GPL-2 (Glen MacArthur)"),
    ("*/Gimme A Hand 1.0/*", "GPL-2 (Glen MacArthur)"),
    ("*/ElectricEmpireKit/*", "GPL-2+ (Artemiy Pavlov)"),
    ("*/HardElectro1/*", "GPL-2+ (Artemiy Pavlov)"),
    ("*/VariBreaks/*", "GPL-2+ (Artemiy Pavlov)"),
]
LICENCES = {
    "asterisk-core-sounds-en-wav": "CC-BY-SA-3.0 (voice Allison Smith; Digium)",
    "asterisk-core-sounds-es-wav": "CC-BY-SA-3.0 (voice Allison Smith; Digium)",
    "asterisk-core-sounds-fr-wav": "CC-BY-SA-3.0 (voice June Wallack; Digium)",
    "asterisk-core-sounds-it-wav": "CC-BY-3.0 (voice Carlo Flora; Digium)",
    "asterisk-core-sounds-ru-wav": "CC-BY-3.0 (Digium)",
    "asterisk-prompt-fr-armelle": "BSD-style (Michel Gutierrez; voice Armelle Desjardins)",
    "avldrums.lv2-soundfont": "CC-BY-SA-3.0 (Glen MacArthur)",
    "bucklespring-data": "GPL-2+ (Ico Doornekamp)",
    "deepin-sound-theme": "GPL-3 (Deepin)",
    "fillets-ng-data-cs": "GPL-2+ (Fish Fillets NG)",
    "fillets-ng-data-nl": "GPL-2+ (Fish Fillets NG)",
    "fluid-soundfont-gm": "MIT (Frank Wen, Toby Smithe)",
    "timgm6mb-soundfont": "GPL-2 (Tim Brechbill)",
    "gcompris-qt-data": [
        ("*drum_kit.ogg", "CC-Sampling-Plus-1.0 (freesound)"),
        ("*memory-sound*_LA*", "Free Art License (Lionel Allorge)"),
        ("*", "GPL-3+ (GCompris)"),
    ],
    "hydrogen-drumkits": _HYDROGEN,
    "hydrogen-drumkits-effects": "CC-BY-3.0 (Gabriel Verdugo Soto)",
    "klettres-data": "GPL-2+ (KDE)",
    "ktuberling-data": "GPL-2+ (KDE)",
    "lomiri-sounds": "CC0-1.0",
    "minetest-data": [
        ("*/doors/sounds/*", "CC-BY-3.0 (minetest_game)"),
        ("*/tnt/sounds/*", "CC0-1.0 (minetest_game)"),
        ("*", "CC-BY-SA-3.0 (minetest_game)"),
    ],
    "pocketsphinx-testdata": "BSD-2 (LibriVox recordings: public domain)",
    "sonic-pi-samples": "CC0-1.0 (freesound; sources in samples/README.md)",
    "sound-theme-freedesktop": "CC-BY-SA-3.0",
    "tuxpaint-stamps-default": "GPL-2 (Tux Paint)",
    "widelands-data": "GPL-2+ (Widelands)",
    "megaglest-data": "CC-BY-SA-3.0 (MegaGlest)",
    "supertux-data": "GPL-3+ (SuperTux)",
    "lincity-ng-data": "GPL-2+ (LinCity-NG)",
    "freeciv-data": "GPL-2+ (Freeciv)",
    "espeak-ng": "GPL-3+ (espeak-ng; synthetic speech)",
    "festival": "festival: X11-style; voices festvox-kallpc16k / festvox-us-slt-hts: free (see their copyright)",
}


def licence_for(pkg, path=""):
    entry = LICENCES.get(pkg)
    if entry is None:
        return f"see /usr/share/doc/{pkg}/copyright"
    if isinstance(entry, str):
        return entry
    for pattern, licence in entry:
        if fnmatch.fnmatchcase(path, pattern):
            return licence
    return f"see /usr/share/doc/{pkg}/copyright"


class ClassLabels:
    """class_labels_indices.csv: index -> (mid, display name)."""

    def __init__(self, path=CLASS_LABELS_PATH):
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        self.mids = [r["mid"] for r in rows]
        self.names = [r["display_name"] for r in rows]
        self.by_name = {n: i for i, n in enumerate(self.names)}
        for i, r in enumerate(rows):
            if int(r["index"]) != i:
                raise ValueError(f"{path}: row {i + 2} has index {r['index']}, expected {i}")


def load_catalog(path=CATALOG_PATH):
    """The catalog's classes in file order, each with 'id' (its position: seeds use it), and SOURCE_FIXES applied."""
    with open(path, encoding="utf-8") as f:
        classes = json.load(f)["classes"]
    out = []
    for cid, (name, c) in enumerate(classes.items()):
        c = dict(c, name=name, id=cid)
        for side in ("train", "eval"):
            srcs = [dict(s) for s in c.get(side, [])]
            for i, s in enumerate(srcs):
                s.update(SOURCE_FIXES.get((name, side, i), {}))
            c[side] = [s for s in srcs if "npm" not in s]
        out.append(c)
    return out
