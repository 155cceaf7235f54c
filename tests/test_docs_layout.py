"""docs/layout.md names every module of galfriday/ and examples/, and nothing that is gone."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).parent.parent
LAYOUT = ROOT / "docs" / "layout.md"
TREES = ("galfriday", "examples")  # the folders whose every .py the tree must name
ENTRY = re.compile(r"^( {0,8})(\S+)(?: {2,}\S.*)?$")  # a name, then two spaces and its line


def documented(text: str) -> set[str]:
    """The paths the first code block of ``text`` draws as a tree (two spaces a level)."""
    block = text.split("```", 2)[1]
    folders: list[str] = []
    paths: set[str] = set()
    for line in block.splitlines()[1:]:
        match = ENTRY.match(line)
        if match is None:
            continue  # a description's second line
        indent, name = len(match.group(1)), match.group(2)
        del folders[indent // 2 :]
        if name.endswith("/"):
            folders.append(name.rstrip("/"))
        elif name.endswith(".py"):
            paths.add("/".join([*folders, name]))
    return paths


def on_disk() -> set[str]:
    return {
        path.relative_to(ROOT).as_posix()
        for tree in TREES
        for path in (ROOT / tree).rglob("*.py")
        if "__pycache__" not in path.parts
    }


def test_the_tree_reads_nested_folders_and_skips_description_lines() -> None:
    text = "```\npkg/\n  a.py  one\n                 more words.py\n  sub/\n    b.py  two\n"
    text += "  c.py\n```"
    assert documented(text) == {"pkg/a.py", "pkg/sub/b.py", "pkg/c.py"}


def test_every_module_is_in_the_layout() -> None:
    missing = on_disk() - documented(LAYOUT.read_text())
    assert not missing, f"docs/layout.md does not name {sorted(missing)}"


def test_the_layout_names_no_module_that_does_not_exist() -> None:
    stale = {p for p in documented(LAYOUT.read_text()) if p.startswith(TREES)} - on_disk()
    assert not stale, f"docs/layout.md names {sorted(stale)}, which do not exist"
