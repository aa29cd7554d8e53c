"""Checks on an upload's bytes that do not depend on its format: polyglots.

A polyglot is a file that is valid as two types at once, e.g. a GIF that is also an HTML
page or a JPEG with a ZIP appended (a "GIFAR"). Re-encoding already removes such payloads
from images; refusing them as well means a file that was crafted to be something else is
never kept, not even a PDF, which is stored as uploaded.
"""

from __future__ import annotations

import re

from chat_server.domain.media import UnsupportedMedia

# Markup that a browser would run or render, searched in the lower-cased bytes (a regex
# that starts with a literal is ten times faster than a case-insensitive one). Anywhere in
# the file: tags of at least four letters followed by a delimiter, which compressed pixel
# data matches by chance about once in 70,000 files of 10 MB. ``<svg``, three letters,
# would match once in 2,000: it is looked for where sniffing browsers look (the first
# ``SNIFF_WINDOW`` bytes); elsewhere in an image it is re-encoded away, and a PDF is only
# ever served as a download.
_MARKUP = re.compile(
    rb"<(?:script|html|iframe|object|embed|body|head|frameset|applet)[\s/>]"
    rb"|<!doctype\s+html|<\?xml-stylesheet"
)
_SVG = re.compile(rb"<svg[\s/>]")
_SCRIPT_URL = b"javascript:"
SNIFF_WINDOW = 1445  # what the WHATWG MIME sniffing algorithm reads
# A ZIP archive is read from its end: the end-of-central-directory record sits in the
# last 64 KB + 22 bytes (its comment is at most 65,535 bytes).
_ZIP_END = b"PK\x05\x06"
_ZIP_TAIL = 65_535 + 22


def refuse_polyglots(data: bytes) -> None:
    """Raise ``UnsupportedMedia`` when ``data`` also holds HTML/SVG/script or a ZIP."""
    lowered = data.lower()
    if (_MARKUP.search(lowered) or _SCRIPT_URL in lowered
            or _SVG.search(lowered, 0, SNIFF_WINDOW)):
        raise UnsupportedMedia("The file contains HTML or script content")
    if data.rfind(_ZIP_END, max(0, len(data) - _ZIP_TAIL)) != -1:
        raise UnsupportedMedia("The file also contains an archive")
