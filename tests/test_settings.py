from __future__ import annotations

import pytest

from core import jobkinds
from core.settings import Settings


def test_placeholder_secret_refused_in_production() -> None:
    with pytest.raises(ValueError, match="STUDIO_SECRET_KEY"):
        Settings(environment="production", _env_file=None)  # type: ignore[call-arg]


def test_placeholder_secret_allowed_in_development(tmp_path) -> None:
    settings = Settings(environment="development", data_dir=tmp_path, _env_file=None)  # type: ignore[call-arg]
    assert settings.resolved_database_url.startswith("sqlite:///")


def test_environment_names_and_admin_list(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("STUDIO_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("STUDIO_DATABASE_URL", "postgresql+psycopg://u@h/db")
    monkeypatch.setenv("STUDIO_ADMINS", "telegram:1, discord:2")
    monkeypatch.setenv("STUDIO_TELEGRAM_BASE_URL", "http://127.0.0.1:9/bot")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.resolved_database_url == "postgresql+psycopg://u@h/db"
    assert settings.is_admin("telegram", "1") and settings.is_admin("discord", "2")
    assert not settings.is_admin("telegram", "2")
    assert settings.telegram_base_url == "http://127.0.0.1:9/bot"


def test_timeouts_by_kind() -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert jobkinds.info("echo").timeout(settings) == settings.timeout_echo_s
    assert jobkinds.info("train_lora").timeout(settings) == settings.timeout_train_s
    assert jobkinds.info("persona_analyze").timeout(settings) == settings.timeout_persona_s
