"""The user's jobs: /jobs, /cancel <job> and its button, and /echo (a job with no model)."""

from __future__ import annotations

from core import actions, grammar
from core.assistant.turn import Turn
from core.jobkinds import label as kind_label
from core.jobspecs import EchoSpec
from core.messages import Reply
from core.progress import bar
from storage.repositories import jobs as job_repo


def listing(turn: Turn, _cmd: grammar.Jobs) -> list[Reply]:
    lines = []
    for job in job_repo.recent(turn.session, owner_id=turn.user.id, limit=10):
        state = bar(job.progress) if job.status == "running" else job.status
        if job.cancel_requested and job.status == "running":
            state += " (stopping)"
        lines.append(f"{job.id} · {kind_label(job.kind)} · {state}")
    if not lines:
        return [Reply(text="No jobs yet. Try /imagine or /persona new <name>.")]
    return [Reply(text="Your jobs (newest first):\n" + "\n".join(lines) + "\n/cancel <job> stops one.")]


def cancel(turn: Turn, cmd: grammar.CancelJob | actions.CancelJob) -> list[Reply]:
    turn.session.commit()  # the job service changes the row in a transaction of its own
    return [Reply(text=turn.services.jobs.cancel(owner_id=turn.user.id, job_id=cmd.job_id))]


def echo(turn: Turn, cmd: grammar.Echo) -> list[Reply]:
    return turn.submit(EchoSpec(text=cmd.text, seconds=cmd.seconds), label=f"echo “{cmd.text[:40]}”")


def noop(_turn: Turn, _action: actions.Noop) -> list[Reply]:
    return [Reply(text="OK.")]


COMMANDS = {grammar.Jobs: listing, grammar.CancelJob: cancel, grammar.Echo: echo}
BUTTONS = {actions.CancelJob: cancel, actions.Noop: noop}
