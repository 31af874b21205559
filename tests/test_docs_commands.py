"""Every `s3gw` command the README and docs/*.md show: its command and options exist in the CLI (click's own
tables), and each code block that shows commands names the test that runs it (`Run by`/`Captured by` right after
the block). The README's real-AWS block is run here, on the sandbox the sandbox page's example starts."""

from __future__ import annotations

import ast
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import click
import pytest

from s3gw.cli import cli

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

FENCE = re.compile(r"^```[^\n]*\n(.*?)^```$", re.S | re.M)
# In a code block, a command starts a line (after a prompt `$ ` or a YAML `- run: `) or follows a shell operator.
BLOCK_COMMAND = re.compile(r"(?:^|&&|\|\||;|\||\$\()[ \t]*(?:\$[ \t]+|-?[ \t]*run:[ \t]+)?s3gw(?=[ \t]|$)", re.M)
INLINE = re.compile(r"(?<!`)`(s3gw [^`]+)`(?!`)")
# Where a command's words end: a pipe, a redirection, a subshell's end, a comment, a quote. (A `|` between
# brackets is a choice of values, `[--format tree|mermaid]`: words() takes it out first.)
END = re.compile(r"\s#|[|;&)>'\"`]")
CHOICES = re.compile(r"\[[^\]\n]*\]")
TESTED_BY = re.compile(r"^(?:Run|Captured) by ")
TEST_ID = re.compile(r"`(tests/[\w/]+\.py)::(\w+)`")
# The blocks test_the_documented_lifecycles_run reads from the pages (a line each block holds): it runs the
# README's whole, on a sandbox started by the sandbox page's first two lines.
RUN_HERE = {"docs/sandbox.md": "--env-file sandbox.env", "README.md": "export AWS_PROFILE="}


@dataclass(frozen=True)
class Shown:
    page: str
    line: int
    text: str  # the words after `s3gw`


def commands_in(text: str, page: str) -> list[Shown]:
    """The `s3gw …` commands of one Markdown page: in its code blocks, and in inline code spans."""
    shown: list[Shown] = []
    for block in FENCE.finditer(text):
        code = block.group(1)
        for found in BLOCK_COMMAND.finditer(code):
            line = text.count("\n", 0, block.start(1) + found.start()) + 1
            shown.append(Shown(page, line, words(code[found.end():].split("\n", 1)[0])))
    outside = FENCE.sub(lambda m: "\n" * m.group(0).count("\n"), text)  # keep line numbers
    for found in INLINE.finditer(outside):
        shown.append(Shown(page, outside.count("\n", 0, found.start()) + 1, words(found.group(1)[len("s3gw"):])))
    return shown


def words(rest: str) -> str:
    """What follows `s3gw`, up to where the command ends."""
    rest = CHOICES.sub(lambda m: m.group(0).replace("\\|", " ").replace("|", " "), rest)
    return END.split(rest, 1)[0]


def problem(shown: Shown) -> str | None:
    """Why the CLI would not take this command's name and options (None: it would)."""
    words = [w.strip("[]") for w in shown.text.replace("…", " ").split()]
    words = [w for w in words if w and w not in ("|", "...")]
    command: click.Command = cli
    allowed = _options(cli)
    takes_value = _valued(cli)
    index = 0
    while index < len(words):  # the command's path: global options may come before the name
        word = words[index]
        if word.startswith("-"):
            index += 1 + (word.split("=", 1)[0] in takes_value and "=" not in word)
            continue
        if not isinstance(command, click.Group):
            break
        if word.isupper():  # a placeholder for any command (`s3gw COMMAND --help`)
            return None if all(w.split("=", 1)[0] in _every_option() for w in words if w.startswith("-")) else (
                f"{shown.page}:{shown.line}: 's3gw {shown.text.strip()}': an option no command has")
        sub = command.commands.get(word)
        if sub is None:
            return f"{shown.page}:{shown.line}: 's3gw {shown.text.strip()}': no command '{word}'"
        command = sub
        allowed |= _options(sub)
        takes_value |= _valued(sub)
        index += 1
    for word in words:
        if word.startswith("-") and word.split("=", 1)[0] not in allowed:
            return f"{shown.page}:{shown.line}: 's3gw {shown.text.strip()}': no option {word.split('=', 1)[0]}"
    return None


def _options(command: click.Command) -> set[str]:
    params = command.get_params(click.Context(command))
    return {name for p in params if isinstance(p, click.Option) for name in (*p.opts, *p.secondary_opts)}


def _valued(command: click.Command) -> set[str]:
    return {name for p in command.params if isinstance(p, click.Option) and not p.is_flag and not p.count
            for name in p.opts}


def _every_option() -> set[str]:
    found = _options(cli)
    todo: list[click.Command] = list(cli.commands.values())
    while todo:
        command = todo.pop()
        found |= _options(command)
        todo += list(command.commands.values()) if isinstance(command, click.Group) else []
    return found


def all_shown() -> list[Shown]:
    return [one for page in PAGES for one in commands_in(page.read_text(), str(page.relative_to(ROOT)))]


