"""Progress display: plain lines off a terminal, silence in tests, phase timings always kept."""

from __future__ import annotations

import io

import pytest

from radlake import progress as progress_mod
from radlake.progress import Progress, detect_mode


def test_plain_lines_name_the_command_and_each_phase(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress_mod, "PLAIN_EVERY_SECONDS", 0.0)
    out = io.StringIO()
    with Progress("radlake empi link", mode="plain", stream=out) as progress:
        with progress.phase("scoring", total=4) as step:
            step.advance(2)
            step.note("rule 1: 12 pairs")
        with progress.phase("clustering"):
            pass
    lines = out.getvalue().splitlines()
    assert lines[0] == "radlake empi link: scoring … (0/4)"
    assert lines[1].startswith("radlake empi link: scoring 50% (2/4, ")
    assert lines[2] == "radlake empi link: scoring: rule 1: 12 pairs"
    assert lines[3].startswith("radlake empi link: scoring done in ")
    assert lines[4] == "radlake empi link: clustering …"
    assert set(progress.timings) == {"scoring", "clustering"}


def test_off_writes_nothing_but_keeps_timings() -> None:
    out = io.StringIO()
    with Progress("x", mode="off", stream=out) as progress, progress.phase("a", total=1) as step:
        step.advance()
    assert out.getvalue() == ""
    assert progress.timings["a"] >= 0


def test_rich_bar_draws_on_the_given_stream() -> None:
    out = io.StringIO()
    with Progress("x", mode="rich", stream=out) as progress, progress.phase("loading", total=10) as step:
        step.update(10)
    assert "loading" in out.getvalue()


def test_mode_quiet_under_pytest_and_overridable(monkeypatch: pytest.MonkeyPatch) -> None:
    assert detect_mode() == "off"
    monkeypatch.setenv("RADLAKE_PROGRESS", "plain")
    assert detect_mode() == "plain"
    monkeypatch.delenv("RADLAKE_PROGRESS")
    monkeypatch.delenv("PYTEST_CURRENT_TEST")
    assert detect_mode(io.StringIO()) == "plain"


def test_steps_end_each_other_and_the_last_ends_with_the_block() -> None:
    out = io.StringIO()
    with Progress("radlake demo", mode="plain", stream=out) as progress:
        progress.step("simulating")
        progress.step("materialising")
    lines = out.getvalue().splitlines()
    assert [line.split(" done in")[0] for line in lines] == [
        "radlake demo: simulating …",
        "radlake demo: simulating",
        "radlake demo: materialising …",
        "radlake demo: materialising",
    ]
    assert set(progress.timings) == {"simulating", "materialising"}


def test_a_phase_that_raises_says_failed_not_done() -> None:
    """`radlake cdc sync` printed "capture … done" and then its error (issue 33)."""
    out = io.StringIO()
    with (
        pytest.raises(RuntimeError),
        Progress("radlake cdc sync", mode="plain", stream=out) as progress,
        progress.phase("capture ris"),
    ):
        raise RuntimeError("database unreachable")
    lines = out.getvalue().splitlines()
    assert lines[-1].startswith("radlake cdc sync: capture ris failed after ")
    assert not any("done" in line for line in lines)
