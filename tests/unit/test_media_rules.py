"""The small rules of attachments: sniffing, names, attachment lists, media settings and
URL signatures."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from chat_server.adapters.system.media_signing import HmacMediaSigner
from chat_server.domain.media import (
    MediaFormat,
    Variant,
    clean_name,
    describe_size,
    sniff,
    validate_attachment_ids,
)
from chat_server.domain.model import UserRef, UserType
from chat_server.entrypoints.http.media_urls import BadMediaQuery, parse_media_query
from chat_server.entrypoints.settings import ConfigError, Settings, derive_media_key

SECRET = "unit-tests-secret-0123456789"
CUSTOMER = UserRef(UserType.CUSTOMER, 7)


@pytest.mark.parametrize(("head", "fmt"), [
    (b"\xff\xd8\xff\xe0rest", MediaFormat.JPEG), (b"\x89PNG\r\n\x1a\n....", MediaFormat.PNG),
    (b"GIF89a....", MediaFormat.GIF), (b"RIFF\x00\x00\x00\x00WEBPVP8 ", MediaFormat.WEBP),
    (b"%PDF-1.7\n", MediaFormat.PDF), (b" %PDF-1.7", None), (b"<html>", None),
    (b"RIFF\x00\x00\x00\x00WAVE", None), (b"PK\x03\x04", None), (b"", None),
])
def test_files_are_recognised_by_their_first_bytes_only(head: bytes, fmt: MediaFormat | None):
    assert sniff(head) is fmt


@pytest.mark.parametrize(("raw", "extension", "name"), [
    ("IMG_0001.JPG", "jpg", "IMG_0001.jpg"),
    ("../../etc/passwd", "png", "passwd.png"),
    ("C:\\Users\\me\\scan.gif", "png", "scan.png"),
    ('a"b<c>\x00d.pdf', "pdf", "a_b_c__d.pdf"),
    ("", "jpg", "upload.jpg"),
    ("...", "jpg", "upload.jpg"),
    ("Facture n°42.pdf", "pdf", "Facture n°42.pdf"),
    ("x" * 500 + ".png", "png", "x" * 196 + ".png"),
])
def test_names_are_display_names_with_the_stored_extension(raw: str, extension: str, name: str):
    assert clean_name(raw, extension) == name


def test_attachment_lists_hold_at_most_ten_distinct_ids():
    ids = [f"{i:024x}" for i in range(11)]
    assert validate_attachment_ids(ids[:10]) == []
    assert "at most 10" in validate_attachment_ids(ids)[0].message
    assert "twice" in validate_attachment_ids([ids[0], ids[0]])[0].message
    assert validate_attachment_ids(["nope", 3])[0].field == "attachments"


def test_sizes_read_as_people_write_them():
    assert [describe_size(n) for n in (10 * 2**20, 20 * 2**20, 64 * 1024, 900)] == [
        "10 MB", "20 MB", "64 KB", "900 bytes"]


def test_media_settings_defaults():
    settings = Settings.load({"CHAT_JWT_SECRET": SECRET})
    assert (settings.media_storage, settings.media_max_bytes, settings.media_max_pdf_bytes) == (
        "fs", 10 * 2**20, 20 * 2**20)
    assert settings.media_dir.endswith("/media") and settings.media_dir.startswith("/")
    assert (settings.media_url_ttl_s, settings.media_unattached_ttl_s) == (86_400, 86_400)
    assert (settings.media_workers, settings.media_queue) == (2, 8)
    assert settings.upload_limit is not None and settings.upload_limit.burst == 10
    assert settings.upload_limit.per_second == pytest.approx(20 / 3600)
    key = settings.media_signing_key
    assert key == derive_media_key(SECRET) and SECRET.encode() not in key
    assert Settings.load({"CHAT_JWT_SECRET": SECRET, "CHAT_UPLOAD_RATE": "off"}).upload_limit is None


def test_settings_built_in_code_with_a_jwt_secret_derive_the_media_key_too():
    assert Settings(jwt_secret=SECRET).media_signing_key == derive_media_key(SECRET)


def test_a_media_secret_wins_and_rs256_requires_one():
    given = "m" * 32
    assert Settings.load({"CHAT_JWT_SECRET": SECRET, "CHAT_MEDIA_SECRET": given}
                         ).media_signing_key == given.encode()
    public = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    pem = public.public_bytes(serialization.Encoding.PEM,
                              serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    env = {"CHAT_JWT_ALGORITHMS": "RS256", "CHAT_JWT_PUBLIC_KEY": pem}
    with pytest.raises(ConfigError, match="CHAT_MEDIA_SECRET is required"):
        _ = Settings.load(env).media_signing_key
    assert Settings.load(env | {"CHAT_MEDIA_SECRET": given}).media_signing_key == given.encode()


@pytest.mark.parametrize(("env", "says"), [
    ({"CHAT_MEDIA_STORAGE": "s3"}, "CHAT_MEDIA_STORAGE"),
    ({"CHAT_MEDIA_STORAGE": "gridfs"}, "needs CHAT_STORAGE=mongo"),
    ({"CHAT_MEDIA_SECRET": "short"}, "CHAT_MEDIA_SECRET is too short"),
    ({"CHAT_MEDIA_MAX_BYTES": "10MB"}, "CHAT_MEDIA_MAX_BYTES"),
    ({"CHAT_MEDIA_WORKERS": "0"}, "CHAT_MEDIA_WORKERS"),
    ({"CHAT_MEDIA_BASE_URL": "chat.example.com"}, "CHAT_MEDIA_BASE_URL"),
    ({"CHAT_UPLOAD_RATE": "lots"}, "CHAT_UPLOAD_RATE"),
])
def test_bad_media_settings_are_refused(env: dict[str, str], says: str):
    with pytest.raises(ConfigError, match=says):
        Settings.load({"CHAT_JWT_SECRET": SECRET, **env})


def test_a_signature_binds_id_variant_viewer_and_expiry():
    now = [1_800_000_000.0]
    signer = HmacMediaSigner(b"k" * 32, 60, clock=lambda: now[0])
    grant = signer.sign("a" * 24, Variant.ORIGINAL, CUSTOMER)
    assert grant.expires_at == 1_800_000_060 and len(grant.signature) == 64
    assert signer.verify("a" * 24, Variant.ORIGINAL, CUSTOMER, grant)
    assert not signer.verify("b" * 24, Variant.ORIGINAL, CUSTOMER, grant)
    assert not signer.verify("a" * 24, Variant.THUMB, CUSTOMER, grant)
    assert not signer.verify("a" * 24, Variant.ORIGINAL, UserRef(UserType.VENDOR, 7), grant)
    assert not HmacMediaSigner(b"j" * 32, 60, clock=lambda: now[0]).verify(
        "a" * 24, Variant.ORIGINAL, CUSTOMER, grant)
    now[0] += 60
    assert signer.verify("a" * 24, Variant.ORIGINAL, CUSTOMER, grant)
    now[0] += 1
    assert not signer.verify("a" * 24, Variant.ORIGINAL, CUSTOMER, grant)
    with pytest.raises(ValueError):
        HmacMediaSigner(b"short", 60)


@pytest.mark.parametrize("query", [
    {}, {"u": "customer:7", "exp": "1", "sig": "g" * 64}, {"u": "admin:7", "exp": "1", "sig": "0" * 64},
    {"u": "customer:0", "exp": "1", "sig": "0" * 64}, {"u": "customer:7", "exp": "-1", "sig": "0" * 64},
    {"u": "customer:99999999999999999", "exp": "1", "sig": "0" * 64},
])
def test_malformed_media_queries_are_refused(query: dict[str, str]):
    with pytest.raises(BadMediaQuery):
        parse_media_query(query)


def test_several_nodes_keep_media_in_gridfs_and_refuse_files_on_one_node():
    nodes = {"CHAT_JWT_SECRET": SECRET, "CHAT_STORAGE": "mongo",
             "CHAT_REDIS_URL": "redis://127.0.0.1:6379/0"}
    assert Settings.load(nodes).media_storage == "gridfs"
    assert Settings.load({"CHAT_JWT_SECRET": SECRET, "CHAT_STORAGE": "mongo"}
                         ).media_storage == "fs"
    with pytest.raises(ConfigError, match="CHAT_MEDIA_STORAGE=gridfs"):
        Settings.load(nodes | {"CHAT_MEDIA_STORAGE": "fs"})
