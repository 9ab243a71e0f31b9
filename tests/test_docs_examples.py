"""Every example in README.md and docs/*.md runs as written, and the reference tables say what the code does.

The convention: an HTML comment on the line right before a fenced code block says what the block is.

    <!-- run -->                 Run it against a fake: ```sh blocks with `bash -euo pipefail`, ```python blocks
                                 with this interpreter. Each `expect="text"` clause (any number, `\\"` for a quote)
                                 names text its output must contain.
    <!-- excerpt: PATH -->       The block is quoted verbatim (a contiguous run of lines) from PATH, a file the
                                 suite runs, so the quoted code is tested there.
    <!-- check: fixtures -->     A YAML block that is a fixtures file: the fake must build its world from it.
    <!-- not run: REASON -->     Not run here, for the reason given: it installs the project, starts a server that
                                 runs until stopped, or needs Docker or GitHub. The reason is required.

Every ```sh, ```bash, ```python and ```yaml block must carry one of these (YAML blocks are also parsed, whatever
their marker); ```text and ```json blocks are illustrations and need none.

Run blocks run in a fresh temporary folder, with this interpreter's folder first on PATH (so `python` and
`mockserver` are the installed ones), against one `mockserver serve` started on a free port for this module and
reset before each block. The documented default address, http://127.0.0.1:8080, is rewritten to that server's
address; nothing else in the block changes.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from mockserver.app import build_context, create_app
from mockserver.settings import Settings, env_name
from mockserver.testing import serve_process

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
DEFAULT_BASE = "http://127.0.0.1:8080"
MARKED = {"sh", "bash", "python", "yaml"}
UNMARKED = {"text", "json"}
# Pages other branches add; the README already links them. Drop an entry once the page is in the repository.
PENDING: set[str] = set()
SURFACE_PAGES = {
    "firefly": "docs/firefly.md",
    "training": "docs/training.md",
    "scenario": "docs/scenario.md",
    "admin": "docs/control-api.md",
    "dashboard": "docs/dashboard.md",
}


@dataclasses.dataclass
class Block:
    page: Path
    line: int  # 1-based line of the opening fence
    lang: str
    marker: str  # "run", "excerpt", "check", "not run", or "" when unmarked
    argument: str  # what follows the marker's keyword
    code: str

    @property
    def id(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"

    def expects(self) -> list[str]:
        return [m.replace('\\"', '"') for m in re.findall(r'expect="((?:[^"\\]|\\.)*)"', self.argument)]


_MARKER = re.compile(r"^<!--\s*(run|excerpt|check|not run)\b:?(.*?)-->\s*$")


def blocks(page: Path) -> list[Block]:
    found = []
    lines = page.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        opening = re.match(r"^\s*```(\S*)\s*$", lines[i])  # fences inside list items are indented
        if not opening:
            i += 1
            continue
        end = next(j for j in range(i + 1, len(lines)) if lines[j].strip().startswith("```"))
        marker = _MARKER.match(lines[i - 1].strip()) if i > 0 else None
        found.append(
            Block(
                page=page,
                line=i + 1,
                lang=opening.group(1),
                marker=marker.group(1) if marker else "",
                argument=marker.group(2).strip() if marker else "",
                code=textwrap.dedent("\n".join(lines[i + 1 : end]) + "\n"),
            )
        )
        i = end + 1
    return found


ALL = [block for page in PAGES for block in blocks(page)]
RUN = [b for b in ALL if b.marker == "run"]


def test_every_block_says_whether_it_runs():
    assert len(ALL) > 10  # the parser found the blocks
    for block in ALL:
        assert block.lang in MARKED | UNMARKED, f"{block.id}: give the block a language ({sorted(MARKED | UNMARKED)})"
        if block.lang in MARKED:
            assert block.marker, f"{block.id}: mark the block (see the convention in {Path(__file__).name})"
        if block.marker == "not run":
            assert len(block.argument) > 10, f"{block.id}: say why the block is not run"
        if block.marker == "run":
            assert block.lang in ("sh", "bash", "python"), f"{block.id}: only shell and Python blocks can run"
        if block.lang == "yaml":
            assert yaml.safe_load(block.code) is not None, block.id


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with serve_process([sys.executable, "-m", "mockserver", "serve", "--no-access-log"]) as (_, base):
        yield base


@pytest.mark.parametrize("block", RUN, ids=[b.id for b in RUN])
def test_run_block(block: Block, server: str, tmp_path: Path) -> None:
    if block.lang != "python":
        missing = [tool for tool in ("curl", "jq") if shutil.which(tool) is None]
        if missing and not os.environ.get("CI"):
            pytest.skip(f"the shell examples need {', '.join(missing)}")
    httpx.post(f"{server}/__admin/reset").raise_for_status()
    code = block.code.replace(DEFAULT_BASE, server)
    if block.lang == "python":
        script = tmp_path / "example.py"
        script.write_text(code, encoding="utf-8")
        command = [sys.executable, str(script)]
    else:
        command = ["bash", "-euo", "pipefail", "-c", code]
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"{block.id} exited {done.returncode}:\n{output}"
    for expected in block.expects():
        assert expected in done.stdout, f"{block.id}: {expected!r} not in its output:\n{output}"


@pytest.mark.parametrize("block", [b for b in ALL if b.marker == "excerpt"], ids=lambda b: b.id)
def test_excerpt_is_quoted_from_a_tested_file(block: Block) -> None:
    source = ROOT / block.argument
    assert source.is_file(), f"{block.id}: {block.argument} does not exist"
    assert block.code.strip("\n") in source.read_text(encoding="utf-8"), f"{block.id}: not a quote of {source}"
    assert source.parent.name == "tests" and source.name.startswith("test_"), f"{block.id}: not a test file"


@pytest.mark.parametrize("block", [b for b in ALL if b.marker == "check"], ids=lambda b: b.id)
def test_fixture_examples_load(block: Block, tmp_path: Path) -> None:
    assert block.argument == "fixtures", f"{block.id}: unknown check {block.argument!r}"
    (tmp_path / "example.yaml").write_text(block.code, encoding="utf-8")
    ctx = build_context(Settings.from_env(env={}, fixtures=str(tmp_path)))
    ctx.world.start()
    assert ctx.world.fixtures.clients and ctx.world.fixtures.custom_models


def test_links_stay_inside_the_repository_and_resolve():
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            where = f"{page.relative_to(ROOT)} links {target}"
            assert "://" not in target and not target.startswith("/"), f"{where}: outside the repository"
            path, _, anchor = target.partition("#")
            resolved = (page.parent / path).resolve() if path else page
            assert resolved.is_relative_to(ROOT), f"{where}: outside the repository"
            relative = resolved.relative_to(ROOT).as_posix()
            if relative in PENDING:
                continue
            assert resolved.exists(), f"{where}: no such file"
            if anchor and resolved.suffix == ".md":
                headings = re.findall(r"^#+ (.+)$", resolved.read_text(encoding="utf-8"), re.MULTILINE)
                assert anchor in {_slug(h) for h in headings}, f"{where}: no such heading"
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for page in sorted((ROOT / "docs").glob("*.md")):
        assert f"](docs/{page.name})" in readme, f"the README does not link docs/{page.name}"
    for pending in PENDING:
        assert f"]({pending})" in readme


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_readme_is_short_and_has_the_two_commands():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 165
    commands = [b.code.strip() for b in blocks(ROOT / "README.md") if "python3 -m venv .venv" in b.code]
    assert commands == [
        "python3 -m venv .venv && . .venv/bin/activate && pip install . && mockserver serve",
        "python3 -m venv .venv && . .venv/bin/activate && pip install -e '.[test]' && python -m pytest -n 2",
    ]
    assert "shared/" not in readme


def test_settings_table_lists_every_setting_as_the_cli_takes_it():
    text = (ROOT / "docs/sidecar.md").read_text(encoding="utf-8").split("## Settings", 1)[1].split("\n## ", 1)[0]
    rows = [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in text.splitlines()
        if line.startswith("| `--")
    ]
    documented = {row[1].strip("`"): row for row in rows}
    fields = dataclasses.fields(Settings)
    assert sorted(documented) == sorted(env_name(f.name) for f in fields)
    for f in fields:
        flag, variable, default, meaning = documented[env_name(f.name)]
        expected_flag = f.metadata.get("flag") or "--" + f.name.replace("_", "-")
        assert flag.strip("`").split()[0] == expected_flag, variable
        if f.default is dataclasses.MISSING:
            expected_default = "the bundled folder"
        elif f.default is None:
            expected_default = "none"
        elif isinstance(f.default, bool):
            expected_default = str(f.default).lower()
        else:
            expected_default = str(f.default)
        assert default.strip("`").split(" (")[0] == expected_default, variable
        assert meaning, variable
        for choice in f.metadata.get("choices") or ():
            assert f"`{choice}`" in meaning, f"{variable}: choice {choice} not documented"


def test_every_route_is_documented_on_its_surface_page():
    app = create_app(Settings.from_env(env={}))
    for surface in app.state.surfaces:
        page = SURFACE_PAGES.get(surface.surface)
        if page is None:
            continue
        documented = _normalise((ROOT / page).read_text(encoding="utf-8"))
        for route in surface.routes():
            assert _normalise(route.path) in documented, f"{route.path} is not in {page}"


def _normalise(text: str) -> str:
    return re.sub(r"\{[^}]*\}", "{}", text)
