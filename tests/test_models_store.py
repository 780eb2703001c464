"""The model store: registry, tiny models in the real layout, checksums, activate/rollback, failing pulls."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import threading
import time
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.models import models as models_cli
from core.errors import NotAvailable
from core.settings import Settings
from inference.models import image_model
from inference.models.registry import (
    ModelSpec,
    UnknownModel,
    get_spec,
    image_model_for_profile,
    load_registry,
    parse_registry,
)
from inference.models.sources import DEFAULT_SOURCES, HubSource
from inference.models.store import MANIFEST, ModelStore, PullFailed


def test_registry_lists_the_models_the_studio_needs() -> None:
    registry = load_registry()
    assert registry["sd3-medium"].repo == "stabilityai/stable-diffusion-3-medium-diffusers"
    roles = {spec.role for spec in registry.values()}
    assert {"text-to-image", "image-to-video", "face-analysis", "face-swap"} <= roles
    assert {"buffalo_l", "antelopev2", "inswapper-128", "ltx-video", "sd-turbo"} <= set(registry)
    for spec in registry.values():
        assert spec.revision and spec.licence and spec.role and spec.min_hardware, spec.name
        assert spec.size_gb > 0, spec.name
        if spec.source == "hf":
            assert spec.files, f"{spec.name} must list the files it needs"


def test_profiles_resolve_to_their_text_to_image_model() -> None:
    assert image_model_for_profile("full").name == "sd3-medium"
    assert image_model_for_profile("cpu").name == "sd-turbo"
    assert image_model_for_profile("tiny").name == "sd3-tiny"
    with pytest.raises(UnknownModel, match="known: "):
        get_spec("sd9-ultra")


def test_registry_refuses_misspelt_and_incomplete_entries() -> None:
    good = ('[models.x]\nsource = "hf"\nrepo = "a/b"\nrevision = "main"\nlicence = "mit"\n'
            'size_gb = 1.0\nrole = "text-to-image"\nmin_hardware = "cpu"\n')
    assert parse_registry(good)["x"].repo == "a/b"
    with pytest.raises(ValueError, match="unknown keys revison"):
        parse_registry(good + 'revison = "oops"\n')
    with pytest.raises(ValueError, match="lacks licence"):
        parse_registry(good.replace('licence = "mit"\n', ""))
    with pytest.raises(ValueError, match="needs a repo"):
        parse_registry(good.replace('repo = "a/b"\n', ""))


def test_make_tiny_writes_the_store_layout_and_loads_with_from_pretrained(tiny_models_dir: Path) -> None:
    from diffusers import StableDiffusion3Pipeline

    store = ModelStore(tiny_models_dir)
    resolved = store.resolve("sd3-tiny")
    assert resolved.path == tiny_models_dir / "sd3-tiny" / "tiny-v1"
    assert (tiny_models_dir / "sd3-tiny" / "active").read_text().strip() == "tiny-v1"
    assert (resolved.path / "model_index.json").is_file()
    assert (resolved.path / "tokenizer_3" / "tokenizer.json").is_file()
    assert store.verify("sd3-tiny").ok
    pipe = StableDiffusion3Pipeline.from_pretrained(resolved.path)
    assert pipe.tokenizer("a photo of a woman")["input_ids"] == [0, *pipe.tokenizer.convert_tokens_to_ids(
        ["a", "photo", "of", "a", "woman"]), 2]
    assert max(pipe.tokenizer_3.get_vocab().values()) < pipe.text_encoder_3.config.vocab_size


def test_verify_finds_changed_and_missing_files(tmp_path: Path, tiny_models_dir: Path) -> None:
    root = tmp_path / "models"
    shutil.copytree(tiny_models_dir, root)
    store = ModelStore(root)
    weights = root / "sd3-tiny" / "tiny-v1" / "transformer" / "diffusion_pytorch_model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF  # one flipped byte, same size
    weights.write_bytes(bytes(data))
    (root / "sd3-tiny" / "tiny-v1" / "vae" / "config.json").unlink()

    report = store.verify("sd3-tiny")

    assert not report.ok
    assert report.mismatched == ("transformer/diffusion_pytorch_model.safetensors",)
    assert report.missing == ("vae/config.json",)
    result = CliRunner().invoke(models_cli, ["--models-dir", str(root), "verify", "sd3-tiny"])
    assert result.exit_code == 1 and "changed  transformer/" in result.output


def test_activate_and_rollback_between_revisions(tmp_path: Path, tiny_models_dir: Path) -> None:
    root = tmp_path / "models"
    shutil.copytree(tiny_models_dir, root)
    store = ModelStore(root)
    upgrade = root / "sd3-tiny" / ".incoming"
    shutil.copytree(root / "sd3-tiny" / "tiny-v1", upgrade)
    (upgrade / MANIFEST).unlink()

    store.install("sd3-tiny", "tiny-v2", upgrade)  # an upgrade becomes active, the old one stays

    assert store.revisions("sd3-tiny") == ["tiny-v1", "tiny-v2"]
    assert store.resolve("sd3-tiny").revision == "tiny-v2"
    assert store.rollback("sd3-tiny") == "tiny-v1"
    assert store.resolve("sd3-tiny").path == root / "sd3-tiny" / "tiny-v1"
    with pytest.raises(NotAvailable, match="no earlier revision"):
        store.rollback("sd3-tiny")
    with pytest.raises(NotAvailable, match="no complete revision 'tiny-v9'"):
        store.activate("sd3-tiny", "tiny-v9")
    result = CliRunner().invoke(models_cli, ["--models-dir", str(root), "activate", "sd3-tiny", "tiny-v2"])
    assert result.exit_code == 0, result.output
    assert store.active_revision("sd3-tiny") == "tiny-v2"


def test_pull_while_offline_fails_fast_saying_what_to_run(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    store = ModelStore(tmp_path / "models")
    started = time.monotonic()
    with pytest.raises(PullFailed) as caught:
        store.pull("sd3-medium")
    assert time.monotonic() - started < 15
    message = str(caught.value)
    assert "studio models pull sd3-medium" in message and "HF_HUB_OFFLINE" in message
    assert store.revisions("sd3-medium") == []
    result = CliRunner().invoke(models_cli, ["--models-dir", str(tmp_path / "models"), "pull", "sd3-medium"])
    assert result.exit_code == 1 and "studio models pull sd3-medium" in result.output


def _url_registry(url: str) -> str:
    return (f'[models.pack]\nsource = "url"\nurl = "{url}"\nrevision = "v1"\nfiles = ["det.onnx", "rec.onnx"]\n'
            'licence = "test"\nsize_gb = 0.001\nrole = "face-analysis"\nmin_hardware = "cpu"\n')


def test_url_pull_unpacks_an_archive_into_a_checksummed_revision(tmp_path: Path) -> None:
    archive = tmp_path / "pack.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("pack/det.onnx", b"detector")
        zf.writestr("pack/rec.onnx", b"recogniser")
    store = ModelStore(tmp_path / "models", registry=parse_registry(_url_registry(archive.as_uri())))

    resolved = store.pull("pack")

    assert (resolved.path / "det.onnx").read_bytes() == b"detector"  # the top folder is flattened
    assert store.verify("pack").checked == 2


def test_url_pull_refuses_an_archive_whose_checksum_differs(tmp_path: Path) -> None:
    archive = tmp_path / "pack.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("det.onnx", b"detector")
        zf.writestr("rec.onnx", b"tampered")
    pinned = _url_registry(archive.as_uri()) + f'sha256 = "{"0" * 64}"\n'
    store = ModelStore(tmp_path / "models", registry=parse_registry(pinned))
    with pytest.raises(PullFailed, match="changed or was tampered with"):
        store.pull("pack")
    assert store.revisions("pack") == []

    good = _url_registry(archive.as_uri()) + f'sha256 = "{hashlib.sha256(archive.read_bytes()).hexdigest()}"\n'
    assert ModelStore(tmp_path / "models", registry=parse_registry(good)).pull("pack").revision == "v1"


def test_url_pull_from_an_unreachable_host_fails_with_a_message(tmp_path: Path) -> None:
    registry = parse_registry(_url_registry("http://127.0.0.1:9/pack.zip"))
    store = ModelStore(tmp_path / "models", registry=registry)
    with pytest.raises(PullFailed, match="studio models pull pack"):
        store.pull("pack")


def test_tiny_profile_creates_its_model_on_first_use(settings: Settings, tmp_path: Path) -> None:
    local = settings.model_copy(update={"models_dir": tmp_path / "fresh-models"})
    resolved = image_model(local)
    assert resolved.key == "sd3-tiny@tiny-v1"
    assert (tmp_path / "fresh-models" / "sd3-tiny" / "tiny-v1" / MANIFEST).is_file()
    full = local.model_copy(update={"model_profile": "full"})
    with pytest.raises(NotAvailable, match="studio models pull sd3-medium"):
        image_model(full)


def test_cli_lists_registry_and_installed_revisions(tiny_models_dir: Path) -> None:
    result = CliRunner().invoke(models_cli, ["--models-dir", str(tiny_models_dir), "list"],
                                env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert "sd3-medium" in result.output and "buffalo_l" in result.output
    assert "tiny-v1" in result.output


# ---- sources over loopback HTTP ------------------------------------------------------------------------------

COMMIT = "c0ffee" + "0" * 34


class _Server(ThreadingHTTPServer):
    """Serves ``files`` by path (HTTP Range honoured unless ``ignore_range``) and plays a small Hugging Face Hub.

    The Hub part answers what huggingface_hub asks for: the revision (branch → ``COMMIT``), the file tree and
    ``<repo>/resolve/<commit>/<file>``; the repo ``org/gated`` is gated and any other repo but ``org/model``
    unknown, with the error codes the Hub sends.
    """

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.files: dict[str, bytes] = {}
        self.ignore_range = False
        self.requests: list[tuple[str, str, str | None]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, *args: object) -> None:
        pass

    def do_HEAD(self) -> None:
        self.do_GET(head=True)

    def do_GET(self, head: bool = False) -> None:
        self.server.requests.append((self.command, self.path, self.headers.get("Range")))
        parts = self.path.split("?")[0].strip("/").split("/")
        if parts[:2] == ["api", "models"]:
            return self._api("/".join(parts[2:4]), parts[4:], head)
        if len(parts) > 4 and parts[2] == "resolve":
            repo, path = "/".join(parts[:2]), "/".join(parts[4:])
            if repo == "org/gated":
                return self._send(403, b"{}", {"X-Error-Code": "GatedRepo"}, head)
            return self._file(self.server.files.get(path), {"X-Repo-Commit": COMMIT}, head)
        return self._file(self.server.files.get(self.path.lstrip("/")), {}, head)

    def _api(self, repo: str, rest: list[str], head: bool) -> None:
        if repo not in ("org/model", "org/gated"):
            return self._send(401, b"{}", {"X-Error-Code": "RepoNotFound"}, head)
        kind, revision = rest[0], rest[1]
        if revision not in ("main", COMMIT):
            return self._send(404, b"{}", {"X-Error-Code": "RevisionNotFound"}, head)
        if kind == "tree":
            tree = [{"type": "file", "path": path, "size": len(data), "oid": hashlib.sha1(data).hexdigest()}
                    for path, data in self.server.files.items()]
            return self._send(200, json.dumps(tree).encode(), {"Content-Type": "application/json"}, head)
        siblings = [{"rfilename": path} for path in self.server.files]
        info = {"id": repo, "sha": COMMIT, "siblings": siblings}
        return self._send(200, json.dumps(info).encode(), {"Content-Type": "application/json"}, head)

    def _file(self, data: bytes | None, headers: dict[str, str], head: bool) -> None:
        if data is None:
            return self._send(404, b"", {}, head)
        headers = {**headers, "ETag": f'"{hashlib.sha1(data).hexdigest()}"'}
        wanted = self.headers.get("Range")
        if wanted and not self.server.ignore_range:
            start = int(wanted.removeprefix("bytes=").split("-")[0])
            headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
            return self._send(206, data[start:], headers, head)
        return self._send(200, data, headers, head)

    def _send(self, status: int, body: bytes, headers: dict[str, str], head: bool) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)


@pytest.fixture
def server() -> Iterator[_Server]:
    httpd = _Server()
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def _pack(top: str = "pack/", **members: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in (members or {"det.onnx": b"detector" * 4000, "rec.onnx": b"recogniser" * 4000}).items():
            zf.writestr(top + name, data)
    return buffer.getvalue()


def test_url_pull_over_http_installs_the_pack_and_keeps_no_download(tmp_path: Path, server: _Server) -> None:
    server.files["releases/pack.zip"] = archive = _pack()
    pinned = _url_registry(f"{server.url}/releases/pack.zip") + f'sha256 = "{hashlib.sha256(archive).hexdigest()}"\n'
    store = ModelStore(tmp_path / "models", registry=parse_registry(pinned))

    resolved = store.pull("pack")

    assert (resolved.path / "rec.onnx").read_bytes() == b"recogniser" * 4000
    assert sorted(p.name for p in resolved.path.iterdir()) == ["det.onnx", MANIFEST, "rec.onnx"]
    assert store.verify("pack").ok and store.active_revision("pack") == "v1"
    assert list((tmp_path / "models" / "pack" / ".partial").iterdir()) == []  # the working directory moved in
    assert [r[:2] for r in server.requests] == [("GET", "/releases/pack.zip")]


def test_url_pull_continues_an_interrupted_download(tmp_path: Path, server: _Server) -> None:
    server.files["pack.zip"] = archive = _pack()
    store = ModelStore(tmp_path / "models", registry=parse_registry(_url_registry(f"{server.url}/pack.zip")))
    # What a pull stopped half-way leaves: the working directory with the bytes fetched so far.
    partial = tmp_path / "models" / "pack" / ".partial" / "v1" / ".cache" / "pack.zip.incomplete"
    partial.parent.mkdir(parents=True)
    partial.write_bytes(archive[:1000])

    resolved = store.pull("pack")

    assert server.requests == [("GET", "/pack.zip", "bytes=1000-")]
    assert (resolved.path / "det.onnx").read_bytes() == b"detector" * 4000


def test_url_pull_starts_over_when_the_server_ignores_the_range(tmp_path: Path, server: _Server) -> None:
    server.files["pack.zip"] = archive = _pack()
    server.ignore_range = True
    pinned = _url_registry(f"{server.url}/pack.zip") + f'sha256 = "{hashlib.sha256(archive).hexdigest()}"\n'
    store = ModelStore(tmp_path / "models", registry=parse_registry(pinned))
    partial = tmp_path / "models" / "pack" / ".partial" / "v1" / ".cache" / "pack.zip.incomplete"
    partial.parent.mkdir(parents=True)
    partial.write_bytes(b"stale bytes of something else")

    resolved = store.pull("pack")  # the pinned sha256 would refuse the stale bytes followed by the whole file

    assert server.requests == [("GET", "/pack.zip", "bytes=29-")]
    assert store.verify("pack").ok and (resolved.path / "det.onnx").is_file()


def test_url_pull_of_a_moved_file_or_a_changed_pack_says_what_to_fix(tmp_path: Path, server: _Server) -> None:
    store = ModelStore(tmp_path / "models", registry=parse_registry(_url_registry(f"{server.url}/gone.zip")))
    with pytest.raises(PullFailed, match=r"answered 404 .* Fix the registry entry"):
        store.pull("pack")

    server.files["pack.zip"] = _pack(**{"det.onnx": b"only the detector"})
    store = ModelStore(tmp_path / "models", registry=parse_registry(_url_registry(f"{server.url}/pack.zip")))
    with pytest.raises(PullFailed, match=r"the download lacks rec\.onnx"):
        store.pull("pack")
    assert store.revisions("pack") == []


def _hub_registry(repo: str, revision: str = "main") -> dict[str, ModelSpec]:
    return parse_registry(f'[models.sd]\nsource = "hf"\nrepo = "{repo}"\nrevision = "{revision}"\n'
                          'files = ["model_index.json", "unet/*"]\nlicence = "test licence"\nsize_gb = 0.001\n'
                          'role = "text-to-image"\nmin_hardware = "cpu"\n')


def _hub_store(root: Path, server: _Server, registry: dict[str, ModelSpec]) -> ModelStore:
    return ModelStore(root, registry, sources={**DEFAULT_SOURCES, "hf": HubSource(endpoint=server.url)})


def test_hub_pull_stores_the_branch_commit_with_only_the_listed_files(tmp_path: Path, server: _Server) -> None:
    server.files.update({"model_index.json": b'{"_class_name": "X"}', "unet/config.json": b"{}",
                         "unet/weights.safetensors": b"w" * 5000, "README.md": b"not listed in the registry"})
    store = _hub_store(tmp_path / "models", server, _hub_registry("org/model"))

    resolved = store.pull("sd")

    assert resolved.revision == COMMIT and store.active_revision("sd") == COMMIT
    files = sorted(p.relative_to(resolved.path).as_posix() for p in resolved.path.rglob("*") if p.is_file())
    assert files == [MANIFEST, "model_index.json", "unet/config.json", "unet/weights.safetensors"]
    assert store.verify("sd").checked == 3  # huggingface_hub's resume state (.cache) is not part of the model

    downloads = len(server.requests)
    assert store.pull("sd").path == resolved.path
    assert [r[1] for r in server.requests[downloads:]] == ["/api/models/org/model/revision/main"]


def test_hub_failures_say_what_to_run_or_accept(tmp_path: Path, server: _Server) -> None:
    server.files["model_index.json"] = b"{}"
    root = tmp_path / "models"
    with pytest.raises(PullFailed, match=r"org/missing was not found or needs a login: check .*hf auth login"):
        _hub_store(root, server, _hub_registry("org/missing")).pull("sd")
    with pytest.raises(PullFailed, match=r"org/gated is gated: accept its licence \(test licence\) at http"):
        _hub_store(root, server, _hub_registry("org/gated")).pull("sd")
    with pytest.raises(PullFailed, match="org/model has no revision 'v9'"):
        _hub_store(root, server, _hub_registry("org/model")).pull("sd", revision="v9")
    assert not (root / "sd").exists() or ModelStore(root, _hub_registry("org/model")).revisions("sd") == []


# ---- the store with a source of its own ------------------------------------------------------------------------


class _FlakySource:
    """Writes one file per fetch and fails until it has written ``files``: a download cut off now and then."""

    def __init__(self, files: int, *, resumable: bool) -> None:
        self.files = files
        self.resumable = resumable
        self.fetched_into: list[Path] = []

    def revision(self, spec: ModelSpec, requested: str) -> str:
        return requested

    def fetch(self, spec: ModelSpec, revision: str, into: Path) -> None:
        self.fetched_into.append(into)
        done = len(list(into.glob("part-*")))
        (into / f"part-{done}").write_bytes(b"x" * (done + 1))
        if done + 1 < self.files:
            raise PullFailed("the connection dropped")


def _store_with(root: Path, source: _FlakySource) -> ModelStore:
    return ModelStore(root, parse_registry(_url_registry("https://example.invalid/pack.zip")),
                      sources={"url": source})


def test_a_resumable_source_continues_where_the_failed_pull_stopped(tmp_path: Path) -> None:
    source = _FlakySource(3, resumable=True)
    store = _store_with(tmp_path / "models", source)
    for _ in range(2):
        with pytest.raises(PullFailed, match="connection dropped"):
            store.pull("pack")
        assert store.revisions("pack") == [] and store.active_revision("pack") is None

    resolved = store.pull("pack")

    assert sorted(p.name for p in resolved.path.iterdir()) == [MANIFEST, "part-0", "part-1", "part-2"]
    assert len(set(source.fetched_into)) == 1
    fetches = len(source.fetched_into)
    store.pull("pack", activate=False)
    assert len(source.fetched_into) == fetches  # a revision on disk is not fetched again


def test_a_source_that_cannot_resume_leaves_nothing_behind_when_it_fails(tmp_path: Path) -> None:
    store = _store_with(tmp_path / "models", _FlakySource(2, resumable=False))
    with pytest.raises(PullFailed):
        store.pull("pack")
    assert list((tmp_path / "models" / "pack").iterdir()) == []


def test_models_of_the_operators_own_are_listed_beside_the_shipped_ones(tmp_path: Path) -> None:
    from inference.models.registry import LOCAL_REGISTRY

    own = """[models.my-finetune]
