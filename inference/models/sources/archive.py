"""Models published as one file at a URL (insightface packs are zip archives on GitHub releases).

The file is downloaded with huggingface_hub's HTTP downloader (the one its Hub downloads use: retries, HTTP
Range resume, its progress bar), checked against the registry's sha256 before anything is unpacked, then
unzipped (or copied as it is when it is not an archive).
"""

from __future__ import annotations

import logging
import shutil
import zipfile
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit
from urllib.request import url2pathname

from inference.models.manifest import CACHE_DIR, sha256_file
from inference.models.registry import ModelSpec
from inference.models.sources.base import PullFailed
from inference.models.sources.errors import download_errors

log = logging.getLogger(__name__)


class UrlArchiveSource:
    """``source = "url"``: the file at ``url``, pinned by ``sha256``; ``revision`` is the registry's label."""

    resumable = True  # the download continues from the bytes already there

    def revision(self, spec: ModelSpec, requested: str) -> str:
        """``requested`` as given: a URL has no revisions of its own, the registry names them."""
        return requested

    def fetch(self, spec: ModelSpec, revision: str, into: Path) -> None:
        """Download, check and unpack ``spec.url`` into ``into``; the download itself stays under ``.cache``."""
        name = PurePosixPath(urlsplit(spec.url).path).name or spec.name
        download = into / CACHE_DIR / name
        download.parent.mkdir(parents=True, exist_ok=True)
        if not download.is_file():  # a complete download from an earlier try is not fetched again
            partial = download.with_name(f"{name}.incomplete")
            with download_errors(spec, page=spec.url):
                _download(spec.url, partial)
            partial.replace(download)
        digest = sha256_file(download)
        if spec.sha256 and digest != spec.sha256:
            download.unlink()
            raise PullFailed(
                f"{spec.name}: the file at {spec.url} has sha256 {digest}, not the {spec.sha256} the registry "
                "pins; it changed or was tampered with, so it was discarded."
            )
        if not spec.sha256:
            log.warning("%s: pin sha256 = %r in the registry (downloaded from %s)", spec.name, digest, spec.url)
        if zipfile.is_zipfile(download):
            extract_flat(download, into)
        else:
            shutil.copyfile(download, into / name)
        missing = [f for f in spec.files if not (into / f).is_file()]
        if missing:
            raise PullFailed(f"{spec.name}: the download lacks {', '.join(missing)}; the source may have changed")


def _download(url: str, target: Path) -> None:
    """Fetch ``url`` into ``target``, continuing from the bytes already there."""
    # Not exported by huggingface_hub, but the function its own downloads go through; from 2.0 it also starts
    # over when a server answers a Range request with the whole file.
    from huggingface_hub.file_download import http_get

    parts = urlsplit(url)
    if parts.scheme == "file":  # a pack on a local or mounted disk (air-gapped machines)
        shutil.copyfile(url2pathname(parts.path), target)
        return
    have = target.stat().st_size if target.exists() else 0
    with open(target, "ab") as out:
        http_get(url, out, resume_size=have, displayed_filename=target.name.removesuffix(".incomplete"))


def extract_flat(archive: Path, target: Path) -> None:
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
