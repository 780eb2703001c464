"""The web page serves files from either blob store: whole, by Range (video seeking), revalidated by ETag, and
with a short page when the store is out of reach or a file went missing."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from bots.web.app import create_app
from core import links
from core.settings import Settings
from storage.blobs import open_blob_store
from storage.db import Database
from storage.migrate import upgrade
from storage.repositories import assets as asset_repo
from storage.repositories import users as user_repo
from tests.services import S3Server

CLIP = os.urandom(3 * 2**20 + 123)  # a "video" of a little over 3 MB: several read chunks


@pytest.fixture
def site(blob_settings: Settings) -> Iterator[tuple[TestClient, str, str]]:
    """The web page on ``blob_settings``, and the single-file link path and blob of a stored video asset."""
    db = Database(blob_settings.resolved_database_url)
    upgrade(db.engine)
    blob = open_blob_store(blob_settings).put_bytes(CLIP)
    with db.session() as session:
        user = user_repo.get_or_create(session, platform="telegram", platform_user_id="ann")
        asset = asset_repo.create(session, owner_id=user.id, kind="video", blob=blob, mime="video/mp4",
                                  origin="generated")
        path = "/a/" + links.asset_url(blob_settings, session, asset=asset).rsplit("/", 1)[1]
    with TestClient(create_app(blob_settings)) as client:
        yield client, path, blob
    db.dispose()


def test_a_file_is_streamed_whole_with_its_validators(site: tuple[TestClient, str, str]) -> None:
    client, path, blob = site
    response = client.get(path)
    assert response.status_code == 200 and response.content == CLIP
    assert response.headers["content-type"] == "video/mp4"
    assert response.headers["content-length"] == str(len(CLIP))
    assert response.headers["accept-ranges"] == "bytes"
    assert response.headers["etag"] == f'"{blob}"'
    assert response.headers["content-disposition"].startswith("attachment; filename=")
    assert "private" in response.headers["cache-control"]


@pytest.mark.parametrize(("header", "start", "end"), [
    ("bytes=0-99", 0, 99),
    ("bytes=1048570-2097160", 1048570, 2097160),  # across read chunks
    ("bytes=3000000-", 3000000, len(CLIP) - 1),
    ("bytes=-500", len(CLIP) - 500, len(CLIP) - 1),
    ("bytes=10-99999999", 10, len(CLIP) - 1),
])
def test_range_requests_let_a_player_seek(site: tuple[TestClient, str, str], header: str, start: int,
                                          end: int) -> None:
    client, path, _ = site
    response = client.get(path, headers={"Range": header})
    assert response.status_code == 206
    assert response.content == CLIP[start:end + 1]
    assert response.headers["content-range"] == f"bytes {start}-{end}/{len(CLIP)}"
    assert response.headers["content-length"] == str(end - start + 1)


def test_ranges_outside_the_file_or_for_another_version_are_answered_properly(
        site: tuple[TestClient, str, str]) -> None:
    client, path, blob = site
    refused = client.get(path, headers={"Range": f"bytes={len(CLIP)}-"})
    assert refused.status_code == 416 and refused.headers["content-range"] == f"bytes */{len(CLIP)}"
    several = client.get(path, headers={"Range": "bytes=0-1,5-6"})
    assert several.status_code == 200 and several.content == CLIP, "several ranges: the whole file"
    stale = client.get(path, headers={"Range": "bytes=0-9", "If-Range": '"something-else"'})
    assert stale.status_code == 200 and len(stale.content) == len(CLIP)
    fresh = client.get(path, headers={"Range": "bytes=0-9", "If-Range": f'"{blob}"'})
    assert fresh.status_code == 206 and fresh.content == CLIP[:10]
    unchanged = client.get(path, headers={"If-None-Match": f'"{blob}"'})
    assert unchanged.status_code == 304 and unchanged.content == b""


def test_a_file_missing_from_the_store_gets_a_page_and_one_log_line(
        site: tuple[TestClient, str, str], blob_settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    client, path, blob = site
    open_blob_store(blob_settings).delete(blob)  # gone behind the rows' back
    with caplog.at_level(logging.ERROR, logger="storage.blobs"):
        for _ in range(3):
            response = client.get(path)
            assert response.status_code == 404 and "missing" in response.text
    assert len([r for r in caplog.records if blob in r.getMessage()]) == 1


def test_a_store_out_of_reach_gets_a_retry_later_page(settings: Settings, s3: S3Server) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    broken = settings.model_copy(update={"blob_url": f"s3://{s3.bucket}/x",
                                         "s3_endpoint_url": f"http://127.0.0.1:{closed}"})
    db = Database(broken.resolved_database_url)
    upgrade(db.engine)
    with db.session() as session:
        user = user_repo.get_or_create(session, platform="telegram", platform_user_id="ann")
        asset = asset_repo.create(session, owner_id=user.id, kind="image", blob="ab" * 32, mime="image/png",
                                  origin="generated")
        path = "/a/" + links.asset_url(broken, session, asset=asset).rsplit("/", 1)[1]
    response = TestClient(create_app(broken)).get(path)
    assert response.status_code == 503 and "try again in a few minutes" in response.text
    assert response.headers["retry-after"] == "60"
    db.dispose()
