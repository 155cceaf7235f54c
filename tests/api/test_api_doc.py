"""docs/api.md and ``galfriday.__all__`` stay in step: a public name without a section, a
section for a name that is not public, or an event field the page does not name, fails."""

from __future__ import annotations

import re
from pathlib import Path

import msgspec

import galfriday

PAGE = Path(__file__).parents[2] / "docs" / "api.md"


def _sections() -> dict[str, str]:
    text = PAGE.read_text()
    parts = re.split(r"^### (.+)$", text, flags=re.MULTILINE)
    return {
        name.replace("\\", ""): body for name, body in zip(parts[1::2], parts[2::2], strict=True)
    }


def test_every_public_name_has_a_section_and_every_section_is_public() -> None:
    assert sorted(_sections()) == sorted(galfriday.__all__)


def test_every_field_of_every_public_struct_is_named_in_its_section() -> None:
    sections = _sections()
    missing = []
    for name in galfriday.__all__:
        kind = getattr(galfriday, name)
        if isinstance(kind, type) and issubclass(kind, msgspec.Struct):
            fields = [f.name for f in msgspec.structs.fields(kind) if f.name != "received_at"]
            missing += [f"{name}.{f}" for f in fields if f"`{f}`" not in sections[name]]
    assert missing == []


def test_every_public_engine_method_is_in_the_engine_table() -> None:
    table = _sections()["Engine"]
    public = [m for m in vars(galfriday.Engine) if not m.startswith("_") and m != "internal"]
    assert [m for m in public if f"`{m}" not in table and f"{m}(" not in table] == []
