"""The contact-detail filter: phone numbers, e-mail addresses and links in a message's text
are masked (``[hidden]``) or refused, so that buyer and seller do not move off the platform
(PROTOCOL.md section 10, ``CHAT_CONTACT_FILTER=off|mask|block``).

``ContactFilter(mode, allowed_domains).apply(text)`` returns a ``FilteredText``; in BLOCK
mode a text that holds a contact detail raises ``InvalidInput`` on the field ``text``.

What counts (matching is case-insensitive):

- **Phones**: a run of at least 7 digit units, a unit being a digit (any script), an
  English digit word (``five``) or a letter ``o`` glued to digits (``O7700``), the units
  glued together (``5five5``) or separated by 1-3 of space, ``.``, ``-``, ``_``, ``/``,
  brackets, with an optional leading ``+``. A run never starts inside a word or right
  after ``digit + separator`` (so ``v10.0.19045`` and ``AB12-3456789`` are not phones).
- **E-mail addresses**: ``local@domain.tld`` (spaces around ``@`` allowed), and the
  obfuscations ``(at)`` / ``[at]`` / ``{at}`` / `` at `` with ``.``, `` . ``, `` dot ``,
  ``(dot)``, ``[dot]``. The domain must end in a known TLD. With a bare `` at `` and only
  literal dots (``write to sales at shop.com``) the domain alone is hidden, as a link:
  the sentence keeps its words and the contact is gone.
- **Links**: ``scheme://...`` (any scheme), ``www.``-hosts, bare host names whose last
  label is a known TLD (``contact_vocabulary.TLDS``) or that are short-link / messaging
  hosts (``t.me``, ``wa.me``, ``bit.ly`` ...), with their port and path; and hosts with a
  bracketed dot (``myshop(dot)com``, ``evil[.]com``) or `` dot `` after ``www``
  (``www dot myshop dot com``), but not "the dot com bubble".
- **Allowed domains** (``CHAT_CONTACT_ALLOWED_DOMAINS``) are allowed with all their
  subdomains, for links and for e-mail addresses alike (``help@shop.example`` is the
  marketplace's own support, not a way off it). Digit runs inside an allowed link
  (``https://shop.example/p/12345678``) are part of it, not phones; in the local part of
  an allowed address (``5551234567@shop.example``) they are still phones.

What does not count (the excuses are checked only on runs of 7+ digit units):

- A number with a currency sign or code before or after it (``$1,299.99``, ``USD 2500``,
  ``1 299 000,00 €``), or a unit after it (``10 000 000 pcs``, ``2 500 000 views``, ``%``),
  and an amount in thousands with two decimals (``1.234.567,89``). Prices below a million
  never reach 7 digits in a run: a comma is not a separator (``1,299,000``).
- Dates (``2026-12-01``, ``01/12/2026``, ``1.12.26``, ``20261201``) and date ranges, year
  ranges (``1990-2020``), dotted time ranges (``10.30-11.45``); colon times never join a
  run. A date next to another ``digit + separator`` is not excused (``06.12.34.56.78``).
- A decimal number: digits, one ``.`` or ``,``, digits (``3.14159265``).
- A reference number: a run of digits and separators only (no ``+``, no digit words,
  no letter o) right after ``#`` / ``№``, after letters glued by ``-`` or ``/``
  (``INV-2026-000123``, unless the letters are a phone word such as ``tel``), or after a
  reference word (``order``, ``invoice``, ``tracking``, ``sku``, ``ref`` ... optionally
  followed by ``no.``, ``number``, ``id``, ``is``; ``contact_vocabulary``). ``number`` or
  ``no`` alone excuse nothing: "my number is 0770..." is the case the filter exists for.
- Alphanumeric codes never form a run (``1Z999AA10123456784``, ``120x60x75``, ``v1.2.3``).
- ``at`` and ``dot`` in sentences ("see you at noon", "the dot pattern"), abbreviations
  (``e.g.``, ``i.e.``, ``a.m.``), file names with non-TLD extensions (``photo.jpg``), and
  a capitalised word TLD after a missing space (``Yes.It works``, ``Ok.Me too``).

Known gaps, on purpose: a user who labels a phone as an order number, separates digits by
commas or words, or writes a domain in a non-Latin script, passes; social handles
(``@shopguy``) are not contact details here. A regex filter stops the casual case. The
other way round, a bare number of 7+ digits with no currency, unit or label (``1.000.000``,
an IBAN, a card number) is hidden as a phone. A masked text can be longer than the
original: ``t.co`` (4 characters) becomes ``[hidden]`` (8), so at most twice as long.

Cost: every pattern is linear in the text (possessive quantifiers, atomic chunks, runs that
start only at token boundaries, bounded look-backs), and cheap pre-checks (digit and digit
word counts, ``@``, `` at ``, ``://``, ``.letter``) skip each detector a text cannot need.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

import attrs

from chat_server.domain.contact_links import find_links_and_emails
from chat_server.domain.contact_phones import Span, find_phones
from chat_server.domain.errors import FieldError, InvalidInput

HIDDEN = "[hidden]"
REFUSAL = "contact details are not allowed"


class FilterMode(enum.Enum):
    OFF = "off"
    MASK = "mask"
    BLOCK = "block"


@attrs.frozen
class FilteredText:
    """The text to store; ``masked`` says some contact detail was replaced by ``[hidden]``."""

    text: str
    masked: bool


def _domains(value: Iterable[str]) -> frozenset[str]:
    return frozenset(d.strip().strip(".").lower() for d in value if d.strip().strip("."))


@attrs.frozen
class ContactFilter:
    """Pure and stateless: one instance serves every send and edit."""

    mode: FilterMode = FilterMode.OFF
    allowed_domains: frozenset[str] = attrs.field(default=frozenset(), converter=_domains)

    def apply(self, text: str) -> FilteredText:
        """OFF: the text untouched. MASK: contact details replaced. BLOCK: raises
        ``InvalidInput([FieldError("text", "contact details are not allowed")])``."""
        if self.mode is FilterMode.OFF:
            return FilteredText(text, False)
        spans = find_contact_details(text, self.allowed_domains)
        if not spans:
            return FilteredText(text, False)
        if self.mode is FilterMode.BLOCK:
            raise InvalidInput([FieldError("text", REFUSAL)])
        return FilteredText(_masked(text, spans), True)


def find_contact_details(text: str, allowed_domains: frozenset[str] = frozenset()) -> list[Span]:
    """Sorted, disjoint (start, end) spans of the contact details in ``text``."""
    low = text.lower()
    if len(low) != len(text):  # only U+0130 (İ) lower-cases to two characters
        low = text.replace("\u0130", "i").lower()
    spans, kept = find_links_and_emails(text, low, allowed_domains)
    phones = find_phones(text, low)
    if phones:  # digits inside an allowed link (shop.example/p/12345678) are part of it
        spans += [s for s in phones if not any(a <= s[0] and s[1] <= b for a, b in kept)]
    return _merged(spans) if spans else spans


def _masked(text: str, spans: list[Span]) -> str:
    parts: list[str] = []
    last = 0
    for start, end in spans:
        parts += (text[last:start], HIDDEN)
        last = end
    parts.append(text[last:])
    return "".join(parts)


def _merged(spans: list[Span]) -> list[Span]:
    merged: list[Span] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged

