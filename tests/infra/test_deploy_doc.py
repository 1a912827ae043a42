"""docs/DEPLOY.md, SCALING.md and SECURITY.md: every radlake/Dagster command they show exists, every repo path too."""

from __future__ import annotations

import re
import shlex

import pytest
from infra_files import ENTRY_POINTS, ROOT

DOCS = [ROOT / "docs" / "DEPLOY.md", ROOT / "docs" / "SCALING.md", ROOT / "docs" / "SECURITY.md"]
PATH_PATTERN = re.compile(r"(?<![\w/.-])((?:infra|docs|bench|tests|orchestration|radlake|expectations)/[\w./*-]*[\w*])")
STOP = {"|", "&&", ";", ">", "<", "||", ")"}


def _code(text: str) -> list[str]:
    """Lines of fenced blocks and inline code spans."""
    lines = []
    for block in re.findall(r"```[a-z]*\n(.*?)```", text, flags=re.DOTALL):
        lines += block.replace("\\\n", " ").splitlines()
    lines += re.findall(r"`([^`\n]+)`", re.sub(r"```.*?```", "", text, flags=re.DOTALL))
    return lines


def _commands(text: str) -> list[list[str]]:
    found = []
    for line in _code(text):
        try:
            tokens = shlex.split(line, comments=True)
        except ValueError:
            continue
        for i, token in enumerate(tokens):
            if token not in ENTRY_POINTS or i + 1 == len(tokens):
                continue
            # A command starts a line, follows a shell separator or "--", or is what `exec SERVICE` or
            # `run --rm SERVICE` runs; elsewhere the word is an argument (a user, a namespace).
            starts = i == 0 or tokens[i - 1] in STOP | {"--"} or (i >= 2 and tokens[i - 2] in ("exec", "--rm"))
            if not starts:
                continue
            argv = []
            for t in tokens[i:]:
                if t in STOP:
                    break
                argv.append(t)
            found.append(argv)
    return found


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_commands_in_the_docs_exist(doc, check_command) -> None:
    commands = _commands(doc.read_text(encoding="utf-8"))
    if doc.name == "DEPLOY.md":
        assert len(commands) >= 8, commands  # the guide really shows commands: the parser works
    for argv in commands:
        # `radlake lake history|restore` in prose: each alternative must exist.
        split = next((i for i, a in enumerate(argv) if "|" in a and not a.startswith("-")), None)
        if split is None:
            check_command(argv)
            continue
        for word in argv[split].split("|"):
            check_command([*argv[:split], word, *argv[split + 1 :]])


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_paths_in_the_docs_exist(doc) -> None:
    paths = set(PATH_PATTERN.findall(doc.read_text(encoding="utf-8")))
    assert paths
    created_at_site = (ROOT / "infra" / "compose" / ".gitignore").read_text().split()
    for path in sorted(paths):
        if any(path.rstrip("/").endswith("/" + name.rstrip("/")) for name in created_at_site):
            continue  # made by the operator (.env, the air-gapped jar folder), never committed
        if path.startswith("bench/out/"):
            continue  # what a benchmark writes when run, never committed
        if "*" in path:
            assert list(ROOT.glob(path)), path
        else:
            assert (ROOT / path).exists(), f"{doc.name} names {path}, which is not in the repository"
