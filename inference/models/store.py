"""The model store: pinned revisions side by side under ``STUDIO_MODELS_DIR``, checksummed, one active.

Layout::

    <models dir>/<name>/<revision>/...          the model's files (diffusers layout for pipelines)
    <models dir>/<name>/<revision>/manifest.json sha256 and size of every file, source and revision
    <models dir>/<name>/active                  the revision workers load
    <models dir>/<name>/history                 previously active revisions, newest last (for rollback)
    <models dir>/<name>/.partial/<revision>/    a pull in progress; resumed by the next pull

A revision directory appears only once complete (it is renamed into place), so a worker never loads half a
download, and an upgrade leaves the previous revision on disk until it is removed by hand.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import urllib.error
import urllib.request
import warnings
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from core.errors import NotAvailable
from inference.models.registry import ModelSpec, get_spec, load_registry

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
ACTIVE = "active"
HISTORY = "history"
PARTIAL = ".partial"
_CHUNK = 8 << 20
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
# Directory names come from the registry and the CLI; refuse anything that could climb out of the store.
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
URL_TIMEOUT_S = 30.0


class PullFailed(NotAvailable):
    """A model could not be downloaded; the message says what to run or accept."""


@dataclass(frozen=True)
class ResolvedModel:
    """A model ready to load: its registry entry, the revision on disk and that revision's directory."""

    spec: ModelSpec
    revision: str
    path: Path

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def key(self) -> str:
        """``name@revision``: what engine cache keys and LoRA ``base_model`` fields are built from."""
        return f"{self.spec.name}@{self.revision}"


@dataclass(frozen=True)
class VerifyReport:
    """What ``verify`` found: files missing, changed or unexpected against the manifest."""

    name: str
    revision: str
    checked: int
    missing: tuple[str, ...] = ()
    mismatched: tuple[str, ...] = ()
    unexpected: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not (self.missing or self.mismatched)


@dataclass(frozen=True)
class ModelStatus:
    """One line of ``studio models list``: the registry entry and what of it is on disk."""

    spec: ModelSpec
    revisions: tuple[str, ...]
    active: str | None
    size_bytes: int = 0


@dataclass
class Manifest:
    """Checksums of one stored revision."""

    name: str
    revision: str
    source: str
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    created_at: str = ""
    requested_revision: str = ""

    def to_json(self) -> str:
        return json.dumps(self.__dict__, indent=1, sort_keys=True)

    @classmethod
    def read(cls, path: Path) -> Manifest:
        return cls(**json.loads(path.read_text(encoding="utf-8")))


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in chunks (model files run to gigabytes)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _check_name(kind: str, value: str) -> str:
    if not _SAFE_NAME.match(value):
        raise ValueError(f"{kind} {value!r} is not a plain name (letters, digits, '.', '_' and '-')")
    return value


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)


