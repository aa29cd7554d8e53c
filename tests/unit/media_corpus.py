"""Files for the upload tests, good and bad, made here by the tests (nothing is checked in).

Also readers of what a stored image contains: the JPEG markers before its scan data and the
PNG chunk types, to prove that no metadata block is written back.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib

from PIL import ExifTags, Image

RED, BLUE = (220, 20, 20), (20, 20, 220)


def picture(width: int, height: int) -> Image.Image:
    """A photo-like picture: gradients and mild noise (compresses like a photo)."""
    gradient = Image.linear_gradient("L").resize((width, height))
    noise = Image.effect_noise((max(1, width // 4), max(1, height // 4)), 40).resize((width, height))
    return Image.merge("RGB", (gradient, noise, gradient.transpose(Image.Transpose.FLIP_LEFT_RIGHT)))


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def jpeg(width: int = 640, height: int = 480, **options: object) -> bytes:
    return encode(picture(width, height), "JPEG", quality=90, **options)


def jpeg_with_gps() -> bytes:
    """A phone photo: camera make, a comment, GPS coordinates, XMP and an ICC profile."""
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "PhoneMaker"
    exif[ExifTags.Base.Model] = "Phone 12"
    exif[ExifTags.IFD.GPSInfo] = {
        ExifTags.GPS.GPSLatitudeRef: "N", ExifTags.GPS.GPSLatitude: (48.0, 51.0, 29.0),
        ExifTags.GPS.GPSLongitudeRef: "E", ExifTags.GPS.GPSLongitude: (2.0, 17.0, 40.0),
    }
    xmp = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF><rdf:Description '
           b'photoshop:City="Paris"/></rdf:RDF></x:xmpmeta>')
    from PIL import ImageCms

    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    return encode(picture(800, 600), "JPEG", quality=90, exif=exif.tobytes(), xmp=xmp,
                  icc_profile=icc, comment=b"taken at home")


def rotated_jpeg() -> bytes:
    """Stored 400x200, left half red; EXIF orientation 6 says: turn it 90 degrees clockwise
    to show it, so upright it is 200x400 with the red half on top."""
    image = Image.new("RGB", (400, 200), BLUE)
    image.paste(RED, (0, 0, 200, 200))
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6
    return encode(image, "JPEG", quality=95, exif=exif.tobytes())


def png_with_text() -> bytes:
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "secret note")
    info.add_itxt("XML:com.adobe.xmp", "<x:xmpmeta/>")
    return encode(picture(300, 200).convert("RGBA"), "PNG", pnginfo=info)


def webp() -> bytes:
    return encode(picture(500, 300), "WEBP", quality=80)


def animated_gif(frames: int = 3) -> bytes:
    images = [Image.new("P", (120, 80), i * 40) for i in range(frames)]
    return encode(images[0], "GIF", save_all=True, append_images=images[1:], duration=100, loop=0)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bomb(side: int = 30_000) -> bytes:
    """A valid ``side`` x ``side`` 1-bit PNG (900 megapixels for 30,000): the rows are all
    zeros, compressed a row at a time, so the test never holds the pixels (about 100 KB)."""
    row = bytes(1 + (side + 7) // 8)  # filter byte + packed bits
    compressor = zlib.compressobj(9)
    idat = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", idat)
            + _png_chunk(b"IEND", b""))


HTML_PAGE = b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>"
SVG_WITH_SCRIPT = (b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="10" '
                   b'height="10"><script>alert(1)</script></svg>')


def gif_html_polyglot() -> bytes:
    """A valid GIF whose comment block is an HTML page."""
    return encode(Image.new("P", (40, 40), 3), "GIF", comment=HTML_PAGE)


def jpeg_zip_polyglot() -> bytes:
    """A valid JPEG with a ZIP archive appended (a "GIFAR"-style polyglot)."""
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("payload.class", b"\xca\xfe\xba\xbe" + bytes(100))
    return jpeg(200, 100) + archive.getvalue()


def pdf(objects: list[bytes], trailer_extra: bytes = b"", prefix: bytes = b"") -> bytes:
    """A PDF with these objects (numbered from 1; 1 must be the catalog) and a correct
    cross-reference table."""
    out = bytearray(prefix + b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += (b"trailer\n<< /Size %d /Root 1 0 R " % (len(objects) + 1)) + trailer_extra
    out += b">>\nstartxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


def _stream(dictionary: bytes, data: bytes) -> bytes:
    return b"<< " + dictionary + b" /Length %d >>\nstream\n" % len(data) + data + b"\nendstream"


_PAGE_OBJECTS = [
    b"<< /Type /Catalog /Pages 2 0 R >>",
    b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
    b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 300 144] /Contents 4 0 R "
    b"/Resources << /Font << /F1 5 0 R >> >> >>",
    _stream(b"", b"BT /F1 24 Tf 40 60 Td (Invoice 42) Tj ET"),
    b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
]


def minimal_pdf() -> bytes:
    """A real one-page PDF ("Invoice 42"), as a seller would send."""
    return pdf(list(_PAGE_OBJECTS))


def pdf_with_javascript(name: bytes = b"/JavaScript") -> bytes:
    catalog = b"<< /Type /Catalog /Pages 2 0 R /OpenAction 6 0 R >>"
    action = b"<< /S " + name + b" /JS (app.alert\\('hi'\\)) >>"
    return pdf([catalog, *_PAGE_OBJECTS[1:], action])


def pdf_with_javascript_in_object_stream() -> bytes:
    """The action sits in a compressed object stream, invisible to a scan of the raw file."""
    hidden = b"<< /S /JavaScript /JS (app.alert\\(1\\)) >>"
    header = b"7 0 "
    stream = _stream(b"/Type /ObjStm /N 1 /First %d /Filter /FlateDecode" % len(header),
                     zlib.compress(header + hidden))
    catalog = b"<< /Type /Catalog /Pages 2 0 R /OpenAction 7 0 R >>"
    return pdf([catalog, *_PAGE_OBJECTS[1:], stream])


def pdf_with_launch_action() -> bytes:
    catalog = b"<< /Type /Catalog /Pages 2 0 R /OpenAction 6 0 R >>"
    return pdf([catalog, *_PAGE_OBJECTS[1:], b"<< /S /Launch /F (calc.exe) >>"])


def encrypted_pdf() -> bytes:
    objects = [*_PAGE_OBJECTS, b"<< /Filter /Standard /V 1 /R 2 /O <00> /U <00> /P -4 >>"]
    return pdf(objects, trailer_extra=b"/Encrypt 6 0 R ")


def pdf_after_html() -> bytes:
    """PDF readers accept junk before ``%PDF``; a browser sniffing it sees HTML."""
    return pdf(list(_PAGE_OBJECTS), prefix=HTML_PAGE + b"\n")


def jpeg_markers(data: bytes) -> list[int]:
    """The marker bytes of a JPEG's segments up to its first scan (SOS)."""
    assert data[:2] == b"\xff\xd8"
    markers, position = [], 2
    while position < len(data):
        assert data[position] == 0xFF
        marker = data[position + 1]
        markers.append(marker)
        if marker == 0xDA:
            break
        (length,) = struct.unpack(">H", data[position + 2:position + 4])
        position += 2 + length
    return markers


def png_chunks(data: bytes) -> list[bytes]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    kinds, position = [], 8
    while position < len(data):
        (length,) = struct.unpack(">I", data[position:position + 4])
        kinds.append(data[position + 4:position + 8])
        position += 12 + length
    return kinds
