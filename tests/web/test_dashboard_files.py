"""The dashboard's static files, read as text: what they promise without a browser."""

from __future__ import annotations

import re
from pathlib import Path

import galfriday.web
from galfriday import events
from galfriday.events import Event

STATIC = Path(galfriday.web.__file__).parent / "static"


def _event_types_heard() -> set[str]:
    source = (STATIC / "stream.js").read_text()
    listed = re.search(r"const EVENT_TYPES = \[(.*?)\];", source, re.S)
    assert listed is not None
    return set(re.findall(r'"(\w+)"', listed.group(1)))


def test_the_page_listens_for_every_event_type_the_bus_carries() -> None:
    defined = {
        name
        for name, kind in vars(events).items()
        if isinstance(kind, type) and issubclass(kind, Event) and kind is not Event
    }
    assert _event_types_heard() == defined | {"EventsLost"}


def test_the_page_loads_nothing_from_another_origin() -> None:
    for path in STATIC.iterdir():
        text = path.read_text()
        assert not re.search(r"(src|href)=\"(https?:)?//", text), path.name
        assert "@import" not in text and "url(http" not in text, path.name
        assert not re.search(r"fetch\(\s*[\"'`]https?:", text), path.name


def test_every_script_the_page_names_exists() -> None:
    page = (STATIC / "index.html").read_text()
    named = re.findall(r'<(?:script src|link rel="stylesheet" href)="([^"]+)"', page)
    assert named == ["style.css", "charts.js", "app.js", "stream.js"]
    assert all((STATIC / name).is_file() for name in named)
