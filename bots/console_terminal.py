"""The console in a terminal: an input line that stays usable at the bottom while results print above it and
the live bars of jobs in flight are redrawn between the two (prompt_toolkit's ``patch_stdout``)."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, TextIO

from rich.console import Console

if TYPE_CHECKING:
    from bots.console import ConsoleFrontend

PROMPT = "› "
QUIT_WORDS = ("quit", "exit", "/quit", "/exit")


def interactive(stdin: TextIO) -> bool:
    """Whether the live screen can run: both ends are a terminal and prompt_toolkit is installed."""
    try:
        import prompt_toolkit  # noqa: F401  (the bots extra brings it; without it the console reads lines)
    except ImportError:
        return False
    return stdin.isatty() and sys.stdout.isatty()


def run_terminal(frontend: ConsoleFrontend) -> None:
    """Read lines until Ctrl-D, "quit" or Ctrl-C (``KeyboardInterrupt``) while the frontend prints above."""
    from prompt_toolkit import PromptSession
    from prompt_toolkit.patch_stdout import patch_stdout

    from bots.console import GREETING

    # Cursor position requests only measure room for completion menus, which this prompt has none of; a terminal
    # that does not answer them would get prompt_toolkit's warning printed into the chat.
    os.environ.setdefault("PROMPT_TOOLKIT_NO_CPR", "1")
    # The prompt area (live bars and the input line) is erased when a line is accepted, and the line is printed
    # back on its own: bars never freeze into the scrollback.
    session: PromptSession[str] = PromptSession(erase_when_done=True)

    def message() -> str:
        # Redrawn on every change: the bars of jobs in flight, then the prompt. Each bar fits one line, so a bar
        # is never torn by wrapping and typed text never lands on one.
        width = session.output.get_size().columns
        return "\n".join([*frontend.bars.lines(max(20, width - 1)), PROMPT])

    def redraw() -> None:
        app = session.app
        if app.is_running:
            app.invalidate()  # safe from the delivery thread

    with patch_stdout(raw=True):
        # Everything printed from here on goes above the input line, from any thread.
        frontend.console = Console(file=sys.stdout, highlight=False, soft_wrap=True)
        frontend.redraw = redraw
        frontend.say(GREETING)
        try:
            while not frontend.stopping.is_set():
                try:
                    line = session.prompt(message, refresh_interval=1.0)
                except EOFError:  # Ctrl-D
                    return
                if line.strip():
                    frontend.say(f"{PROMPT}{line.strip()}")
                if line.strip() in QUIT_WORDS:
                    return
                frontend.feed(line)
        finally:
            frontend.redraw = lambda: None
            # The proxy closes with this block: what is said from now on ("stopping…") goes to the terminal.
            frontend.console = Console(highlight=False)

