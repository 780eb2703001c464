"""Settings: one pydantic-settings class read from ``STUDIO_*`` variables and ``.env``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from storage.blobs import parse_blob_url

PLACEHOLDER_SECRET = "change-me"

ModelProfile = Literal["full", "cpu", "tiny"]
Environment = Literal["development", "production", "test"]


class Settings(BaseSettings):
    """Every knob of a Persona Studio process; names match the ``STUDIO_`` environment variables."""

    model_config = SettingsConfigDict(env_prefix="STUDIO_", env_file=".env", extra="ignore")

    environment: Environment = "development"
    data_dir: Path = Path("./studio-data")
    database_url: str | None = None
    redis_url: str | None = None
    models_dir: Path | None = None
    model_profile: ModelProfile = "cpu"
    # A registry model to generate images with instead of the profile's (a fine-tune of your own, say).
    image_model: str | None = None
    secret_key: str = PLACEHOLDER_SECRET
    public_url: str = "http://127.0.0.1:8080"
    web_host: str = "127.0.0.1"
    web_port: int = 8080

    telegram_token: str | None = None
    telegram_base_url: str | None = None
    telegram_base_file_url: str | None = None
    telegram_local_api: bool = False
    discord_token: str | None = None
    # Discord: a REST base (…/api/v10) and a gateway URL let a proxy or a test server stand in for Discord;
    # a guild id syncs the slash commands to that one server, where they appear at once, instead of globally.
    discord_base_url: str | None = None
    discord_gateway_url: str | None = None
    discord_guild_id: int | None = None
    admins: Annotated[list[str], NoDecode] = Field(default_factory=list)

    # Quotas per user; admins are exempt.
    max_running_jobs: int = 1
    max_queued_jobs: int = 5
    max_jobs_per_day: int = 200

    # Worker behaviour.
    engine_memory_budget_mb: int = 8192
    job_lease_seconds: int = 30
    job_max_attempts: int = 2
    # A queued job whose RQ entry is gone (Redis restarted empty) or whose worker died before starting it is
    # queued again after this long.
    job_lost_after_s: int = 120
    # How long a worker waits out a lost Redis or database connection before handing the job to recovery.
    job_outage_retry_s: float = 30.0
    progress_interval_s: float = 2.0
    # Delivery: every front end looks this often for ended jobs whose final event was never shown, and
    # publishes that event again once the job ended this long ago (the database is the truth).
    delivery_redeliver_interval_s: float = 60.0
    delivery_redeliver_after_s: float = 120.0
    timeout_echo_s: int = 120
    timeout_persona_s: int = 600
    timeout_image_s: int = 900
    timeout_shoot_s: int = 2700  # up to 12 shots, each possibly redone once
    timeout_video_s: int = 1800
    timeout_faceswap_s: int = 1800
    timeout_train_s: int = 7200
    timeout_export_s: int = 600
    timeout_verify_s: int = 300

    # Image generation and LoRA training (inference/tasks/image.py, inference/tasks/train.py).
    torch_device: str | None = None  # e.g. "cuda:1"; picked automatically when unset
    image_compile: bool = False  # torch.compile the denoiser (slow first job, faster steps after)
    identity_gate_retries: int = 2  # regenerations per output whose face does not match the persona
    # Outputs below the persona's likeness get its face swapped onto their main subject before any new seed.
    identity_refine: bool = True
    lora_rank: int = 4
    lora_steps: int = 500
    lora_learning_rate: float = 1e-4

    # Animation (inference/tasks/video.py).
    video_fps: int = 24
    # Longest side of an animated clip in pixels; presets never go above the source's, AI motion never above
    # its model's native size.
    video_max_side: int = 1024
    video_default_seconds: float = 4.0
    video_ai_steps: int | None = None  # denoising steps for AI motion; None uses the model's registry default

    # Export packages (/export; inference/tasks/export.py, the web page's /x/ links).
    export_ttl_hours: int = 72  # how long a package's download link works; the zip is deleted after
    export_max_assets: int = 20  # assets per package (each becomes one file per preset of the platform)

    # Face swap (/swap; inference/tasks/faceswap.py).
    # auto: the inswapper ONNX model where it and an insightface face pack are installed, else the landmark swap.
    swap_engine: Literal["auto", "landmark", "inswapper"] = "auto"
    swap_faces: Literal["largest", "all"] = "largest"  # the main subject only, or every face in the picture
    swap_max_seconds: float = 30.0  # longer videos are refused with this limit in the answer
    swap_max_side: int = 1080  # video frames are scaled down to this longer side
    swap_detect_every: int = 5  # video: run the face detector on every n-th frame, follow faces in between
    # Photos: ways to swap a face tried (references x settings, scored by the face engine, best kept), and the
    # most seconds per face that choice may take (the first candidate is always made).
    swap_candidates: int = 5
    swap_choice_budget_s: float = 0.8

    # Blob store. Unset: content-addressed files under <data dir>/blobs (one machine). For several machines an
    # S3-compatible bucket, s3://<bucket>/<prefix>; credentials from the standard AWS variables and files.
    blob_url: str | None = None
    s3_endpoint_url: str | None = None  # for stores other than AWS (SeaweedFS, MinIO, R2, ...)
    blob_cache_mb: int = 2048  # workers: recently read blobs of a remote store kept on local disk; 0 disables
    # While the store cannot be reached a job goes back on its queue every this many seconds (no try counted)...
    blob_retry_s: float = 30.0
    blob_outage_minutes: float = 30.0  # ...until the outage has lasted this long; then it fails with a message
    # Housekeeping (every worker competes; one runs it per interval): expired export zips and unreferenced blobs.
    housekeeping_interval_minutes: float = 60.0  # 0 turns the periodic sweep off (`studio storage sweep` still runs)
    blob_orphan_grace_hours: float = 24.0  # an unreferenced blob younger than this stays: a job may be recording it
    # Content Credentials (inference/provenance): the signing certificate chain (signing certificate first, then
    # its issuers) and its private key, each a PEM file path or the PEM text. Unset: a local CA and signing
    # certificate are made once in <data dir>/provenance (validators elsewhere call those untrusted).
    c2pa_cert: str | None = None
    c2pa_key: str | None = None

    # Uploads.
    max_upload_mb: int = 20
    max_image_pixels: int = 60_000_000

    @field_validator("admins", mode="before")
    @classmethod
    def _split_admins(cls, value: object) -> object:
        # Admins come as "telegram:123,discord:456" in the environment.
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("blob_url", "s3_endpoint_url", mode="after")
    @classmethod
    def _check_blob_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        if not value:
            return None
        if info.field_name == "blob_url":
            parse_blob_url(value)  # a malformed bucket or prefix stops the process at start, with the reason
        elif not value.startswith(("http://", "https://")):
            raise ValueError(f"STUDIO_S3_ENDPOINT_URL must be an http:// or https:// URL, not {value!r}")
        return value

    @model_validator(mode="after")
    def _refuse_placeholder_secret(self) -> Settings:
        if self.environment == "production" and self.secret_key in ("", PLACEHOLDER_SECRET):
            raise ValueError(
                "STUDIO_SECRET_KEY is still the placeholder; set it to a long random value, "
                "e.g. `python -c 'import secrets; print(secrets.token_urlsafe(48))'`"
            )
        return self

    @property
    def resolved_data_dir(self) -> Path:
        """The data directory as an absolute path, created on first use."""
        path = self.data_dir.expanduser().resolve()
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def resolved_database_url(self) -> str:
        """``STUDIO_DATABASE_URL`` or the embedded SQLite file in the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.resolved_data_dir / 'studio.sqlite3'}"

    @property
    def resolved_models_dir(self) -> Path:
        """``STUDIO_MODELS_DIR`` or ``<data dir>/models``."""
        if self.models_dir is not None:
            return self.models_dir.expanduser().resolve()
        return self.resolved_data_dir / "models"

    @property
    def blobs_dir(self) -> Path:
        """Where the content-addressed blob store keeps its files."""
        return self.resolved_data_dir / "blobs"

    def is_admin(self, platform: str, platform_user_id: str) -> bool:
        """Whether ``platform:user_id`` is listed in ``STUDIO_ADMINS``."""
        return f"{platform}:{platform_user_id}" in self.admins
