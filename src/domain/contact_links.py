"""E-mail addresses and links for the contact-detail filter (the rules are in
``contact_filter``): anchored on ``@`` / spelled ``at``, ``://`` and ``.letter``, so that
a text without them costs three substring searches.
"""

from __future__ import annotations

import re

from chat_server.domain import contact_vocabulary as vocab

Span = tuple[int, int]


def find_links_and_emails(text: str, low: str, allowed: frozenset[str]
                          ) -> tuple[list[Span], list[Span]]:
    """Spans of the links and e-mail addresses in ``text`` (given its lower-cased ``low``)
    to hide, and of the allowed links, whose digits are product ids, not phone numbers.
    An allowed address does not cover the digits of its local part (5551234567@shop.com)."""
    flagged: list[Span] = []
    kept: list[Span] = []
    dotted = "." in low
    if (dotted and _DOT_LETTER.search(low)) or "://" in low:
        _links(low, text, allowed, flagged, kept)
    if "@" in low or ("at" in low and _may_hold_spelled_at(low)):
        _emails(low, allowed, flagged)
    if "dot" in low or (dotted and ("(" in low or "[" in low or "{" in low or "<" in low)):
        _obfuscated_links(low, allowed, flagged)
    return flagged, kept


def is_allowed_host(host: str, allowed: frozenset[str]) -> bool:
    """The host is an allowed domain or one of its subdomains."""
    host = host.rstrip(".")
    while allowed and host:
        if host in allowed:
            return True
        host = host.partition(".")[2]
    return False


_AT = re.compile(r"@|[(\[{<]\s?at\s?[)\]}>]|\sat(?=\s)")
_DOT = r"\s*[(\[{<]\s?(?:dot|\.)\s?[)\]}>]\s*|\s+dot\s+|\s+\.\s*|\."
_DOT_RE = re.compile(_DOT)
_LABEL = r"[a-z0-9][a-z0-9\-]*+"
_EMAIL_DOMAIN = re.compile(rf"\s*+({_LABEL}(?:(?:{_DOT}){_LABEL}){{1,8}}+)")
_LOCAL_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789._%+-"


def _may_hold_spelled_at(low: str) -> bool:
    if " at" in low and ("dot" in low or " ." in low):
        return True
    return "(at" in low or "[at" in low or "{at" in low or "<at" in low


def _emails(low: str, allowed: frozenset[str], flagged: list[Span]) -> None:
    """Adds the spans of the addresses around each ``@`` or spelled ``at``."""
    for at in _AT.finditer(low):
        domain = _EMAIL_DOMAIN.match(low, at.end())
        if domain is None:
            continue
        labels, end, literal = _labels_to_tld(low, domain.start(1), domain.end(1))
        if not labels or (literal and at.group()[-2:] == "at"):
            continue  # no TLD; or "sales at shop.com", which the link rule hides
        local_end = at.start()
        while local_end > max(0, at.start() - 8) and low[local_end - 1].isspace():
            local_end -= 1
        head = low[max(0, local_end - 64):local_end]
        local = head[len(head.rstrip(_LOCAL_CHARS)):].lstrip(".")
        if local and not is_allowed_host(".".join(labels), allowed):
            flagged.append((local_end - len(local), end))


def _labels_to_tld(low: str, start: int, end: int) -> tuple[list[str], int, bool]:
    """The domain's labels up to its last known TLD, where that TLD ends, and whether
    every separator was a literal dot."""
    bounds: list[Span] = []
    literal = True
    position = start
    for dot in _DOT_RE.finditer(low, start, end):
        bounds.append((position, dot.start()))
        literal = literal and dot.group() == "."
        position = dot.end()
    bounds.append((position, end))
    for last in range(len(bounds) - 1, 0, -1):
        if low[bounds[last][0]:bounds[last][1]] in vocab.TLDS:
            return [low[a:b] for a, b in bounds[:last + 1]], bounds[last][1], literal
    return [], end, literal