class ModelStore:
    """Models under one root directory, described by the registry; pass it to whatever loads models."""

    def __init__(self, root: Path, registry: Mapping[str, ModelSpec] | None = None) -> None:
        self.root = Path(root)
        self.registry: Mapping[str, ModelSpec] = registry if registry is not None else load_registry()

    # -- layout ---------------------------------------------------------------------------------------

    def spec(self, name: str) -> ModelSpec:
        """The registry entry ``name``."""
        return get_spec(name, self.registry)

    def model_dir(self, name: str) -> Path:
        """``<root>/<name>``."""
        return self.root / _check_name("model name", name)

    def revision_dir(self, name: str, revision: str) -> Path:
        """``<root>/<name>/<revision>``."""
        return self.model_dir(name) / _check_name("revision", revision)

    def revisions(self, name: str) -> list[str]:
        """Complete revisions of ``name`` on disk (those with a manifest), oldest first."""
        base = self.model_dir(name)
        if not base.is_dir():
            return []
        found = [p for p in base.iterdir() if p.is_dir() and not p.name.startswith(".") and (p / MANIFEST).is_file()]
        return [p.name for p in sorted(found, key=lambda p: (p / MANIFEST).stat().st_mtime)]

    def active_revision(self, name: str) -> str | None:
        """The revision workers load for ``name``, or None when none is active."""
        pointer = self.model_dir(name) / ACTIVE
        if not pointer.is_file():
            return None
        revision = pointer.read_text(encoding="utf-8").strip()
        return revision or None

    def history(self, name: str) -> list[str]:
        """Previously active revisions of ``name``, newest last."""
        path = self.model_dir(name) / HISTORY
        if not path.is_file():
            return []
        return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]

    def listing(self) -> list[ModelStatus]:
        """Every registry entry with the revisions on disk and the active one."""
        statuses = []
        for name, spec in sorted(self.registry.items()):
            revisions = self.revisions(name)
            active = self.active_revision(name)
            size = 0
            if active and active in revisions:
                manifest = Manifest.read(self.revision_dir(name, active) / MANIFEST)
                size = sum(int(entry["size"]) for entry in manifest.files.values())
            statuses.append(ModelStatus(spec=spec, revisions=tuple(revisions), active=active, size_bytes=size))
        return statuses

    # -- checksums ------------------------------------------------------------------------------------

    def write_manifest(self, directory: Path, *, name: str, revision: str, requested: str = "") -> Manifest:
        """Checksum every file under ``directory`` and write its ``manifest.json``."""
        files: dict[str, dict[str, Any]] = {}
        for path in sorted(directory.rglob("*")):
            rel = path.relative_to(directory).as_posix()
            if not path.is_file() or rel == MANIFEST or rel.startswith(".cache/"):
                continue
            files[rel] = {"sha256": sha256_file(path), "size": path.stat().st_size}
        manifest = Manifest(
            name=name,
            revision=revision,
            source=self.spec(name).source,
            files=files,
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
            requested_revision=requested or revision,
        )
        _write_atomic(directory / MANIFEST, manifest.to_json())
        return manifest

    def verify(self, name: str, revision: str | None = None) -> VerifyReport:
        """Re-check a stored revision (the active one by default) against its manifest."""
        revision = revision or self.active_revision(name)
        if revision is None:
            raise NotAvailable(f"{name} is not installed; run `studio models pull {name}`")
        directory = self.revision_dir(name, revision)
        if not (directory / MANIFEST).is_file():
            raise NotAvailable(f"{name} revision {revision} has no manifest; pull it again")
        manifest = Manifest.read(directory / MANIFEST)
        missing, mismatched = [], []
        for rel, entry in manifest.files.items():
            path = directory / rel
            if not path.is_file():
                missing.append(rel)
            elif path.stat().st_size != int(entry["size"]) or sha256_file(path) != entry["sha256"]:
                mismatched.append(rel)
        on_disk = {
            p.relative_to(directory).as_posix() for p in directory.rglob("*") if p.is_file()
        } - {MANIFEST}
        unexpected = sorted(rel for rel in on_disk - set(manifest.files) if not rel.startswith(".cache/"))
        return VerifyReport(
            name=name,
            revision=revision,
            checked=len(manifest.files),
            missing=tuple(missing),
            mismatched=tuple(mismatched),
            unexpected=tuple(unexpected),
        )

    # -- active revision ------------------------------------------------------------------------------

    def activate(self, name: str, revision: str) -> None:
        """Make ``revision`` the one workers load; the previous active one is remembered for rollback."""
        if revision not in self.revisions(name):
            raise NotAvailable(
                f"{name} has no complete revision {revision!r} on disk; "
                f"installed: {', '.join(self.revisions(name)) or 'none'}"
            )
        base = self.model_dir(name)
        previous = self.active_revision(name)
        if previous == revision:
            return
        if previous is not None:
            _write_atomic(base / HISTORY, "\n".join([*self.history(name), previous]) + "\n")
        _write_atomic(base / ACTIVE, revision + "\n")
        log.info("%s: active revision is now %s (was %s)", name, revision, previous)

    def rollback(self, name: str) -> str:
        """Re-activate the revision that was active before the current one; returns it."""
        history = self.history(name)
        installed = set(self.revisions(name))
        while history:
            candidate = history.pop()
            if candidate in installed and candidate != self.active_revision(name):
                base = self.model_dir(name)
                _write_atomic(base / ACTIVE, candidate + "\n")
                _write_atomic(base / HISTORY, "".join(f"{rev}\n" for rev in history))
                return candidate
        raise NotAvailable(f"{name} has no earlier revision on disk to roll back to")

    # -- installing -----------------------------------------------------------------------------------

    def install(self, name: str, revision: str, source_dir: Path, *, activate: bool = True,
                requested: str = "") -> ResolvedModel:
        """Checksum a complete directory and move it into place as ``name``/``revision``."""
        target = self.revision_dir(name, revision)
        self.write_manifest(source_dir, name=name, revision=revision, requested=requested)
        shutil.rmtree(source_dir / ".cache", ignore_errors=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            # Same revision installed twice (two workers creating the tiny model at once): keep the first.
            shutil.rmtree(source_dir, ignore_errors=True)
        else:
            os.replace(source_dir, target)
        if activate or self.active_revision(name) is None:
            self.activate(name, revision)
        return ResolvedModel(spec=self.spec(name), revision=revision, path=target)

    def resolve(self, name: str) -> ResolvedModel:
        """The active revision of ``name``; raises ``NotAvailable`` saying what to run when there is none."""
        spec = self.spec(name)
        revision = self.active_revision(name)
        if revision is None or not (self.revision_dir(name, revision) / MANIFEST).is_file():
            how = "studio models make-tiny" if spec.source == "tiny" else f"studio models pull {name}"
            raise NotAvailable(f"The model {name} is not installed on this worker; run `{how}`.")
        return ResolvedModel(spec=spec, revision=revision, path=self.revision_dir(name, revision))

    def pull(self, name: str, *, revision: str | None = None, activate: bool = True,
             progress: bool = True) -> ResolvedModel:
        """Download ``name`` at its pinned revision into the store (resuming a partial pull) and checksum it."""
        spec = self.spec(name)
        requested = revision or spec.revision
        if spec.source == "tiny" and spec.role == "image-to-video":
            from inference.models.tiny_video import make_tiny_video

            return make_tiny_video(self, name=name, activate=activate)
        if spec.source == "tiny":
            from inference.models.tiny import make_tiny

            return make_tiny(self, name=name, activate=activate)
        if spec.source == "hf":
            return self._pull_hf(spec, requested, activate=activate, progress=progress)
        return self._pull_url(spec, requested, activate=activate, progress=progress)

    def _pull_hf(self, spec: ModelSpec, requested: str, *, activate: bool, progress: bool) -> ResolvedModel:
        from huggingface_hub import HfApi, snapshot_download

        with _hub_errors(spec):
            commit = requested if _COMMIT.match(requested) else HfApi().model_info(spec.repo, revision=requested).sha
            if commit is None:
                raise PullFailed(f"the Hub gave no commit for {spec.repo}@{requested}")
            if commit in self.revisions(spec.name):
                log.info("%s@%s is already in the store", spec.name, commit)
                if activate:
                    self.activate(spec.name, commit)
                return self.resolve(spec.name) if activate else ResolvedModel(
                    spec=spec, revision=commit, path=self.revision_dir(spec.name, commit))
            partial = self.model_dir(spec.name) / PARTIAL / commit
            partial.mkdir(parents=True, exist_ok=True)
            # local_dir downloads resume: files already complete are skipped, partial ones continued.
            snapshot_download(
                spec.repo,
                revision=commit,
                local_dir=partial,
                allow_patterns=list(spec.files) or None,
                tqdm_class=_rich_tqdm() if progress else None,
            )
        resolved = self.install(spec.name, str(commit), partial, activate=activate, requested=requested)
        if commit != spec.revision:
            log.warning("%s: pin revision = %r in the registry (pulled %s)", spec.name, commit, requested)
        return resolved

    def _pull_url(self, spec: ModelSpec, requested: str, *, activate: bool, progress: bool) -> ResolvedModel:
        revision = _check_name("revision", requested)
        if revision in self.revisions(spec.name):
            if activate:
                self.activate(spec.name, revision)
            return ResolvedModel(spec=spec, revision=revision, path=self.revision_dir(spec.name, revision))
        partial = self.model_dir(spec.name) / PARTIAL / revision
        partial.mkdir(parents=True, exist_ok=True)
        download = partial.parent / f"{revision}.download"
        try:
            _download(spec.url, download, progress=progress)
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise PullFailed(
                f"Could not download {spec.name} from {spec.url} ({exc}). On a machine with network run "
                f"`studio models pull {spec.name}`, or copy {self.model_dir(spec.name)} from one."
            ) from exc
        digest = sha256_file(download)
        if spec.sha256 and digest != spec.sha256:
            download.unlink(missing_ok=True)
            raise PullFailed(
                f"{spec.name}: the file at {spec.url} has sha256 {digest}, not the {spec.sha256} the registry "
                "pins; it changed or was tampered with, so it was discarded."
            )
        if not spec.sha256:
            log.warning("%s: pin sha256 = %r in the registry (downloaded from %s)", spec.name, digest, spec.url)
        if zipfile.is_zipfile(download):
            _extract_flat(download, partial)
        else:
            shutil.copyfile(download, partial / Path(spec.url).name)
        missing = [f for f in spec.files if not (partial / f).is_file()]
        if missing:
            raise PullFailed(f"{spec.name}: the download lacks {', '.join(missing)}; the source may have changed")
        resolved = self.install(spec.name, revision, partial, activate=activate, requested=requested)
        download.unlink(missing_ok=True)
        return resolved


class _hub_errors:
    """Turn huggingface_hub failures into ``PullFailed`` with the command or page that fixes them."""

    def __init__(self, spec: ModelSpec) -> None:
        self.spec = spec

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: object) -> Literal[False]:
        if exc is None or isinstance(exc, PullFailed):
            return False
        from huggingface_hub import errors

        spec = self.spec
        page = f"https://huggingface.co/{spec.repo}"
        retry = f"`studio models pull {spec.name}`"
        message: str | None = None
        if isinstance(exc, errors.GatedRepoError):
            message = (f"{spec.repo} is gated: accept its licence ({spec.licence}) at {page}, log in with "
                       f"`hf auth login` (or set HF_TOKEN), then run {retry} again.")
        elif isinstance(exc, errors.RepositoryNotFoundError):
            message = (f"{spec.repo} was not found or needs a login: check {page}, run `hf auth login` "
                       f"(or set HF_TOKEN), then run {retry} again.")
        elif isinstance(exc, errors.RevisionNotFoundError):
            message = f"{spec.repo} has no revision {spec.revision!r}; fix `revision` in the registry."
        elif isinstance(exc, errors.OfflineModeIsEnabled | errors.LocalEntryNotFoundError) or (
            os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes")
        ):
            message = (f"Cannot reach the Hugging Face Hub to pull {spec.name} (offline, or HF_HUB_OFFLINE=1). "
                       f"On a machine with network run {retry}, or copy STUDIO_MODELS_DIR/{spec.name} from "
                       f"one; for offline demos and tests use STUDIO_MODEL_PROFILE=tiny "
                       f"(`studio models make-tiny`).")
        elif isinstance(exc, errors.HfHubHTTPError | OSError | ConnectionError | TimeoutError) or (
            type(exc).__module__.startswith(("httpx", "httpcore", "requests", "urllib3"))
        ):
            message = (f"Downloading {spec.name} from {page} failed ({type(exc).__name__}: {exc}). "
                       f"Check the network and run {retry} again; finished files are kept and resumed.")
        if message is None:
            return False
        raise PullFailed(message) from exc


