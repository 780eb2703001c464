"""Storage on both databases: migrations match the models, repositories scope by owner (blobs: test_blobs)."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.exc import IntegrityError

from storage.db import Database
from storage.migrate import downgrade, upgrade
from storage.models import Base
from storage.repositories import assets as asset_repo
from storage.repositories import blob_refs
from storage.repositories import jobs as job_repo
from storage.repositories import personas as persona_repo
from storage.repositories import users as user_repo
from storage.states import JobStatus


def test_migrations_match_models(any_db: Database) -> None:
    with any_db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == [], f"models and migrations disagree: {diff}"


def test_downgrade_to_base_and_back(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'm.sqlite3'}")
    upgrade(database.engine)
    downgrade(database.engine, "base")
    upgrade(database.engine)
    with database.session() as session:
        assert user_repo.get_or_create(session, platform="console", platform_user_id="x").id


def test_users_are_unique_per_platform_account(any_db: Database) -> None:
    with any_db.session() as session:
        a = user_repo.get_or_create(session, platform="telegram", platform_user_id="42", display_name="Ann")
        b = user_repo.get_or_create(session, platform="telegram", platform_user_id="42")
        c = user_repo.get_or_create(session, platform="discord", platform_user_id="42")
        assert a.id == b.id != c.id
        assert b.display_name == "Ann"


def test_persona_names_unique_per_owner_case_insensitive(any_db: Database) -> None:
    with any_db.session() as session:
        ann = user_repo.get_or_create(session, platform="telegram", platform_user_id="1")
        bob = user_repo.get_or_create(session, platform="telegram", platform_user_id="2")
        persona_repo.create(session, owner_id=ann.id, name="Ava")
        persona_repo.create(session, owner_id=bob.id, name="Ava")  # another owner may reuse the name
        assert persona_repo.by_name(session, owner_id=ann.id, name="ava") is not None
    with pytest.raises(IntegrityError), any_db.session() as session:
        persona_repo.create(session, owner_id=ann.id, name="AVA")


def test_nobody_reaches_another_users_content_by_id(any_db: Database) -> None:
    with any_db.session() as session:
        ann = user_repo.get_or_create(session, platform="telegram", platform_user_id="1")
        bob = user_repo.get_or_create(session, platform="telegram", platform_user_id="2")
        persona = persona_repo.create(session, owner_id=ann.id, name="Ava")
        job = job_repo.create(session, owner_id=ann.id, kind="echo", queue="cpu", spec={}, chat={})
        asset = asset_repo.create(session, owner_id=ann.id, kind="image", blob="0" * 64, mime="image/png",
                                  origin="generated")
        assert persona_repo.get_owned(session, persona_id=persona.id, owner_id=bob.id) is None
        assert job_repo.get_owned(session, job_id=job.id, owner_id=bob.id) is None
        assert asset_repo.get_owned(session, asset_id=asset.id, owner_id=bob.id) is None
        assert asset_repo.get_owned(session, asset_id=asset.id, owner_id=ann.id) is asset


def test_job_transition_is_compare_and_set(any_db: Database) -> None:
    with any_db.session() as session:
        user = user_repo.get_or_create(session, platform="console", platform_user_id="c")
        job_id = job_repo.create(session, owner_id=user.id, kind="echo", queue="cpu", spec={}, chat={}).id
    with any_db.session() as session:
        assert job_repo.transition(session, job_id=job_id, to=JobStatus.RUNNING, expect=[JobStatus.QUEUED])
    with any_db.session() as session:
        # A cancel racing a worker that already started: only one of them may move the job.
        assert not job_repo.transition(session, job_id=job_id, to=JobStatus.CANCELLED, expect=[JobStatus.QUEUED])
        assert job_repo.transition(session, job_id=job_id, to=JobStatus.DONE, expect=[JobStatus.RUNNING])
    with any_db.session() as session:
        job = job_repo.get(session, job_id=job_id)
        assert job is not None and job.status == "done"
        assert job.started_at is not None and job.finished_at is not None


def test_persona_delete_cascades_to_references(any_db: Database) -> None:
    with any_db.session() as session:
        user = user_repo.get_or_create(session, platform="console", platform_user_id="d")
        persona = persona_repo.create(session, owner_id=user.id, name="Zoe")
        persona_repo.add_reference(session, persona=persona, blob="a" * 64, filename="1.jpg", width=10, height=10)
        persona_id = persona.id
    with any_db.session() as session:
        persona = persona_repo.get_owned(session, persona_id=persona_id, owner_id=user.id)
        assert persona is not None and len(persona.references) == 1
        session.delete(persona)
    with any_db.session() as session:
        assert not blob_refs.in_use(session, blob="a" * 64)


def test_a_stale_try_cannot_overwrite_the_retry(any_db: Database) -> None:
    with any_db.session() as session:
        user = user_repo.get_or_create(session, platform="console", platform_user_id="s")
        job_id = job_repo.create(session, owner_id=user.id, kind="echo", queue="cpu", spec={}, chat={}).id
    with any_db.session() as session:
        assert job_repo.transition(session, job_id=job_id, to=JobStatus.RUNNING, expect=[JobStatus.QUEUED],
                                   attempts=2)
    with any_db.session() as session:
        assert not job_repo.transition(session, job_id=job_id, to=JobStatus.FAILED, expect=[JobStatus.RUNNING],
                                       attempt=1), "try 1 finished late: try 2 owns the job now"
        assert job_repo.transition(session, job_id=job_id, to=JobStatus.DONE, expect=[JobStatus.RUNNING], attempt=2)


def test_recent_lists_results_and_leaves_the_users_own_uploads_out_unless_asked(any_db: Database) -> None:
    with any_db.session() as session:
        ann = user_repo.get_or_create(session, platform="telegram", platform_user_id="1")
        for origin in ("uploaded", "generated", "edited"):
            asset_repo.create(session, owner_id=ann.id, kind="image", blob=origin[0] * 64, mime="image/png",
                              origin=origin)
        results = {a.origin for a in asset_repo.recent(session, owner_id=ann.id)}
        everything = {a.origin for a in asset_repo.recent(session, owner_id=ann.id, origins=None)}
    assert results == {"generated", "edited"}
    assert everything == {"uploaded", "generated", "edited"}