_SCHEME_URL = re.compile(r"[a-z][a-z0-9+.\-]{0,19}+://[^\s<>\"'`]*+|://[^\s<>\"'`]*+")
_AUTHORITY_END = re.compile(r"[/?#\\]")
_DOT_LETTER = re.compile(r"\.[a-z]")
_BARE_HOST = re.compile(r"([a-z0-9\-]++(?:\.[a-z0-9\-]++)++)(?::\d{1,5}+)?(?:[/?#][^\s<>\"'`]*+)?")
_HOST_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789-"
_SHORT_LINK_HOSTS = vocab.SHORT_LINK_HOSTS


def _links(low: str, text: str, allowed: frozenset[str], flagged: list[Span], kept: list[Span]
           ) -> None:
    """Adds the spans of URLs with a scheme, www. hosts and bare host names."""
    if "://" in low:
        for url in _SCHEME_URL.finditer(low):
            end = _without_trailing_punctuation(low, url.start(), url.end())
            authority = _AUTHORITY_END.split(low[url.start():end].partition("://")[2], 1)[0]
            host = authority.rpartition("@")[2].partition(":")[0]
            (kept if is_allowed_host(host, allowed) else flagged).append((url.start(), end))
    urls = flagged + kept
    resume = 0
    for hit in _DOT_LETTER.finditer(low):
        dot = hit.start()
        if dot < resume or any(a <= dot < b for a, b in urls):
            continue
        head = low[max(resume, dot - 253):dot]
        start = dot - (len(head) - len(head.rstrip(_HOST_CHARS)))
        link = _BARE_HOST.match(low, start) if start < dot else None
        if link is None:
            continue
        resume = link.end()
        host = link.group(1)
        if _is_link(host, text, link.start(1), link.end(1), has_path=link.end() > link.end(1)):
            span = (start, _without_trailing_punctuation(low, start, link.end()))
            (kept if is_allowed_host(host, allowed) else flagged).append(span)


_BRACKET_DOT = r"\s?[(\[{<]\s?(?:dot|\.)\s?[)\]}>]\s?"
_PATH = re.compile(r"(?:[/?#][^\s<>\"'`]*+)?")
_OBFUSCATED_HOST = re.compile(
    rf"(?<![a-z0-9\-]){_LABEL}(?:(?:{_BRACKET_DOT}|\s+dot\s+|\.){_LABEL}){{1,8}}+"
)


def _obfuscated_links(low: str, allowed: frozenset[str], flagged: list[Span]) -> None:
    """Hosts written with a bracketed dot (``myshop(dot)com``, ``evil[.]com``), or with
    `` dot `` after ``www`` (``www dot myshop dot com``); "the dot com bubble" is a sentence."""
    for host in _OBFUSCATED_HOST.finditer(low):
        labels, end, literal = _labels_to_tld(low, host.start(), host.end())
        if not labels or literal:
            continue  # a host with literal dots only is the bare-host rule's
        bracketed = re.search(_BRACKET_DOT, low[host.start():end]) is not None
        if (bracketed or labels[0] == "www") and not is_allowed_host(".".join(labels), allowed):
            path = _PATH.match(low, end)  # matches at least the empty string
            path_end = path.end() if path else end
            flagged.append((host.start(), _without_trailing_punctuation(low, end, path_end)))


def _is_link(host: str, text: str, start: int, end: int, *, has_path: bool) -> bool:
    labels = host.split(".")
    if labels[0].rstrip("0123456789") == "www" or host in _SHORT_LINK_HOSTS:
        return True
    tld = labels[-1]
    if tld not in vocab.TLDS:
        return False
    if tld in vocab.WORD_TLDS and not has_path:
        written = text[end - len(tld):end]
        return not (written[0].isupper() and written[1:].islower())  # "Yes.It works"
    return True


def _without_trailing_punctuation(low: str, start: int, end: int) -> int:
    """A sentence's full stop or closing bracket after a link is not part of it."""
    while end > start and low[end - 1] in ".,;:!?'\")]}":
        closer = low[end - 1]
        opener = {")": "(", "]": "[", "}": "{"}.get(closer)
        if opener and low.count(opener, start, end) >= low.count(closer, start, end):
            break
        end -= 1
    return end
