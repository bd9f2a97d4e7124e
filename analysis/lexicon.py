"""Vocabulary the sentiment scorer adds to VADER's lexicon: complaints about products, services
and apps, failure phrases, emoji valences, extra intensifiers. Pure data plus one loader.

Valences use VADER's scale (-4 extremely negative .. +4 extremely positive). Entries are general
complaint vocabulary written from experience with support queues, never copied from a test set.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

# Single words missing from VADER's lexicon, plus a few VADER scores wrongly for a support queue
# ("freezes" -0.1, "support" +1.7).
DOMAIN: dict[str, float] = {
    # apps and devices failing
    "crash": -2.0, "crashes": -2.0, "crashed": -2.0, "crashing": -2.0,
    "bug": -1.2, "bugs": -1.2, "buggy": -2.0, "glitch": -1.5, "glitches": -1.5,
    "glitchy": -1.8, "laggy": -1.8, "freezes": -1.8,
    "froze": -1.8, "frozen": -0.8, "unusable": -2.5, "unresponsive": -1.8,
    "unreliable": -1.8, "outage": -2.0, "outages": -2.0, "downtime": -1.5,
    "malfunction": -2.0, "malfunctioned": -2.0, "malfunctions": -2.0, "malfunctioning": -2.0,
    "breaks": -1.5,
    "issue": -0.8, "issues": -1.0,
    "hang": -0.5, "hangs": -1.2, "leaks": -1.4, "leaking": -1.4,
    "slow": -1.0, "slower": -0.8, "slowly": -0.6,
    # money and orders
    "refund": -1.0, "refunds": -1.0, "scammed": -2.8, "scammers": -2.8,
    "ripoff": -2.8, "rip-off": -2.8, "overpriced": -1.8, "overcharged": -2.3,
    "overcharging": -2.3, "canceled": -1.0,
    "cancellation": -0.6, "chargeback": -2.0, "unauthorized": -1.8,
    "backordered": -1.2, "spammy": -1.8,
    "junk": -2.0, "garbage": -2.2, "trash": -1.8,
    "flimsy": -1.8, "cheaply": -1.5, "shoddy": -2.2, "knockoff": -1.5, "counterfeit": -2.0,
    "refurbished": -0.3, "unhelpful": -1.8,
    "unanswered": -1.8,
    # clothing and goods
    "unflattering": -1.8, "scratchy": -1.3, "shrunk": -1.5, "shrank": -1.5,
    "ripped": -1.5, "tore": -1.3, "frayed": -1.3, "pilling": -1.3, "pilled": -1.3,
    "faded": -1.0, "stained": -1.5, "smelly": -1.8, "returning": -1.2, "cheap": -1.0,
    "boxy": -1.0, "shapeless": -1.5, "sloppy": -1.5, "subpar": -1.8, "poorly": -1.8,
    "unwearable": -2.2, "tacky": -1.5, "frumpy": -1.5, "bummed": -1.5, "mediocre": -1.3,
    "returned": -0.8,
    # praise missing from the lexicon
    "flawlessly": 2.8, "seamless": 2.0, "seamlessly": 2.0, "intuitive": 1.8,
    "reliable": 1.8, "life-saver": 2.5,
    "comfy": 1.8,
    "sturdy": 1.5, "durable": 1.5,
}

# Multi-word units: they replace the valence of their words. Keys are lower case, single spaces.
PHRASES: dict[str, float] = {
    "charged twice": -2.5, "double charged": -2.5, "charged me twice": -2.5,
    "waste of money": -2.8, "waste of time": -2.5, "rip off": -2.8, "ripped off": -2.8,
    "fell apart": -2.3, "falls apart": -2.3, "falling apart": -2.3, "came apart": -2.0,
    "piece of junk": -3.0, "piece of crap": -3.0, "piece of garbage": -3.0,
    "not worth": -2.0, "never again": -2.5, "stay away": -2.5, "steer clear": -2.5,
    "do not buy": -2.8, "don't buy": -2.8, "dont buy": -2.8, "avoid this": -2.5,
    "sent back": -1.3, "sent it back": -1.5, "send it back": -1.5, "sending it back": -1.5,
    "went back": -1.0, "going back": -1.0, "returned it": -1.5, "return it": -1.3,
    "stopped working": -2.3, "stops working": -2.3, "quit working": -2.3,
    "stopped responding": -2.3, "no response": -2.0, "no reply": -2.0, "no answer": -1.8,
    "wanted to love": -2.0, "wanted to like": -2.0, "had high hopes": -2.0,
    "was hoping": -1.2, "really hoped": -1.5, "looks nothing like": -1.8,
    "nothing like the picture": -2.0, "not as pictured": -2.0, "not as described": -2.2,
    "on hold": -1.2, "customer service": 0.0, "thanks for nothing": -2.5,
    "can't wait": 1.8, "cant wait": 1.8, "cannot wait": 1.8, "so much for": -1.0,
    "yeah right": -2.0, "oh great": -1.5,
    "no issues": 1.5, "no problems": 1.5, "no complaints": 1.8, "no regrets": 1.8,
    "works great": 2.5, "works perfectly": 2.8, "works fine": 1.5, "works well": 2.0,
    "love it": 3.0, "highly recommend": 3.0, "five stars": 2.5, "5 stars": 2.5,
    "one star": -2.5, "1 star": -2.5, "zero stars": -3.0, "0 stars": -3.0,
    "every time": 0.0, "the shit": 3.0, "the bomb": 3.0, "bad ass": 1.5, "kiss of death": -1.5,
    "to die for": 3.0, "too small": -1.2, "too big": -1.2, "too short": -1.2, "too long": -1.0,
    "too tight": -1.3, "too large": -1.2, "see through": -1.0, "see-through": -1.0,
    # Negated advice reads as praise word by word ("don't waste" flips "waste"): it is a warning.
    "waste your money": -2.8, "waste your time": -2.5, "save your money": -2.5,
    "save yourself the": -2.0,
    # "X at best" is faint damnation whatever X is; comparisons that something else was better.
    "at best": -2.5, "had better": -1.8, "better than this": -2.0, "used to be better": -2.0,
    "used to be good": -2.0, "used to be great": -2.0,
    # Praise built from negated words ("could not be happier") and fixes ("fixed my issue").
    "could not be happier": 3.0, "couldn't be happier": 3.0, "couldnt be happier": 3.0,
    "could not be more pleased": 3.0, "couldn't be more pleased": 3.0,
    "fixed my issue": 1.8, "fixed the issue": 1.8, "fixed my problem": 1.8,
    "fixed the problem": 1.8, "solved my problem": 1.8, "resolved my issue": 1.8,
    "never had a problem": 1.8, "never had a single problem": 2.0, "not a single problem": 2.0,
    "never had a single issue": 2.0, "not a single issue": 2.0,
    "not disappointed": 1.5,
}

# Words VADER rates as praise that in brand talk name the help desk ("support never answered",
# "I need help"): they get no valence (and "help" then counts as an expected verb below).
TOPIC: frozenset[str] = frozenset({"support", "help"})

# Counterfactuals: praise after them is what the product lacks ("would have been nice", "I wish
# it had a better screen"), so it counts as mild blame until the end of the clause.
IRREALIS: frozenset[str] = frozenset({"would have", "could have", "should have", "would've",
                                      "could've", "should've", "if only", "wish it", "wish they",
                                      "wish there", "wish the"})

# Verbs for something a customer expects to happen: negated ("doesn't work", "never arrived",
# "support never answered") they are a complaint, whatever VADER's lexicon says (usually 0).
EXPECTED: frozenset[str] = frozenset("""
work works working worked function functions functioning load loads loading loaded
connect connects connecting connected sync syncs syncing synced boot boots booting
charge charging respond responds responded responding reply replies replied answer answers
answered arrive arrives arrived arriving receive received deliver delivered ship shipped
install installs installed update updates updated refund refunded fix fixed fixes
help helps helped
""".split())
EXPECTED_FAILED = -1.8  # valence of a negated expected verb

# Words that keep their (negative) valence under negation: "no refund" is not praise.
NO_FLIP: frozenset[str] = frozenset({"refund", "refunds", "cancel", "cancelled", "canceled"})

# Intensifiers added to VADER's BOOSTER_DICT (same +0.293 step).
BOOSTERS: frozenset[str] = frozenset(
    {"constantly", "keeps", "keep", "repeatedly", "always", "insanely", "sooo", "soooo",
     "literally"})

# Contrast markers: what follows outweighs what precedes (VADER only knows the first "but").
CONTRAST: frozenset[str] = frozenset({"but", "however", "though", "although", "except"})

# Sarcasm markers cheap enough to trust: praise in a text carrying one counts as mild blame.
SARCASM: frozenset[str] = frozenset({"/s", "#sarcasm", "#not"})

# Emoji VADER only describes in words ("pouting face" scores 0): direct valences instead.
EMOJI: dict[str, float] = {
    "😡": -2.8, "🤬": -3.2, "😠": -2.5, "😤": -1.8, "👎": -2.2, "💩": -2.2, "🙄": -1.5,
    "😒": -1.5, "😞": -2.0, "😔": -1.6, "😟": -1.5, "😕": -1.0, "😩": -1.8, "😫": -1.8,
    "😖": -1.8, "😣": -1.5, "😢": -2.0, "😭": -2.0, "🤮": -2.8, "🤢": -2.2, "😑": -0.8,
    "😐": -0.3, "🤦": -1.8, "💔": -2.5, "😬": -0.8, "😱": -1.2, "😰": -1.5, "😓": -1.0,
    "👍": 2.0, "👌": 1.8, "🙌": 2.2, "👏": 2.0, "💯": 2.0, "🔥": 1.5, "⭐": 1.5, "🌟": 1.8,
    "❤": 3.0, "😍": 3.0, "🥰": 3.0, "😊": 2.5, "🙂": 1.5, "😀": 2.2, "😃": 2.2, "😄": 2.5,
    "😁": 2.2, "😆": 2.0, "😂": 1.5, "🤣": 1.5, "😎": 1.8, "🤩": 3.0, "🥳": 2.5, "🙏": 1.2,
    "💕": 2.8, "💖": 2.8, "💗": 2.8, "💙": 2.5, "💚": 2.5, "💜": 2.5, "🧡": 2.5, "💛": 2.5,
}
EMOJI_STRIP = "\ufe0f\u200d\U0001f3fb\U0001f3fc\U0001f3fd\U0001f3fe\U0001f3ff"


@lru_cache(maxsize=1)
def emoji_valences() -> dict[str, float]:
    """Every emoji VADER knows, valued by the VADER lexicon words of its description, then the
    hand-set EMOJI table on top. Built once from files that ship inside vaderSentiment."""
    import vaderSentiment

    folder = Path(vaderSentiment.__file__).parent
    words = {}
    for line in (folder / "vader_lexicon.txt").read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        if len(parts) >= 2:
            words[parts[0]] = float(parts[1])
    values: dict[str, float] = {}
    for line in (folder / "emoji_utf8_lexicon.txt").read_text(encoding="utf-8").splitlines():
        emoji, _, description = line.partition("\t")
        emoji = emoji.strip(EMOJI_STRIP)
        if len(emoji) != 1:
            continue
        found = [words[w] for w in re.findall(r"[a-z'-]+", description.lower()) if w in words]
        if found:
            values[emoji] = sum(found) / len(found)
    values.update(EMOJI)
    return values
