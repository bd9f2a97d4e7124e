"""Cheap offline language identification for short posts: writing system, then stop words.

detect(text) -> ISO 639-1 code, or None when the text is too short to tell.

How: a text written mostly in a non-Latin script is labelled by its script (Cyrillic -> "ru",
or "uk" with Ukrainian letters; Greek "el"; Arabic "ar", "fa" with Persian letters; Hebrew "he";
kana "ja"; Han without kana "zh"; Hangul "ko"; Thai "th"; Devanagari "hi"). Latin text is labelled
by counting the distinct function words of 12 languages it contains. English wins ties, and
another language needs MIN_FOREIGN distinct function words: the scorer's lexicon is English,
and a false "not English" costs more than a missed one (one fewer when the text has accented
letters). Otherwise, fewer than MIN_HITS English function words -> None (too short to tell).

Cost: one pass over the lower-cased words with set lookups, plus a character scan only for
non-ASCII text; see benchmarks/sentiment/README.md for the measured rate.
"""

from __future__ import annotations

import re

MIN_HITS = 2  # function words needed before a Latin-script text is called English
MIN_FOREIGN = 3  # distinct function words needed before it is called another language
MIN_SCRIPT_LETTERS = 3  # letters of one non-Latin script needed to label by script

_STOP = {
    "en": "the and is are was were of to in it this that with for on you my have has not be but "
          "they at his her she he we what which would there their been had do does did can "
          "will just very so an as or if from your me i it's don't i'm its our".split(),
    "fr": "le la les de et est une des du au aux ce cette sont pas je nous vous ils elle avec pour "
          "dans qui que sur très mais c'est j'ai mon ma mes tout être ne plus".split(),
    "de": "der die das und ist nicht ich ein eine einen sie es mit auf für sehr aber wir ihr "
          "zu den dem des sich auch noch nur wie bei oder ist's kein keine nach vom zum".split(),
    "es": "el la los las de y es una uno del que por para con muy pero lo se su sus como está "
          "esta este yo mi mis más sin también ya hay fue porque".split(),
    "it": "il la le gli di che è e un una non per con sono molto ma del della questo questa "
          "anche ho mi ci da nel alla come più".split(),
    "pt": "o os as de e é um uma não que do da dos das com para muito mas eu meu minha está "
          "isso esse essa foi mais também por em".split(),
    "nl": "de het een en is niet ik dat met voor op zijn van maar ook wel heel erg er je we "
          "deze dit geen naar bij nog".split(),
    "sv": "och är det att en ett inte jag som på för med mycket men har till av den så vi "
          "var kan".split(),
    "da": "og er det at en et ikke jeg som på for med meget men har til af den så vi var "
          "kan".split(),
    "pl": "i w nie się na jest to że z do jak ale co tak bardzo za po od".split(),
    "tr": "ve bir bu da de çok için ile ama ne var yok gibi daha en ben".split(),
    "id": "dan yang di ini itu dengan untuk tidak ada saya dari ke juga sangat bisa tapi".split(),
}
# A word counts for every language that lists it. Words that are frequent in English ("a", "was",
# "in", "me") are left out of the other lists, so English chatter does not look foreign.
_INDEX: dict[str, tuple[str, ...]] = {}
for _lang, _words in _STOP.items():
    for _w in _words:
        _INDEX[_w] = (*_INDEX.get(_w, ()), _lang)

# Letters that settle a tie between Latin-script languages.
_MARKS = {"ñ": "es", "¿": "es", "¡": "es", "ß": "de", "ä": "de", "ö": "de", "ü": "de",
          "ç": "fr", "œ": "fr", "è": "fr", "ê": "fr", "à": "fr", "ã": "pt", "õ": "pt",
          "ł": "pl", "ą": "pl", "ę": "pl", "ż": "pl", "ğ": "tr", "ş": "tr", "ı": "tr",
          "å": "sv", "ø": "da", "æ": "da", "ì": "it", "ò": "it"}

_NON_LATIN = re.compile("[\u0370-\u03ff\u0400-\u04ff\u0590-\u06ff\u0900-\u097f\u0e00-\u0e7f"
                        "\u1100-\u11ff\u3040-\u30ff\u4e00-\u9fff\uac00-\ud7af]")
_ACCENTED = re.compile("[\u00c0-\u00ff\u0100-\u024f]")
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")


def _script(text: str) -> str | None:
    counts: dict[str, int] = {}
    latin = 0
    for ch in text:
        o = ord(ch)
        if o < 0x250:
            latin += ch.isalpha()
            continue
        if 0x400 <= o <= 0x4FF:
            key = "uk" if ch in "іїєґІЇЄҐ" else "cyr"
        elif 0x370 <= o <= 0x3FF:
            key = "el"
        elif 0x590 <= o <= 0x5FF:
            key = "he"
        elif 0x600 <= o <= 0x6FF:
            key = "fa" if ch in "پچژگ" else "ar"
        elif 0x900 <= o <= 0x97F:
            key = "hi"
        elif 0xE00 <= o <= 0xE7F:
            key = "th"
        elif 0x3040 <= o <= 0x30FF:
            key = "ja"
        elif 0x4E00 <= o <= 0x9FFF:
            key = "han"
        elif 0xAC00 <= o <= 0xD7AF or 0x1100 <= o <= 0x11FF:
            key = "ko"
        else:
            continue
        counts[key] = counts.get(key, 0) + 1
    if not counts:
        return None
    total = sum(counts.values())
    if total < MIN_SCRIPT_LETTERS or total <= latin:
        return None
    if "ja" in counts:  # kana only occur in Japanese; Japanese also uses Han
        return "ja"
    if "han" in counts and counts["han"] >= counts.get("ko", 0):
        return "zh"
    if "cyr" in counts or "uk" in counts:
        return "uk" if "uk" in counts else "ru"
    if "fa" in counts:
        return "fa"
    return max(counts, key=counts.__getitem__)


def detect(text: str, words: list[str] | None = None) -> str | None:
    """ISO 639-1 code of the text's language, or None when too short to tell.

    `words` may pass the text's lower-cased words when the caller already has them.
    """
    if not text:
        return None
    ascii_only = text.isascii()
    if not ascii_only and _NON_LATIN.search(text):
        script = _script(text)
        if script is not None:
            return script
    if words is None:
        words = _WORD.findall(text.lower())
    hits: dict[str, int] = {}
    for w in _INDEX.keys() & set(words):  # distinct words: "die die die" is not German
        for lang in _INDEX[w]:
            hits[lang] = hits.get(lang, 0) + 1
    if not hits:
        return None
    english = hits.get("en", 0)
    best = max(hits.values())
    # accented Latin letters are rare in English: one function word fewer is enough then
    needed = MIN_FOREIGN - (not ascii_only and _ACCENTED.search(text) is not None)
    if english >= best or best < needed:
        return "en" if english >= MIN_HITS else None
    leaders = [lang for lang, n in hits.items() if n == best]
    if len(leaders) > 1 and not ascii_only:
        lowered = text.lower()
        marked = [lang for lang in leaders if any(m in lowered for m, ml in _MARKS.items()
                                                   if ml == lang)]
        leaders = marked or leaders
    return leaders[0]
