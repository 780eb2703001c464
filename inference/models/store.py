"""The model store: pinned revisions side by side under ``STUDIO_MODELS_DIR``, checksummed, one active.

Layout::

    <models dir>/<name>/<revision>/...          the model's files (diffusers layout for pipelines)
    <models dir>/<name>/<revision>/manifest.json sha256 and size of every file, source and revision
    <models dir>/<name>/active                  the revision workers load
    <models dir>/<name>/history                 previously active revisions, newest last (for rollback)
    <models dir>/<name>/.partial/<revision>/    a pull in progress; resumed by the next pull

A revision directory appears only once complete (it is renamed into place), so a worker never loads half a
download, and an upgrade leaves the previous revision on disk until it is removed by hand. Where the files
come from is the business of the sources (``inference.models.sources``); the store only places them.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from core.errors import NotAvailable
from inference.models.manifest import (
    CACHE_DIR,
    MANIFEST,
    Manifest,
    VerifyReport,
    sha256_file,
    verify_directory,
    write_text_atomic,
)
from inference.models.registry import LOCAL_REGISTRY, ModelSpec, get_spec, load_registry
from inference.models.sources import DEFAULT_SOURCES, ModelSource, PullFailed, source_for

log = logging.getLogger(__name__)

ACTIVE = "active"
HISTORY = "history"
PARTIAL = ".partial"
# Directory names come from the registry and the CLI; refuse anything that could climb out of the store.
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")

__all__ = ["MANIFEST", "ModelStatus", "ModelStore", "PullFailed", "ResolvedModel", "VerifyReport", "sha256_file"]


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
class ModelStatus:
    """One line of ``studio models list``: the registry entry and what of it is on disk."""

    spec: ModelSpec
    revisions: tuple[str, ...]
    active: str | None
    size_bytes: int = 0


def _check_name(kind: str, value: str) -> str:
    if not _SAFE_NAME.match(value):
        raise ValueError(f"{kind} {value!r} is not a plain name (letters, digits, '.', '_' and '-')")
    return value


class ModelStore:
    """Models under one root directory, described by the registry; pass it to whatever loads models.

    ``sources`` maps each registry ``source`` to what fetches it (the Hub, URL archives, tiny builds by
    default); a test or an air-gapped install can hand in its own.
    """

    def __init__(self, root: Path, registry: Mapping[str, ModelSpec] | None = None, *,
                 sources: Mapping[str, ModelSource] = DEFAULT_SOURCES) -> None:
        self.root = Path(root)
        self.registry: Mapping[str, ModelSpec] = (
            registry if registry is not None else load_registry(local=self.root / LOCAL_REGISTRY))
        self.sources = sources

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
                size = Manifest.read(self.revision_dir(name, active) / MANIFEST).size_bytes
            statuses.append(ModelStatus(spec=spec, revisions=tuple(revisions), active=active, size_bytes=size))
        return statuses

    # -- checksums ------------------------------------------------------------------------------------

    def write_manifest(self, directory: Path, *, name: str, revision: str, requested: str = "") -> Manifest:
        """Checksum every file under ``directory`` and write its ``manifest.json``."""
        manifest = Manifest.of(directory, name=name, revision=revision, source=self.spec(name).source,
                               requested=requested)
        manifest.write(directory)
        return manifest

    def verify(self, name: str, revision: str | None = None) -> VerifyReport:
        """Re-check a stored revision (the active one by default) against its manifest."""
        revision = revision or self.active_revision(name)
        if revision is None:
            raise NotAvailable(f"{name} is not installed; run `studio models pull {name}`")
        directory = self.revision_dir(name, revision)
        if not (directory / MANIFEST).is_file():
            raise NotAvailable(f"{name} revision {revision} has no manifest; pull it again")
        return verify_directory(directory, Manifest.read(directory / MANIFEST))

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
            write_text_atomic(base / HISTORY, "\n".join([*self.history(name), previous]) + "\n")
        write_text_atomic(base / ACTIVE, revision + "\n")
        log.info("%s: active revision is now %s (was %s)", name, revision, previous)

    def rollback(self, name: str) -> str:
        """Re-activate the revision that was active before the current one; returns it."""
        history = self.history(name)
        installed = set(self.revisions(name))
        while history:
            candidate = history.pop()
            if candidate in installed and candidate != self.active_revision(name):
                base = self.model_dir(name)
                write_text_atomic(base / ACTIVE, candidate + "\n")
                write_text_atomic(base / HISTORY, "".join(f"{rev}\n" for rev in history))
                return candidate
        raise NotAvailable(f"{name} has no earlier revision on disk to roll back to")

    # -- installing -----------------------------------------------------------------------------------

    def install(self, name: str, revision: str, source_dir: Path, *, activate: bool = True,
                requested: str = "") -> ResolvedModel:
        """Checksum a complete directory and move it into place as ``name``/``revision``."""
        target = self.revision_dir(name, revision)
        self.write_manifest(source_dir, name=name, revision=revision, requested=requested)
        shutil.rmtree(source_dir / CACHE_DIR, ignore_errors=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            # Same revision installed twice (two workers creating the tiny model at once): keep the first.
            shutil.rmtree(source_dir, ignore_errors=True)
        else:
            os.replace(source_dir, target)
        if activate or self.active_revision(name) is None:
            self.activate(name, revision)
        return ResolvedModel(spec=self.spec(name), revision=revision, path=target)

    def install_copy(self, name: str, revision: str, folder: Path, *, activate: bool = True) -> ResolvedModel:
        """Install a copy of ``folder`` (left as it is) as ``name``/``revision``."""
        self.root.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".install-{name}-", dir=self.root))
        try:
            shutil.copytree(folder, work, dirs_exist_ok=True)
            return self.install(name, revision, work, activate=activate)
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def resolve(self, name: str) -> ResolvedModel:
        """The active revision of ``name``; raises ``NotAvailable`` saying what to run when there is none."""
        spec = self.spec(name)
        revision = self.active_revision(name)
        if revision is None or not (self.revision_dir(name, revision) / MANIFEST).is_file():
            how = "studio models make-tiny" if spec.source == "tiny" else f"studio models pull {name}"
            raise NotAvailable(f"The model {name} is not installed on this worker; run `{how}`.")
        return ResolvedModel(spec=spec, revision=revision, path=self.revision_dir(name, revision))

    def pull(self, name: str, *, revision: str | None = None, activate: bool = True) -> ResolvedModel:
        """``name`` at its pinned revision (or ``revision``) in the store: fetched and checksummed if missing.

        A revision already on disk is not fetched again. ``activate`` makes it the active one; a model with
        no active revision gets this one either way. Raises ``PullFailed`` saying what to run or accept.
        """
        spec = self.spec(name)
        requested = revision or spec.revision
        source = source_for(spec, self.sources)
        exact = _check_name("revision", source.revision(spec, requested))
        if exact in self.revisions(name):
            log.info("%s@%s is already in the store", name, exact)
            if activate or self.active_revision(name) is None:
                self.activate(name, exact)
            return ResolvedModel(spec=spec, revision=exact, path=self.revision_dir(name, exact))
        resolved = self._fetch(source, spec, exact, requested=requested, activate=activate)
        if exact != spec.revision:
            log.warning("%s: pin revision = %r in the registry (pulled %s)", name, exact, requested)
        return resolved

    def _fetch(self, source: ModelSource, spec: ModelSpec, revision: str, *, requested: str,
               activate: bool) -> ResolvedModel:
        base = self.model_dir(spec.name)
        base.mkdir(parents=True, exist_ok=True)
        if source.resumable:
            # Kept when the fetch fails, so the next pull continues where this one stopped.
            workdir = base / PARTIAL / revision
            workdir.mkdir(parents=True, exist_ok=True)
            source.fetch(spec, revision, workdir)
            return self.install(spec.name, revision, workdir, activate=activate, requested=requested)
        # Written next to its final place and renamed in: a concurrent reader never sees half a model.
        workdir = Path(tempfile.mkdtemp(dir=base, prefix=".make-"))
        try:
            source.fetch(spec, revision, workdir)
            return self.install(spec.name, revision, workdir, activate=activate, requested=requested)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