def _rich_tqdm() -> Any:
    # tqdm's rich front end draws a rich progress bar and keeps the tqdm API huggingface_hub expects.
    from tqdm import TqdmExperimentalWarning
    from tqdm.rich import tqdm as rich_tqdm

    warnings.filterwarnings("ignore", category=TqdmExperimentalWarning)
    return rich_tqdm


def _download(url: str, target: Path, *, progress: bool) -> None:
    """Fetch ``url`` into ``target``, continuing from the bytes already there (HTTP Range)."""
    have = target.stat().st_size if target.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    with urllib.request.urlopen(request, timeout=URL_TIMEOUT_S) as response:
        if have and response.status != 206:
            have = 0  # the server ignored the range: start over
        total = int(response.headers.get("Content-Length") or 0) + have
        mode = "ab" if have else "wb"
        report: Callable[[int], None] = lambda n: None  # noqa: E731
        bar = None
        if progress:
            from rich.progress import Progress

            bar = Progress()
            bar.start()
            task_id = bar.add_task(target.name, total=total or None, completed=have)

            def report(n: int) -> None:
                bar.update(task_id, advance=n)

        try:
            with open(target, mode) as out:
                while chunk := response.read(1 << 20):
                    out.write(chunk)
                    report(len(chunk))
        finally:
            if bar is not None:
                bar.stop()


def _extract_flat(archive: Path, target: Path) -> None:
    """Unzip ``archive`` into ``target``; a single top-level folder in the archive is flattened away."""
    with zipfile.ZipFile(archive) as zf:
        names = [n for n in zf.namelist() if not n.endswith("/")]
        tops = {n.split("/", 1)[0] for n in names}
        strip = len(tops) == 1 and all("/" in n for n in names)
        for member in names:
            rel = member.split("/", 1)[1] if strip else member
            dest = (target / rel).resolve()
            if not dest.is_relative_to(target.resolve()):
                raise PullFailed(f"refusing archive member outside the model directory: {member}")
            dest.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(member) as src, open(dest, "wb") as out:
                shutil.copyfileobj(src, out)
