"""Checks on a PDF before it is stored as uploaded (and then served only as a download).

Refused: anything before ``%PDF-`` (``sniff`` already), a file without ``%%EOF`` near its
end (truncated), encryption (what it hides cannot be checked), and active or embedded
content: ``/JavaScript``, ``/JS``, ``/Launch``, ``/EmbeddedFile(s)``, ``/RichMedia``,
``/SubmitForm``, ``/ImportData``, ``/GoToE``, ``/XFA``, in plain objects and in compressed
object streams, names written with ``#xx`` escapes included.

This is a scanner, not a PDF parser: it looks for those names wherever a reader could find
them (outside stream data, inside object streams) and is strict where it cannot tell
(object streams with a filter other than Flate are refused). docs/attachments.md lists
what it does not do.
"""

from __future__ import annotations

import re
import zlib

from chat_server.domain.media import MediaTooLarge, UnsupportedMedia

_DELIMITER = rb"\x00\t\n\x0c\r ()<>\[\]{}/%"
# Names that act or embed. Long ones are searched everywhere, stream data included: they
# do not occur by chance. Short ones only where objects are written.
_LONG_NAMES = (b"JavaScript", b"Launch", b"EmbeddedFile", b"EmbeddedFiles", b"RichMedia",
               b"SubmitForm", b"ImportData", b"GoToE")
_SHORT_NAMES = (b"JS", b"XFA", b"Encrypt")
_DANGEROUS = frozenset(_LONG_NAMES + _SHORT_NAMES)
_END_OF_NAME = rb"(?![^" + _DELIMITER + rb"])"
_LONG = re.compile(rb"/(?:" + b"|".join(_LONG_NAMES) + rb")" + _END_OF_NAME)
_SHORT = re.compile(rb"/(?:" + b"|".join(_SHORT_NAMES) + rb")" + _END_OF_NAME)
# A name with at least one #xx escape: decoded, then compared.
_ESCAPED_NAME = re.compile(
    rb"/([^" + _DELIMITER + rb"]*#[0-9A-Fa-f]{2}[^" + _DELIMITER + rb"]*)")
_STREAM = re.compile(rb"stream\r?\n")  # a literal first: fast; "endstream" is skipped below
_ENDSTREAM = b"endstream"
_OBJ = re.compile(rb"\d+\s+\d+\s+obj\b")
_FILTER = re.compile(rb"/Filter\s*(\[[^\]]*\]|/[^" + _DELIMITER + rb"]+)")
_FILTER_NAME = re.compile(rb"/([^" + _DELIMITER + rb"]+)")
_EOF_WINDOW = 1024
# Object streams are inflated to be checked; this bounds the work (a zip bomb is refused).
MAX_INFLATED_BYTES = 64 * 2**20
_DICT_WINDOW = 4096


def _unescape(name: bytes) -> bytes:
    return re.sub(rb"#([0-9A-Fa-f]{2})", lambda m: bytes([int(m.group(1), 16)]), name)


def _refuse_names(text: bytes, short_too: bool) -> None:
    found = _LONG.search(text) or (_SHORT.search(text) if short_too else None)
    if found is None:
        for escaped in _ESCAPED_NAME.finditer(text):
            if _unescape(escaped.group(1)) in _DANGEROUS:
                found = escaped
                break
    if found is not None:
        name = _unescape(found.group(0)).decode("latin-1")
        if name == "/Encrypt":
            raise UnsupportedMedia("Encrypted PDFs are not accepted")
        raise UnsupportedMedia(f"PDFs with active or embedded content ({name}) are not accepted")


def _object_streams(data: bytes) -> tuple[list[tuple[bytes, bytes]], bytes]:
    """Every stream whose dictionary says ``/Type /ObjStm``, as (dictionary, raw data), and
    the file's text outside all stream data (where objects are written)."""
    outside: list[bytes] = []
    object_streams: list[tuple[bytes, bytes]] = []
    position = 0
    for match in _STREAM.finditer(data):
        start = match.end()
        if start < position or data[match.start() - 3:match.start()] == b"end":
            continue  # inside an earlier stream's data, or its "endstream"
        end = data.find(_ENDSTREAM, start)
        if end == -1:
            raise UnsupportedMedia("The PDF is damaged or truncated")
        head = data[max(position, match.start() - _DICT_WINDOW):match.start()]
        objects = list(_OBJ.finditer(head))
        dictionary = _unescape(head[objects[-1].end():] if objects else head)
        if re.search(rb"/Type\s*/ObjStm" + _END_OF_NAME, dictionary):
            object_streams.append((dictionary, data[start:end]))
        outside.append(data[position:match.start()])
        position = end + len(_ENDSTREAM)
    outside.append(data[position:])
    return object_streams, b"\n".join(outside)


def _inflate(dictionary: bytes, raw: bytes, budget: int) -> bytes:
    found = _FILTER.search(dictionary)
    filters = [] if found is None else _FILTER_NAME.findall(found.group(1))
    if not filters:
        return raw
    if filters not in ([b"FlateDecode"], [b"Fl"]) or b"/DecodeParms" in dictionary:
        raise UnsupportedMedia("The PDF compresses its objects in a way that cannot be checked")
    inflater = zlib.decompressobj()
    try:
        inflated = inflater.decompress(raw, budget + 1)
    except zlib.error:
        raise UnsupportedMedia("The PDF is damaged") from None
    if len(inflated) > budget:
        raise MediaTooLarge("The PDF expands to too much data to be checked")
    return inflated


def check_pdf(data: bytes) -> None:
    """Raise ``UnsupportedMedia`` (or ``MediaTooLarge`` for a PDF that inflates beyond
    ``MAX_INFLATED_BYTES``) unless ``data`` is a passive, unencrypted, complete PDF."""
    if not re.match(rb"%PDF-[12]\.\d", data):
        raise UnsupportedMedia("The file is not a PDF")
    if b"%%EOF" not in data[-_EOF_WINDOW:]:
        raise UnsupportedMedia("The PDF is truncated")
    _refuse_names(data, short_too=False)
    object_streams, outside = _object_streams(data)
    _refuse_names(outside, short_too=True)
    budget = MAX_INFLATED_BYTES
    for dictionary, raw in object_streams:
        inflated = _inflate(dictionary, raw, budget)
        budget -= len(inflated)
        _refuse_names(inflated, short_too=True)
