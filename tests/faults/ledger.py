"""Counting what a fault did to the jobs: submitted, ended, delivered and duplicated must all agree."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from storage.db import Database
from storage.models import Asset, Job
from storage.states import JobStatus

FINAL = {status.value for status in JobStatus if status.is_final}


@dataclass(frozen=True)
class Ledger:
    """One line per fault test: every job submitted ended, was shown once, and kept one set of outputs."""

    submitted: int
    ended: int
    delivered: int
    duplicated: int
    outputs: dict[str, int]

    @classmethod
    def count(cls, db: Database, job_ids: list[str], shown: Counter[str]) -> Ledger:
        """``shown``: how often the chat showed each job's final result."""
        with db.session() as session:
            jobs = [session.get(Job, job_id) for job_id in job_ids]
            ended = sum(1 for job in jobs if job is not None and job.status in FINAL)
            outputs = {job_id: session.query(Asset).filter(Asset.job_id == job_id).count() for job_id in job_ids}
        return cls(submitted=len(job_ids), ended=ended,
                   delivered=sum(1 for job_id in job_ids if shown[job_id] >= 1),
                   duplicated=sum(1 for job_id in job_ids if shown[job_id] > 1), outputs=outputs)

    def balanced(self, *, outputs_per_job: int | None = None) -> bool:
        """Submitted = ended = delivered, nothing shown twice, and (when given) each job kept that many outputs."""
        same = self.submitted == self.ended == self.delivered and self.duplicated == 0
        if outputs_per_job is not None:
            same = same and all(count == outputs_per_job for count in self.outputs.values())
        return same
