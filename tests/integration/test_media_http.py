"""Uploads and media URLs over real HTTP: multipart uploads from aiohttp (and by hand on a
socket) to the media routes served by uvicorn, files made by ``media_corpus``."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import aiohttp
import media_corpus as corpus
import pytest
import pytest_asyncio
from media_support import (
    LIMITS,
    MAX_RECEIVING,
    UPLOAD_BURST,
    URL_TTL_S,
    MediaService,
    RawUpload,
    media_service,
    new_user,
    token_for,
)
from PIL import Image

from chat_server.application.uploads import DeleteAttachments
from chat_server.domain.model import UserRef, UserType


@pytest_asyncio.fixture(scope="module")
async def service(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[MediaService]:
    async with media_service(tmp_path_factory.mktemp("media")) as running:
        yield running


@pytest_asyncio.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        yield session


async def upload(http: aiohttp.ClientSession, service: MediaService, user: UserRef | None,
                 data: bytes, filename: str, content_type: str = "application/octet-stream",
                 ) -> tuple[int, dict[str, Any]]:
    form = aiohttp.FormData()
    form.add_field("note", "a field that is not the file")
    form.add_field("file", data, filename=filename, content_type=content_type)
    headers = {} if user is None else {"Authorization": f"Bearer {token_for(user)}"}
    async with http.post(f"{service.url}/api/v1/me/uploads", data=form, headers=headers) as r:
        body = await r.json()
        assert body["statusCode"] == r.status
        return r.status, body


async def fetch(http: aiohttp.ClientSession, url: str) -> tuple[int, bytes, Any]:
    async with http.get(url) as response:
        return response.status, await response.read(), response.headers


def with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()} | changes
    return parts._replace(query=urlencode(query)).geturl()


async def test_a_photo_uploads_as_an_attachment_whose_urls_serve_a_clean_image(http, service):
    user = new_user()
    status, body = await upload(http, service, user, corpus.jpeg_with_gps(), "IMG_0001.JPG",
                                "image/jpeg")
    assert (status, body["error"], body["message"]) == (201, False, "File has been uploaded")
    data = body["data"]
    assert {k: data[k] for k in ("kind", "mime", "name", "width", "height")} == {
        "kind": "image", "mime": "image/jpeg", "name": "IMG_0001.jpg", "width": 800,
        "height": 600}
    assert parse_qs(urlsplit(data["url"]).query)["u"] == [str(user)]
    status, content, headers = await fetch(http, data["url"])
    assert status == 200 and len(content) == data["size"]
    assert headers["Content-Type"] == "image/jpeg"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Content-Disposition"].startswith("inline;")
    assert headers["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert headers["Cache-Control"].startswith("private, max-age=")
    served = Image.open(io.BytesIO(content))
    assert not served.getexif() and not served.getexif().get_ifd(0x8825)
    assert "icc_profile" not in served.info and "comment" not in served.info
    status, thumb, _ = await fetch(http, data["thumbnailUrl"])
    assert status == 200 and max(Image.open(io.BytesIO(thumb)).size) == 320


async def test_a_rotated_photo_is_served_upright(http, service):
    status, body = await upload(http, service, new_user(), corpus.rotated_jpeg(), "r.jpg")
    assert status == 201 and (body["data"]["width"], body["data"]["height"]) == (200, 400)


async def test_a_pdf_uploads_as_a_file_served_only_as_a_download(http, service):
    status, body = await upload(http, service, new_user(UserType.VENDOR), corpus.minimal_pdf(),
                                "Facture n°42.pdf", "application/pdf")
    assert status == 201
    data = body["data"]
    assert data["kind"] == "file" and data["mime"] == "application/pdf"
    assert "thumbnailUrl" not in data and "width" not in data
    status, content, headers = await fetch(http, data["url"])
    assert status == 200 and content == corpus.minimal_pdf()
    assert headers["Content-Type"] == "application/pdf"
    assert headers["Content-Disposition"] == (
        "attachment; filename=\"Facture n_42.pdf\"; filename*=UTF-8''Facture%20n%C2%B042.pdf")
    thumb = data["url"].replace("/media/" + data["id"], f"/media/{data['id']}/thumb")
    assert (await fetch(http, thumb))[0] == 403  # never signed for a thumbnail


@pytest.mark.parametrize(("data", "filename", "status", "says"), [
    (corpus.HTML_PAGE, "photo.png", 415, "not a JPEG, PNG, WebP or GIF"),
    (corpus.SVG_WITH_SCRIPT, "photo.svg", 415, "not a JPEG, PNG, WebP or GIF"),
    (corpus.jpeg()[:5000], "cut.jpg", 415, "damaged or truncated"),
    (corpus.gif_html_polyglot(), "poly.gif", 415, "HTML or script"),
    (corpus.pdf_with_javascript(), "invoice.pdf", 415, "/JavaScript"),
    (corpus.pdf_after_html(), "invoice.pdf", 415, "not a JPEG"),
    (corpus.png_bomb(), "bomb.png", 413, "megapixels"),
    (b"\xff\xd8\xff\xe0" + bytes(LIMITS.max_image_bytes), "huge.jpg", 413,
     "Images may be at most 2 MB"),
])
async def test_bad_files_are_refused_with_a_clear_envelope(http, service, data, filename,
                                                          status, says):
    user = new_user()
    got, body = await upload(http, service, user, data, filename, "image/png")
    assert got == status and body["error"] is True
    assert body["message"] == {415: "Unsupported file type", 413: "File is too large"}[status]
    [error] = body["data"]["errors"]
    assert error["field"] == "file" and says in error["message"]
    assert await service.attachments.by_uploader(user, 10) == []


async def test_a_body_over_the_limit_is_refused_as_it_streams_not_after(service):
    raw = await RawUpload(service, token_for(new_user())).open()
    status = asyncio.ensure_future(raw.status())
    plan, chunk = 40 * LIMITS.max_image_bytes, bytes(64 * 1024)
    try:
        while not status.done() and raw.sent < plan:
            raw.chunk(chunk)
            drained = asyncio.ensure_future(raw.writer.drain())
            await asyncio.wait({drained, status}, return_when=asyncio.FIRST_COMPLETED)
        assert status.done(), "the whole body was taken in"
        assert await status == 413
        assert raw.sent < 10 * LIMITS.max_image_bytes
    finally:
        await raw.close()


async def test_a_declared_length_over_the_limit_is_refused_before_any_body(service):
    reader, writer = await asyncio.open_connection(service.host, service.port)
    writer.write((f"POST /api/v1/me/uploads HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                  f"{token_for(new_user())}\r\nContent-Type: multipart/form-data; boundary=b\r\n"
                  "Content-Length: 999999999\r\n\r\n").encode())
    await writer.drain()
    assert (await reader.readline()).split()[1] == b"413"
    writer.close()


async def test_a_body_that_stops_arriving_gets_408(service):
    raw = await RawUpload(service, token_for(new_user())).open()
    try:
        assert await asyncio.wait_for(raw.status(), 10) == 408
    finally:
        await raw.close()


async def test_uploads_beyond_those_being_received_get_503_and_others_carry_on(http, service):
    held = [await RawUpload(service, token_for(new_user())).open() for _ in range(MAX_RECEIVING)]
    try:
        for _ in range(100):  # until the held uploads are all inside the route
            status, body = await upload(http, service, new_user(), b"not an image", "x.bin")
            if status == 503:
                break
        assert (status, body["message"]) == (503, "Uploads are busy, please retry shortly")
    finally:
        for raw in held:
            await raw.close()
    for _ in range(100):  # the route notices the closed connections
        status, _ = await upload(http, service, new_user(), corpus.jpeg(), "ok.jpg")
        if status == 201:
            break
    assert status == 201


@pytest.mark.parametrize(("headers", "message"), [
    ({}, "Token missing"),
    ({"Authorization": "Bearer not-a-jwt"}, "Invalid token"),
    ({"Authorization": "Basic dXNlcjpwYXNz"}, "Invalid token"),
])
async def test_uploads_need_the_users_jwt(http, service, headers, message):
    form = aiohttp.FormData()
    form.add_field("file", corpus.jpeg(), filename="a.jpg")
    async with http.post(f"{service.url}/api/v1/me/uploads", data=form, headers=headers) as r:
        assert r.status == 401
        assert await r.json() == {"statusCode": 401, "error": True, "message": message}


async def test_an_expired_token_is_refused(http, service):
    form = aiohttp.FormData()
    form.add_field("file", corpus.jpeg(), filename="a.jpg")
    headers = {"Authorization": f"Bearer {token_for(new_user(), ttl_s=-10)}"}
    async with http.post(f"{service.url}/api/v1/me/uploads", data=form, headers=headers) as r:
        assert (r.status, (await r.json())["message"]) == (401, "Token expired")


async def test_a_body_without_a_file_field_is_a_400(http, service):
    headers = {"Authorization": f"Bearer {token_for(new_user())}"}
    async with http.post(f"{service.url}/api/v1/me/uploads", data={"other": "x"},
                         headers=headers) as r:
        body = await r.json()
    assert r.status == 400 and body["data"]["errors"][0]["field"] == "file"


async def test_each_user_has_an_upload_allowance(http, service):
    user = new_user()
    statuses = [(await upload(http, service, user, b"x", "x.bin"))[0]
                for _ in range(UPLOAD_BURST + 1)]
    assert statuses == [415] * UPLOAD_BURST + [429]
    assert (await upload(http, service, new_user(), b"x", "x.bin"))[0] == 415


async def test_altered_or_expired_urls_and_urls_of_someone_else_are_403(http, service):
    user, stranger = new_user(), new_user()
    status, body = await upload(http, service, user, corpus.jpeg(), "a.jpg")
    url = body["data"]["url"]
    signature = parse_qs(urlsplit(url).query)["sig"][0]
    exp = parse_qs(urlsplit(url).query)["exp"][0]
    altered = [
        with_query(url, u=str(stranger)),
        with_query(url, sig=signature[:-1] + ("0" if signature[-1] != "0" else "1")),
        with_query(url, exp=str(int(exp) + 3600)),
        with_query(url, sig="nothex"),
        url.split("?")[0],
        url.replace(body["data"]["id"], "f" * 24),
        url.replace(body["data"]["id"], "..%2E%2E"),
    ]
    for bad in altered:
        status, content, _ = await fetch(http, bad)
        assert status == 403, bad
        assert b"This link is invalid or has expired" in content
    # A path that leaves /media/ is no media route at all.
    traversal = url.replace(body["data"]["id"], "..%2F..%2Fetc%2Fpasswd")
    assert (await fetch(http, traversal))[0] == 404
    assert (await fetch(http, url))[0] == 200
    service.unix_time[0] += URL_TTL_S + 1
    try:
        assert (await fetch(http, url))[0] == 403
    finally:
        service.unix_time[0] -= URL_TTL_S + 1


async def test_an_attachment_deleted_with_its_message_answers_404(http, service):
    user = new_user()
    status, body = await upload(http, service, user, corpus.jpeg(), "a.jpg")
    message_id = "6b060a73b452245f69095cd2"
    await service.attachments.claim([body["data"]["id"]], user, message_id)
    assert (await fetch(http, body["data"]["thumbnailUrl"]))[0] == 200
    await service.delete(DeleteAttachments(message_id=message_id))
    for url in (body["data"]["url"], body["data"]["thumbnailUrl"]):
        status, content, _ = await fetch(http, url)
        assert status == 404 and b"File was not found" in content


def test_nothing_is_stored_under_a_name_a_client_chose(service):
    names = {p.name for p in Path(service.store._root).rglob("*") if p.is_file()}
    assert names <= {"original.jpg", "thumb.jpg", "original.png", "thumb.png",
                     "original.webp", "thumb.webp", "original.pdf"}