source = "local"
revision = "v1"
licence = "mine"
size_gb = 0.1
role = "text-to-image"
pipeline = "custom"
min_hardware = "any CPU"
"""
    (tmp_path / LOCAL_REGISTRY).write_text(own)
    store = ModelStore(tmp_path)
    assert store.spec("my-finetune").pipeline == "custom" and store.spec("sd3-tiny").source == "tiny"
    with pytest.raises(PullFailed, match="studio models install my-finetune"):
        store.pull("my-finetune")
    (tmp_path / LOCAL_REGISTRY).write_text(own.replace("my-finetune", "sd3-tiny"))
    with pytest.raises(ValueError, match="names shipped models again"):
        ModelStore(tmp_path)
    (tmp_path / LOCAL_REGISTRY).write_text(own.replace('source = "local"', 'source = "url"\nurl = "https://x/y.zip"'))
    with pytest.raises(ValueError, match="only for source 'local'"):
        ModelStore(tmp_path)


def test_a_model_folder_of_ones_own_is_installed_by_copy_and_loads_its_own_pipeline(tmp_path: Path) -> None:
    from inference.device import plan_for
    from inference.engines.image import ImageEngine, ImageRequest
    from tests import standin

    models_dir = tmp_path / "models"
    standin.install(models_dir, people=[0])
    store = ModelStore(models_dir)
    copy = tmp_path / "copy"
    shutil.copytree(store.resolve(standin.NAME).path, copy, ignore=shutil.ignore_patterns(MANIFEST))
    result = CliRunner().invoke(models_cli, ["--models-dir", str(models_dir), "install", standin.NAME, str(copy),
                                             "--revision", "again"])
    assert result.exit_code == 0, result.output
    assert copy.exists(), "the folder installed from is left as it is"
    assert ModelStore(models_dir).active_revision(standin.NAME) == "again"

    settings = Settings(data_dir=tmp_path, models_dir=models_dir, image_model=standin.NAME,
                        _env_file=None)  # type: ignore[call-arg]
    engine = ImageEngine.load(image_model(settings), plan_for(full_gb=0, min_gb=0, prefer="cpu"))
    result_images = engine.run(ImageRequest(prompt="a portrait", negative="", aspect_ratio="1:1", seeds=(3,),
                                            steps=2, guidance=0.0)).images
    assert (result_images[0].width, result_images[0].height) == (512, 512)
