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
# Two patterns with a literal or a class first scan faster than one alternation.
_O_THEN_DIGIT = re.compile(rf"o[\d{_GLUE}]")
_DIGIT_THEN_O = re.compile(rf"[\d{_GLUE}]o")
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
_SEVEN = (r"[{0}]" + "".join(rf"(?<![{{0}}{_GLUE}][{_SEP_CHARS}]{{{{{k}}}}}[{{0}}])" for k in range(4))
          + rf"(?:{_GLUE}*+[{_SEP_CHARS}]{{{{0,3}}}}+[{{0}}]){{{{6}}}}")
_SEVEN_DIGITS = re.compile(_SEVEN.format(r"\d"))
# The same with every o taken for a zero: when it fails, no o needs to be looked at.
_SEVEN_UNITS = re.compile(_SEVEN.format(r"\do"))
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
_DATES_ALONE = rf"(?<!\d)(?<!\d[-./])(?:{_DATES})(?!\d)(?![-./:]\d)"
_DATES_INSIDE = re.compile(_DATES_ALONE)
# Numbers that are not phones, blanked out around a candidate run before a second look.
_NOT_A_PHONE = re.compile(
    _DATES_ALONE
    + rf"|(?<![\d.,]){_NUM}\s?(?:{_CUR}|{_UNITS})"
    r"|(?<![\d.,])\d{1,3}(?:[.\s'\u2019]\d{3})++,\d{1,2}(?!\d)"  # 1.234.567,89: an amount
    rf"|{_CUR}\s?{_NUM}(?!\d)(?![\s.,\-/]\d)"
)
_CONTEXT = 16  # characters around a run that can excuse it ("subscribers", "dollars")
_NUM_ONLY = re.compile(_NUM)
_CURRENCY_BEFORE = re.compile(rf"{_CUR}\s?\Z")
_AMOUNT_AFTER = re.compile(rf",\d{{1,2}}(?!\d)|(?:[.,]\d{{1,2}})?\s?(?:{_CUR}|{_UNITS})")


def _digit_view(text: str, low: str) -> tuple[str, int] | None:
    """The digit view and where its first run of 7 can start, or None when the text cannot
    hold 7 digit units (cheap checks first: most texts stop at the digit count)."""
    if low.isascii():
        raw = low.encode()
        size = len(raw)
        digits = size - len(raw.translate(None, b"0123456789"))
        # Every digit word holds an e, an o or an x: a bound on their number, in one call.
        if digits + size - len(raw.translate(None, b"eox")) < MIN_PHONE_DIGITS:
            return None
    else:
        digits = len(_ANY_DIGIT.findall(low))
        if digits + len(low) // 3 < MIN_PHONE_DIGITS:
            return None
    if _holds_a_digit_word(low):
        view, words = _DIGIT_WORD.subn(_as_digit, low)
        digits += words
    else:
        view = low
    os = view.count("o") if digits >= 3 else 0  # o's for zeros need some digits around
    if digits + os < MIN_PHONE_DIGITS:
        return None
    if os:
        if not _SEVEN_UNITS.search(view):  # no cluster of 7 even with every o a zero
            return None
        if _O_THEN_DIGIT.search(view) or _DIGIT_THEN_O.search(view):
            view = _O_AFTER_DIGIT.sub(_zeros_after_first, _O_BEFORE_DIGIT.sub(_zeros, view))
    seven = _SEVEN_DIGITS.search(view)  # no run of 7 starts before it, but for "( + "
    return (view, max(0, seven.start() - 4)) if seven else None


def _holds_a_digit_word(low: str) -> bool:
    # Ten substring searches (memchr-fast, no Python loop) cost less than one pattern scan.
    return ("one" in low or "two" in low or "three" in low or "four" in low or "five" in low
            or "six" in low or "seven" in low or "eight" in low or "nine" in low or "zero" in low)


def _as_digit(word: re.Match[str]) -> str:
    return _AS_DIGIT[word.group()]


def _zeros(os: re.Match[str]) -> str:
    return "0" * (os.end() - os.start())


def _zeros_after_first(os: re.Match[str]) -> str:
    return os.group()[0] + "0" * (os.end() - os.start() - 1)


def _phones(low: str, view: str, start: int) -> list[Span]:
    phones: list[Span] = []
    doubtful: list[Span] = []
    for run in _PHONE_RUN.finditer(view, start):
        if _is_phone(low, view, *run.span()) and not _is_amount(low, *run.span()):
            (doubtful if _may_hold_other_numbers(low, *run.span()) else phones).append(run.span())
    if doubtful:
        # A second look with the dates, prices and quantities around them blanked out.
        blanked = _blanked(low, view, doubtful)
        phones += [again.span() for first, last in doubtful
                   for again in _PHONE_RUN.finditer(blanked, first, last)
                   if _is_phone(low, blanked, *again.span())]
    return [_with_brackets(low, *span) for span in phones]


def _is_amount(low: str, start: int, end: int) -> bool:
    """The whole run is one price or quantity (the common case, decided without the
    second look)."""
    return bool(_NUM_ONLY.fullmatch(low, start, end) and (
        _AMOUNT_AFTER.match(low, end) or _CURRENCY_BEFORE.search(low, max(0, start - 8), start)))


def _may_hold_other_numbers(low: str, start: int, end: int) -> bool:
    """Whether a date, price or quantity can be in or next to the run: a date inside, a
    currency just before, a currency, unit or decimal amount just after."""
    return bool(_DATES_INSIDE.search(low, start, end)
                or _CURRENCY_BEFORE.search(low, max(0, start - 8), start)
                or _AMOUNT_AFTER.match(low, end))


def _is_phone(low: str, view: str, start: int, end: int) -> bool:
    """Checked on every run of 7+ characters: the common cases (one number of plain digits)
    are decided by string methods before any pattern."""
    run = view[start:end]
    digits = end - start if run.isdecimal() else len(_ANY_DIGIT.findall(run))
    if digits < MIN_PHONE_DIGITS or ("." in run and _GLUE not in run and _DECIMAL.fullmatch(run)):
        return False
    written = low[start:end]
    if not (written.isdecimal() or _PLAIN.fullmatch(written)):
        return True  # a "+", digit words, o's: phone-like, nothing excuses it
    return not (_is_reference(low[max(0, start - 40):start]) or _DATES_ONLY.fullmatch(written))


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


def _blanked(low: str, view: str, runs: list[Span]) -> str:
    """The view with the dates, prices and quantities of ``low`` near the runs replaced by
    NULs (found on ``low``, where the words are still words: "tonnes", not "t1ne"); one
    copy of the text whatever the number of runs."""
    parts: list[str] = []
    last = 0
    for first, end in runs:
        for m in _NOT_A_PHONE.finditer(low, max(last, first - _CONTEXT), end + _CONTEXT):
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


