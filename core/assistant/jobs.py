"""The user's jobs: /jobs, /cancel (an id or a prefix of one, a reply to a status message, or alone: the job in
progress), its buttons, and /echo (a job with no model)."""

from __future__ import annotations

from core import actions, grammar
from core.assistant import personas
from core.assistant.turn import Turn
from core.jobkinds import label as kind_label
from core.jobspecs import EchoSpec
from core.messages import Reply
from core.progress import bar, short_id, shorten
from storage.models import Job
from storage.repositories import jobs as job_repo
from storage.states import JobStatus

MAX_CANCEL_BUTTONS = 6


def listing(turn: Turn, _cmd: grammar.Jobs) -> list[Reply]:
    lines = []
    for job in job_repo.recent(turn.session, owner_id=turn.user.id, limit=10):
        state = bar(job.progress) if job.status == JobStatus.RUNNING.value else job.status
        if job.cancel_requested and job.status == JobStatus.RUNNING.value:
            state += " (stopping)"
        lines.append(f"#{short_id(job.id)} · {kind_label(job.kind)} · {state}")
    if not lines:
        return [Reply(text="No jobs yet. Try /imagine or /persona new <name>.")]
    return [Reply(text="Your jobs (newest first):\n" + "\n".join(lines)
                  + "\n/cancel <id> stops one (its first characters are enough); /cancel alone stops the newest.")]


def cancel(turn: Turn, cmd: grammar.CancelJob | actions.CancelJob) -> list[Reply]:
    """Stop the job named by its id or a prefix of it."""
    return [Reply(text=_cancel(turn, turn.job(cmd.job_id)))]


def stop(turn: Turn, cmd: grammar.Abort) -> list[Reply]:
    """/cancel alone: leave the dialogue in progress, else stop the job whose status message this replies to,
    else the job in progress (asking which when there are several)."""
    if (turn.user.dialogue or {}).get("flow") == "persona":
        return personas.abort(turn, cmd)
    replied = turn.replied_job()
    if replied is not None:
        return [Reply(text=_cancel(turn, replied))]
    active = turn.active_jobs()
    if not active:
        return [Reply(text="Nothing to cancel: none of your jobs is queued or running (/jobs lists recent ones).")]
    if len(active) == 1:
        return [Reply(text=_cancel(turn, active[0]))]
    shown = active[:MAX_CANCEL_BUTTONS]
    buttons = [actions.button(f"⏹ {_describe(job)}", actions.CancelJob(job.id)) for job in shown]
    buttons += [actions.button(f"⏹ All {len(active)}", actions.CancelAll()), actions.button("Keep", actions.Noop())]
    return [Reply(text=f"You have {len(active)} jobs in progress; the newest running one is first. Which should "
                       "stop?", buttons=buttons)]


def cancel_all(turn: Turn, _cmd: grammar.CancelAll | actions.CancelAll) -> list[Reply]:
    """Stop every queued and running job of the user."""
    active = turn.active_jobs()
    if not active:
        return [Reply(text="Nothing to cancel: none of your jobs is queued or running.")]
    return [Reply(text="\n".join(_cancel(turn, job) for job in active))]


def _describe(job: Job) -> str:
    state = f"{round(job.progress * 100)}%" if job.status == JobStatus.RUNNING.value else "queued"
    return f"{kind_label(job.kind)} #{short_id(job.id)} · {state}"


def _cancel(turn: Turn, job: Job) -> str:
    job_id = job.id
    turn.session.commit()  # the job service changes the row in a transaction of its own
    answer = turn.services.jobs.cancel(owner_id=turn.user.id, job_id=job_id)
    # Chats name jobs by their short id everywhere; the service names the whole one.
    return answer.replace(f"Job {job_id}", f"Job #{short_id(job_id)}").replace(f"job {job_id}",
                                                                              f"job #{short_id(job_id)}")


def echo(turn: Turn, cmd: grammar.Echo) -> list[Reply]:
    return turn.submit(EchoSpec(text=cmd.text, seconds=cmd.seconds), label=f"echo “{shorten(cmd.text, 40)}”")


def noop(_turn: Turn, _action: actions.Noop) -> list[Reply]:
    return [Reply(text="OK.")]


COMMANDS = {grammar.Jobs: listing, grammar.CancelJob: cancel, grammar.Abort: stop, grammar.CancelAll: cancel_all,
            grammar.Echo: echo}
BUTTONS = {actions.CancelJob: cancel, actions.CancelAll: cancel_all, actions.Noop: noop}
