"""Phone numbers for the contact-detail filter (the rules are in ``contact_filter``).

Runs are found on a "digit view" of the lower-cased text, of the same length: each digit
word becomes its digit followed by GLUE characters ("five" -> "5" + 3 GLUE), and each o
glued to a digit becomes 0. One digits-only pattern then finds every run; the excuses
(reference numbers, dates, prices, quantities) are checked on candidate runs only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from chat_server.domain import contact_vocabulary as vocab

MIN_PHONE_DIGITS = 7

Span = tuple[int, int]


def find_phones(text: str, low: str) -> list[Span]:
    """Spans of the phone numbers in ``text``, given its lower-cased ``low``."""
    view = _digit_view(text, low)
    return [] if view is None else _phones(low, *view)


def _trie(words: Iterable[str]) -> str:
    """An alternation of words factored by their first letters, so that the regex engine
    rejects a position after one or two comparisons instead of one per word."""
    groups: dict[str, list[str]] = {}
    for word in sorted(set(words), key=len, reverse=True):
        groups.setdefault(word[0], []).append(word[1:])
    return "|".join(re.escape(first) + (f"(?:{'|'.join(map(re.escape, rests))})" if rests != [""] else "")
                    for first, rests in groups.items())


_GLUE = "\x01"
_DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_AS_DIGIT = {word: str(value) + _GLUE * (len(word) - 1) for value, word in enumerate(_DIGIT_WORDS)}
_DIGIT_WORD = re.compile(_trie(_DIGIT_WORDS))
_O_NEXT_TO_DIGIT = re.compile(rf"o(?=[\d{_GLUE}])|[\d{_GLUE}]o")
_O_BEFORE_DIGIT = re.compile(rf"o++(?=[\d{_GLUE}])")
_O_AFTER_DIGIT = re.compile(rf"[\d{_GLUE}]o++")
_SEP_CHARS = r"\s.\-_/()\u2010-\u2015"
# A run: chunks of digits (and GLUE) that are not glued to letters or digits, separated by
# 1-3 separators, with an optional "(" and "+" in front. It starts with a character class
# so that the engine skips ahead to candidates; the look-behinds after that first
# character check the two before it: no run starts inside a word or number, nor right
# after "digit + separator" (v10.0.19045, AB12-3456789). A run of 7 digits is 7 characters
# long at least: the look-ahead drops the short numbers of a text without a match object.
_PHONE_RUN = re.compile(
    rf"[(+\d](?<![a-z\d{_GLUE}].)(?<![\d{_GLUE}][.\-_/].)(?=[+\d{_GLUE}{_SEP_CHARS}]{{6}})"
    r"(?:(?<=\()\s?(?:\+\s?)?\d|(?<=\+)\s?\d|(?<=\d))"
    rf"[\d{_GLUE}]*+(?![a-z\d{_GLUE}])(?:[{_SEP_CHARS}]{{1,3}}+\d[\d{_GLUE}]*+(?![a-z\d{_GLUE}]))*+"
)
# Necessary for a run of 7: seven digits with at most 3 separators (or GLUE) between. It
# is tried only where such a cluster of digits starts (the look-behinds): a later start in
# the same cluster has fewer digits ahead, and trying it would make the scan quadratic-ish.
_SEVEN_DIGITS = re.compile(
    r"\d" + "".join(rf"(?<![\d{_GLUE}][{_SEP_CHARS}]{{{k}}}\d)" for k in range(4))
    + rf"(?:{_GLUE}*+[{_SEP_CHARS}]{{0,3}}+\d){{6}}"
)
_ANY_DIGIT = re.compile(r"\d")
_DECIMAL = re.compile(r"\d+[.,]\d+")
_PLAIN = re.compile(rf"[\d{_SEP_CHARS}]+")
_WORD_CHARS = "abcdefghijklmnopqrstuvwxyz/"
_REFERENCE_WORDS = frozenset(vocab.REFERENCE_WORDS)
_REFERENCE_FILLERS = frozenset(vocab.REFERENCE_FILLERS)

_D = r"(?:0?[1-9]|[12]\d|3[01])"
_M = r"(?:0?[1-9]|1[0-2])"
_Y = r"(?:1[89]|2\d)\d\d"
_DATE = (rf"(?:{_Y}[-./]{_M}[-./]{_D}|{_D}[-./]{_D}[-./](?:{_Y}|\d\d)"
         rf"|{_Y}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01]))")
_TIME = r"(?:[01]?\d|2[0-3])[.:h][0-5]\d"
_RANGE = r"\s?[-~\u2010-\u2015]\s?"
_YEAR = r"(?:1[89]|20)\d\d"
_DATES = rf"{_DATE}(?:{_RANGE}{_DATE})?|{_YEAR}{_RANGE}{_YEAR}|{_TIME}{_RANGE}{_TIME}"
_DATES_ONLY = re.compile(_DATES)
_NUM = r"(?:\d{1,3}(?:[\s.,'\u2019]\d{3})++(?:[.,]\d{1,2})?|\d++(?:[.,]\d{1,2})?)"
_CUR = rf"(?:[{vocab.CURRENCY_SIGNS}]|(?<![a-z])(?:{_trie(vocab.CURRENCY_WORDS)})(?![a-z]))"
_UNITS = rf"(?:(?:{_trie(vocab.UNIT_WORDS)})(?![a-z])|%|°)"
# Numbers that are not phones, blanked out around a candidate run before a second look.
_NOT_A_PHONE = re.compile(
    rf"(?<!\d)(?<!\d[-./])(?:{_DATES})(?!\d)(?![-./:]\d)"
    rf"|(?<![\d.,]){_NUM}\s?(?:{_CUR}|{_UNITS})"
    r"|(?<![\d.,])\d{1,3}(?:[.\s'\u2019]\d{3})++,\d{1,2}(?!\d)"  # 1.234.567,89: an amount
    rf"|{_CUR}\s?{_NUM}(?!\d)(?![\s.,\-/]\d)"
)
_CONTEXT = 16  # characters around a run that can excuse it ("subscribers", "dollars")


def _digit_view(text: str, low: str) -> tuple[str, int] | None:
    """The digit view and where its first run of 7 can start, or None when the text cannot
    hold 7 digit units (cheap checks first: most texts stop at the digit count)."""
    if text.isascii():
        digits = len(text) - len(text.encode().translate(None, b"0123456789"))
    else:
        digits = len(_ANY_DIGIT.findall(text))
    if digits < MIN_PHONE_DIGITS and len(low) < digits + 3 * (MIN_PHONE_DIGITS - digits):
        return None  # too short to hold the missing units as digit words
    view, words = _DIGIT_WORD.subn(_as_digit, low)
    digits += words
    os = view.count("o")
    if os and digits >= 3 and digits + os >= MIN_PHONE_DIGITS and _O_NEXT_TO_DIGIT.search(view):
        view = _O_AFTER_DIGIT.sub(_zeros_after_first, _O_BEFORE_DIGIT.sub(_zeros, view))
    elif digits < MIN_PHONE_DIGITS:
        return None
    seven = _SEVEN_DIGITS.search(view)  # no run of 7 starts before it, but for "( + "
    return (view, max(0, seven.start() - 4)) if seven else None


def _as_digit(word: re.Match[str]) -> str:
    return _AS_DIGIT[word.group()]


def _zeros(os: re.Match[str]) -> str:
    return "0" * (os.end() - os.start())


def _zeros_after_first(os: re.Match[str]) -> str:
    return os.group()[0] + "0" * (os.end() - os.start() - 1)


def _phones(low: str, view: str, start: int) -> list[Span]:
    spans: list[Span] = []
    for run in _PHONE_RUN.finditer(view, start):
        if not _is_phone(low, view, run):
            continue
        # A second look with the dates, prices and quantities around the run blanked out.
        blanked = _blanked(low, view, max(0, run.start() - _CONTEXT), run.end() + _CONTEXT)
        spans += [_with_brackets(low, again.start(), again.end())
                  for again in _PHONE_RUN.finditer(blanked, run.start(), run.end())
                  if _is_phone(low, blanked, again)]
    return spans


def _is_phone(low: str, view: str, run: re.Match[str]) -> bool:
    start, end = run.span()
    glued = view.count(_GLUE, start, end)
    if len(_ANY_DIGIT.findall(view, start, end)) < MIN_PHONE_DIGITS or (
            not glued and _DECIMAL.fullmatch(view, start, end)):
        return False
    if not _PLAIN.fullmatch(low, start, end):  # a "+", digit words, o's: phone-like
        return True
    return not (_DATES_ONLY.fullmatch(low, start, end)
                or _is_reference(low[max(0, start - 40):start]))


def _is_reference(before: str) -> bool:
    """What precedes a plain digit run makes it an order, invoice, tracking ... number.
    String methods from the end only: this runs on every candidate run."""
    if before.rstrip().endswith(("#", "№")):
        return True
    if before[-1:] in ("-", "/"):  # a code glued by a dash: INV-2026-000123, not tel-555...
        word = _last_word(before[:-1])
        if word:
            return word not in vocab.PHONE_WORDS
    tail = before
    for _ in range(4):  # a reference word and at most three fillers ("order id no.")
        tail = tail.rstrip(" \t.:#№-")
        word = _last_word(tail)
        if word not in _REFERENCE_FILLERS:
            return word in _REFERENCE_WORDS
        tail = tail[:-len(word)]
    return False


def _last_word(text: str) -> str:
    return text[len(text.rstrip(_WORD_CHARS)):]


def _blanked(low: str, view: str, lo: int, hi: int) -> str:
    """The view with the dates, prices and quantities of ``low`` in [lo, hi) replaced by
    NULs (found on ``low``, where the words are still words: "tonnes", not "t1ne")."""
    parts: list[str] = []
    last = 0
    for m in _NOT_A_PHONE.finditer(low, lo, hi):
        parts += (view[last:m.start()], "\0" * (m.end() - m.start()))
        last = m.end()
    return "".join((*parts, view[last:])) if parts else view


def _with_brackets(low: str, start: int, end: int) -> Span:
    """A run that opened a bracket takes its closing one, or leaves the opening one out."""
    if low[start] == "(" and ")" not in low[start:end]:
        if low[end:end + 1] == ")":
            return start, end + 1
        return start + 1, end
    return start, end


