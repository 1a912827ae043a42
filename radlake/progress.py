"""Progress of long commands: rich bars on a terminal, plain timestamped lines otherwise, silence in tests."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal, TextIO

Mode = Literal["rich", "plain", "off"]

PLAIN_EVERY_SECONDS = 5.0
"""A plain-line phase with a total reports at most this often (a log file stays readable)."""


def detect_mode(stream: TextIO | None = None) -> Mode:
    """How to show progress on ``stream`` (stderr by default).

    ``RADLAKE_PROGRESS`` (``rich``, ``plain`` or ``off``) decides when set; else nothing under pytest (tests
    assert on a command's own output), bars on a terminal and plain lines elsewhere (logs, pipes, CI).
    """
    chosen = os.environ.get("RADLAKE_PROGRESS", "").strip().lower()
    if chosen in ("rich", "plain", "off"):
        return chosen  # type: ignore[return-value]
    if "PYTEST_CURRENT_TEST" in os.environ:
        return "off"
    target = stream if stream is not None else sys.stderr
    isatty = getattr(target, "isatty", None)
    return "rich" if isatty is not None and isatty() else "plain"


class Phase:
    """One named step of a command; ``advance``/``update`` move its bar when it has a total."""

    def __init__(self, owner: Progress, name: str, total: int | None) -> None:
        self._owner = owner
        self.name = name
        self.total = total
        self.completed = 0
        self.started = time.perf_counter()
        self._last_line = self.started
        self._task: object | None = None

    def advance(self, n: int = 1) -> None:
        """Count ``n`` more units of work done."""
        self.update(self.completed + n)

    def update(self, completed: int, total: int | None = None) -> None:
        """Set the units done (and the total, once it is known)."""
        self.completed = completed
        if total is not None:
            self.total = total
        self._owner._moved(self)

    def note(self, text: str) -> None:
        """A line about this phase (a count, a choice made), shown above the bars."""
        self._owner.note(f"{self.name}: {text}")

    @property
    def seconds(self) -> float:
        """Seconds since the phase started."""
        return time.perf_counter() - self.started


class Progress:
    """The progress of one command, as phases with optional totals; every phase's time is kept in ``timings``.

    Parameters
    ----------
    title
        Shown before every plain line (``radlake empi link``).
    mode
        ``rich``, ``plain`` or ``off``; default :func:`detect_mode`.
    stream
        Where to write (stderr by default: stdout may carry the command's own output).

    Examples
    --------
    >>> with Progress("radlake demo", mode="off") as progress:
    ...     with progress.phase("scoring", total=3) as step:
    ...         for _ in range(3):
    ...             step.advance()
    >>> sorted(progress.timings)
    ['scoring']
    """

    def __init__(self, title: str, *, mode: Mode | None = None, stream: TextIO | None = None) -> None:
        self.title = title
        self.stream = stream
        self.mode: Mode = mode or detect_mode(stream)
        self.timings: dict[str, float] = {}
        self._lock = threading.Lock()
        self._rich: object | None = None
        self._depth = 0
        self._current: Phase | None = None

    def __enter__(self) -> Progress:
        self._depth += 1
        if self.mode == "rich" and self._rich is None:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, SpinnerColumn, TextColumn, TimeElapsedColumn
            from rich.progress import Progress as RichProgress

            console = Console(file=self.stream or sys.stderr)
            self._rich = RichProgress(
                SpinnerColumn(),
                TextColumn("[bold cyan]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
                transient=False,
            )
            self._rich.start()  # type: ignore[attr-defined]
        return self

    def __exit__(self, *exc: object) -> None:
        if self._current is not None:
            self.finish(self._current, failed=exc[0] is not None)
            self._current = None
        self._depth -= 1
        if self._depth == 0 and self._rich is not None:
            self._rich.stop()  # type: ignore[attr-defined]
            self._rich = None

    @contextmanager
    def phase(self, name: str, total: int | None = None) -> Iterator[Phase]:
        """Run one step: shown while it runs, its time added to ``timings[name]`` when it ends."""
        step = self.start(name, total)
        try:
            yield step
        except BaseException:
            # Never "done" before the error that stopped it (issue 33: `cdc sync` said done, then failed).
            self.finish(step, failed=True)
            raise
        self.finish(step)

    def start(self, name: str, total: int | None = None) -> Phase:
        """Begin a phase without a ``with`` block (end it with :meth:`finish`)."""
        step = Phase(self, name, total)
        if self._rich is not None:
            step._task = self._rich.add_task(name, total=total)  # type: ignore[attr-defined]
        elif self.mode == "plain":
            self._line(f"{name} …" if total is None else f"{name} … (0/{total:,})")
        return step

    def finish(self, step: Phase, *, failed: bool = False) -> None:
        """End a phase begun with :meth:`start`: its bar completes (or stops, if it ``failed``), its time is kept."""
        seconds = step.seconds
        with self._lock:
            self.timings[step.name] = self.timings.get(step.name, 0.0) + seconds
        if self._rich is not None and step._task is not None:
            done = step.total if step.total is not None else 1
            if failed:
                self._rich.update(step._task, description=f"{step.name} (failed)")  # type: ignore[attr-defined]
            else:
                self._rich.update(step._task, total=done, completed=done)  # type: ignore[attr-defined]
        elif self.mode == "plain":
            self._line(
                f"{step.name} failed after {seconds:.1f} s" if failed else f"{step.name} done in {seconds:.1f} s"
            )

    def step(self, name: str) -> Phase:
        """End the phase the last ``step`` began (if any) and begin the next: for code that reports by messages."""
        if self._current is not None:
            self.finish(self._current)
        self._current = self.start(name)
        return self._current

    def note(self, text: str) -> None:
        """A line of information (not a phase)."""
        if self._rich is not None:
            self._rich.console.print(f"  {text}", markup=False, highlight=False)  # type: ignore[attr-defined]
        elif self.mode == "plain":
            self._line(text)

    def _moved(self, step: Phase) -> None:
        if self._rich is not None and step._task is not None:
            self._rich.update(step._task, completed=step.completed, total=step.total)  # type: ignore[attr-defined]
        elif self.mode == "plain":
            now = time.perf_counter()
            if now - step._last_line >= PLAIN_EVERY_SECONDS:
                step._last_line = now
                share = f" {100 * step.completed / step.total:.0f}%" if step.total else ""
                of = f"/{step.total:,}" if step.total else ""
                self._line(f"{step.name}{share} ({step.completed:,}{of}, {step.seconds:.0f} s)")

    def _line(self, text: str) -> None:
        stream = self.stream or sys.stderr
        with self._lock:
            stream.write(f"{self.title}: {text}\n")
            stream.flush()


def silent() -> Progress:
    """A progress that shows nothing but still keeps the phase timings (the default of library functions)."""
    return Progress("", mode="off")
