"""Download failures (from huggingface_hub and the HTTP stack under it) turned into ``PullFailed``, in one place.

Both remote sources fetch through huggingface_hub, so one translation covers them: gated and missing Hub
repositories, offline mode, and network or HTTP errors, each with the command or page that fixes it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from inference.models.registry import ModelSpec
from inference.models.sources.base import PullFailed

_NETWORK_MODULES = ("httpx", "httpcore", "requests", "urllib3", "h11", "ssl")


@contextmanager
def download_errors(spec: ModelSpec, *, page: str, revision: str = "") -> Iterator[None]:
    """Raise ``PullFailed`` with advice for any download failure inside; ``page`` is where the model lives."""
    try:
        yield
    except PullFailed:
        raise
    except Exception as exc:
        message = advice(exc, spec, page=page, revision=revision)
        if message is None:
            raise
        raise PullFailed(message) from exc


def advice(exc: BaseException, spec: ModelSpec, *, page: str, revision: str = "") -> str | None:
    """What to tell the user about ``exc`` while fetching ``spec`` (at ``revision``) from ``page``.

    None where ``exc`` is no download failure (a programming error): that goes up as it is.
    """
    from huggingface_hub import errors

    retry = f"`studio models pull {spec.name}`"
    if isinstance(exc, errors.GatedRepoError):
        return (f"{spec.repo} is gated: accept its licence ({spec.licence}) at {page}, log in with "
                f"`hf auth login` (or set HF_TOKEN), then run {retry} again.")
    if isinstance(exc, errors.RepositoryNotFoundError):
        return (f"{spec.repo} was not found or needs a login: check {page}, run `hf auth login` "
                f"(or set HF_TOKEN), then run {retry} again.")
    if isinstance(exc, errors.RevisionNotFoundError):
        return (f"{spec.repo} has no revision {revision or spec.revision!r}; fix `revision` in the registry "
                "(or the --revision given).")
    if isinstance(exc, errors.OfflineModeIsEnabled | errors.LocalEntryNotFoundError) or (
        os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes")
    ):
        return (f"Cannot reach {page} to pull {spec.name} (offline, or HF_HUB_OFFLINE=1). On a machine with "
                f"network run {retry}, or copy STUDIO_MODELS_DIR/{spec.name} from one; for offline demos and "
                f"tests use STUDIO_MODEL_PROFILE=tiny (`studio models make-tiny`).")
    status = _status(exc)
    if status is not None and 400 <= status < 500 and status not in (408, 429):
        return (f"{page} answered {status} for {spec.name}: the file has moved or needs access. Fix the registry "
                f"entry (or get access), then run {retry} again.")
    if isinstance(exc, errors.HfHubHTTPError | OSError | ConnectionError | TimeoutError) or (
        type(exc).__module__.startswith(_NETWORK_MODULES)
    ):
        return (f"Downloading {spec.name} from {page} failed ({type(exc).__name__}: {exc}). "
                f"Check the network and run {retry} again; finished files are kept and resumed.")
    return None


def _status(exc: BaseException) -> int | None:
    """The HTTP status of a failed response, where the error carries one."""
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    return status if isinstance(status, int) else None