def test_every_command_shown_exists_with_its_options() -> None:
    shown = all_shown()
    assert len(shown) > 60, "the extractor found too few commands: its patterns no longer match the docs"
    problems = [p for one in shown if (p := problem(one))]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("markdown, says", [
    ("```sh\ns3gw up --no-such-option\n```\n", "no option --no-such-option"),
    ("run `s3gw status --graph --colour`", "no option --colour"),
    ("```\n$ s3gw stauts\n```\n", "no command 'stauts'"),
    ("```yaml\n- run: s3gw state init --force s3://b\n```\n", "no option --force"),
    ("```sh\ns3gw --region eu-west-1 verify --put x\n```\n", "no option --put"),
])
def test_a_command_or_option_the_cli_lacks_is_named(markdown: str, says: str) -> None:
    found = [p for one in commands_in(markdown, "page.md") if (p := problem(one))]
    assert len(found) == 1 and says in found[0], found


def test_global_options_before_the_name_and_values_are_not_taken_for_commands() -> None:
    markdown = "```sh\ns3gw --region eu-west-1 --stack up status --graph   # a stack named up\n```\n"
    assert [problem(one) for one in commands_in(markdown, "page.md")] == [None]


def blocks_with_commands(text: str) -> list[tuple[int, str, str]]:
    """(line, block, the paragraph right after it) for each code block that shows an `s3gw` command."""
    found = []
    for block in FENCE.finditer(text):
        if BLOCK_COMMAND.search(block.group(1)):
            after = text[block.end():].lstrip("\n").split("\n\n", 1)[0]
            found.append((text.count("\n", 0, block.start()) + 1, block.group(1), after))
    return found


def test_each_block_of_commands_names_the_tests_that_run_it() -> None:
    problems = []
    for page in PAGES:
        name = str(page.relative_to(ROOT))
        for line, block, after in blocks_with_commands(page.read_text()):
            tests = TEST_ID.findall(after) if TESTED_BY.match(after) else []
            if not tests:
                problems.append(f"{name}:{line}: no 'Run by `tests/…::test_…`' line after the block")
                continue
            for path, function in tests:
                source = (ROOT / path).read_text() if (ROOT / path).is_file() else ""
                if function not in _test_functions(source):
                    problems.append(f"{name}:{line}: {path}::{function} does not exist")
            if name == "README.md" and RUN_HERE[name] in block:
                continue  # run here, as written
            # The named tests' files run each command the block shows (by its name, as a string).
            files = "".join((ROOT / path).read_text() for path, _ in tests if (ROOT / path).is_file())
            for one in commands_in(f"```\n{block}```\n", name):
                words = [w for w in one.text.split() if not w.startswith(("-", "[", "$"))]
                if words and words[0] in cli.commands and f'"{words[0]}"' not in files:
                    problems.append(f"{name}:{line}: the named tests never run '{words[0]}'")
    assert not problems, "\n".join(problems)


def _test_functions(source: str) -> set[str]:
    return {node.name for node in ast.walk(ast.parse(source)) if isinstance(node, ast.FunctionDef)} if source else set()


def _block_after(page: Path, marker: str) -> str:
    return next(block.group(1) for block in FENCE.finditer(page.read_text()) if marker in block.group(1))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_the_documented_lifecycles_run(tmp_path: Path) -> None:
    """docs/sandbox.md's first two lines as written (another port) start a sandbox and load its variables; then
    the README's real-AWS block runs on it: its export line without the profile, and without the `aws s3 ls` line
    (tests/test_e2e_sandbox.py checks that the seal refuses the host's list)."""
    bash = shutil.which("bash")
    assert bash
    port = str(_free_port())
    start = _block_after(ROOT / "docs" / "sandbox.md", RUN_HERE["docs/sandbox.md"]).splitlines()[:2]
    readme = [re.sub(r"AWS_PROFILE=\S+ ", "", line) for line in
              _block_after(ROOT / "README.md", RUN_HERE["README.md"]).splitlines() if not line.startswith("aws ")]
    assert readme[0] == "export AWS_REGION=eu-west-1" and len(readme) == 7, readme
    script = "\n".join(["set -e", *(line.replace("4566", port) for line in start), *readme, "kill $!", ""])
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "S3GW_"))}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    run = subprocess.Popen([bash, "-c", script], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, start_new_session=True, stdin=subprocess.DEVNULL)
    try:
        out, err = run.communicate(timeout=180)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait()
    assert run.returncode == 0, out + err
    assert "eu-west-1" in out and "down: deleted" in out, out  # the stack was made in the README's region, then went
    assert not list((tmp_path / ".s3gw").glob("*.json")), out  # and its state with it


LINK = re.compile(r"\]\(([^)\s]+)\)")


def _anchors(text: str) -> set[str]:
    """GitHub's anchors for a page's headings: lower case, punctuation dropped, spaces to hyphens."""
    headings = re.findall(r"^#+ (.+)$", FENCE.sub("", text), re.M)
    return {re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-") for heading in headings}


def test_every_link_between_the_pages_reaches_a_file_and_a_heading() -> None:
    """A page moved or a heading renamed must not leave a link behind (the README links into docs/ for depth)."""
    problems = []
    for page in PAGES:
        for target in LINK.findall(FENCE.sub("", page.read_text())):
            if target.startswith(("http://", "https://", "mailto:")):
                continue
            path, _, anchor = target.partition("#")
            file = (page.parent / path).resolve() if path else page
            if not file.exists():
                problems.append(f"{page.relative_to(ROOT)}: {target}: no such file")
            elif anchor and anchor not in _anchors(file.read_text()):
                problems.append(f"{page.relative_to(ROOT)}: {target}: no such heading")
    assert not problems, "\n".join(problems)
