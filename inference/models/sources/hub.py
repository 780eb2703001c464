"""Models from a Hugging Face Hub repository: the registry's file patterns at a commit, resumable."""

from __future__ import annotations

import re
from pathlib import Path

from inference.models.registry import ModelSpec
from inference.models.sources.base import PullFailed
from inference.models.sources.errors import download_errors

_COMMIT = re.compile(r"^[0-9a-f]{40}$")


class HubSource:
    """``source = "hf"``: ``repo`` at ``revision``, only the files matching ``files``."""

    resumable = True  # huggingface_hub skips finished files in local_dir and continues partial ones

    def __init__(self, endpoint: str | None = None) -> None:
        # None: huggingface_hub's own choice (HF_ENDPOINT, else the public Hub); a mirror or a test server else.
        self.endpoint = endpoint

    def revision(self, spec: ModelSpec, requested: str) -> str:
        """``requested`` when it is a commit, else the commit the branch or tag points at now."""
        if _COMMIT.match(requested):
            return requested
        from huggingface_hub import HfApi

        with download_errors(spec, page=self.page(spec), revision=requested):
            commit = HfApi(endpoint=self.endpoint).model_info(spec.repo, revision=requested).sha
        if commit is None:
            raise PullFailed(f"the Hub gave no commit for {spec.repo}@{requested}")
        return commit

    def fetch(self, spec: ModelSpec, revision: str, into: Path) -> None:
        """Download the matching files into ``into`` with huggingface_hub's own progress bars."""
        from huggingface_hub import snapshot_download

        with download_errors(spec, page=self.page(spec), revision=revision):
            snapshot_download(spec.repo, revision=revision, local_dir=into, allow_patterns=list(spec.files) or None,
                              endpoint=self.endpoint)

    def page(self, spec: ModelSpec) -> str:
        """The model's page, where its licence is accepted."""
        return f"{(self.endpoint or 'https://huggingface.co').rstrip('/')}/{spec.repo}"
