"""Headless Chromium driven over the DevTools protocol, for the dashboard's browser tests.

Rules:
- :func:`open_browser` starts Chromium with a fresh profile in a temporary folder, listening
  for DevTools on a free loopback port (read from the ``DevTools listening on`` line it writes
  to stderr), with its background traffic (updates, sync, metrics) turned off: a test never
  reaches beyond loopback. Leaving the context asks Chromium to close (``Browser.close``) and
  waits for it up to :data:`CLOSE_TIMEOUT` seconds; after that trio's ``run_process``
  terminates it, then kills it.
- A :class:`Page` is one tab and one WebSocket (trio-websocket). :meth:`Page.call` sends a
  command and reads until its answer; DevTools events read meanwhile are kept in order for
  :meth:`Page.wait_event`.
- Nothing here sleeps: :meth:`Page.wait_for` waits inside the page (a MutationObserver) until
  a JavaScript condition holds; the caller bounds it with ``trio.fail_after``.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import shutil
import subprocess
import tempfile
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any, Final

import trio
from trio_websocket import (
    ConnectionClosed,
    HandshakeError,
    WebSocketConnection,
    open_websocket_url,
)

__all__ = ["CHROMIUM", "WINDOW", "BrowserError", "Page", "open_browser"]

CHROMIUM: Final = next(
    (found for name in ("chromium", "chromium-browser", "google-chrome")
     if (found := shutil.which(name)) is not None),
    None,
)  # fmt: skip
WINDOW: Final = (1400, 1000)
START_TIMEOUT: Final = 60.0  # a cold Chromium on a busy 2-core machine
CLOSE_TIMEOUT: Final = 10.0
MAX_MESSAGE: Final = 64 << 20  # a full-window PNG, base64
_LISTENING = re.compile(rb"DevTools listening on (ws://\S+)")
_QUIET = (
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-domain-reliability",
    "--disable-extensions",
    "--disable-sync",
    "--disable-features=Translate,OptimizationHints,MediaRouter,AutofillServerCommunication",
    "--metrics-recording-only",
    "--no-default-browser-check",
    "--no-first-run",
    "--no-pings",
)


class BrowserError(Exception):
    """Chromium refused a command, or a script in the page threw."""


class Page:
    """One tab, driven over its own DevTools WebSocket."""

    def __init__(self, ws: WebSocketConnection) -> None:
        self._ws = ws
        self._ids = itertools.count(1)
        self._events: deque[dict[str, Any]] = deque(maxlen=1000)

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Send a DevTools command and return its result.

        Raises:
            BrowserError: Chromium answered with an error.
        """
        call_id = next(self._ids)
        await self._ws.send_message(json.dumps({"id": call_id, "method": method, "params": params}))
        while True:
            message = json.loads(await self._ws.get_message())
            if message.get("id") == call_id:
                if "error" in message:
                    raise BrowserError(f"{method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result
            if "method" in message:
                self._events.append(message)

    async def wait_event(self, method: str) -> dict[str, Any]:
        """The next DevTools event named ``method`` (kept ones first)."""
        while True:
            while self._events:
                event = self._events.popleft()
                if event["method"] == method:
                    params: dict[str, Any] = event.get("params", {})
                    return params
            message = json.loads(await self._ws.get_message())
            if "method" in message:
                self._events.append(message)

    async def goto(self, url: str) -> None:
        """Open ``url`` and wait for its load event (scripts with ``defer`` have run)."""
        await self.call("Page.enable")
        self._events.clear()
        await self.call("Page.navigate", url=url)
        await self.wait_event("Page.loadEventFired")

    async def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (a promise is awaited).

        Raises:
            BrowserError: the script threw.
        """
        result = await self.call(
            "Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True
        )
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise BrowserError(f"{expression[:80]!r}: {text}")
        return result["result"].get("value")

    async def wait_for(self, condition: str) -> Any:
        """Wait until the JavaScript expression ``condition`` is truthy; return its value.

        It is checked now and after every change to the document.
        """
        script = f"""new Promise((resolve) => {{
            const observer = new MutationObserver(() => check());
            const check = () => {{
                const value = ({condition});
                if (value) {{ observer.disconnect(); resolve(value); }}
                return value;
            }};
            if (!check()) observer.observe(document, {{
                subtree: true, childList: true, attributes: true, characterData: true }});
        }})"""
        return await self.evaluate(script)

    async def screenshot(self, path: Path) -> bytes:
        """Save the visible window as a PNG at ``path`` (folders made) and return its bytes."""
        result = await self.call("Page.captureScreenshot", format="png")
        png = base64.b64decode(result["data"])
        await trio.Path(path.parent).mkdir(parents=True, exist_ok=True)
        await trio.Path(path).write_bytes(png)
        return png


@asynccontextmanager
async def open_browser() -> AsyncIterator[Page]:
    """Chromium, headless, with one blank tab of :data:`WINDOW` size.

    Raises:
        BrowserError: Chromium is not installed, or did not start within
            :data:`START_TIMEOUT` seconds.
    """
    if CHROMIUM is None:
        raise BrowserError("chromium is not installed (apt-get install -y chromium)")
    # Chromium's helper processes may still write to the profile as it is removed.
    with tempfile.TemporaryDirectory(
        prefix="galfriday-chromium-", ignore_cleanup_errors=True
    ) as profile:
        command = [
            CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--hide-scrollbars", "--mute-audio", f"--user-data-dir={profile}",
            "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
            f"--window-size={WINDOW[0]},{WINDOW[1]}", *_QUIET, "about:blank",
        ]  # fmt: skip
        async with trio.open_nursery() as nursery:
            process: trio.Process = await nursery.start(
                partial(
                    trio.run_process,
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                    check=False,
                )
            )
            if process.stderr is None:
                raise BrowserError("chromium's stderr is not a pipe")
            with trio.fail_after(START_TIMEOUT):
                endpoint = await _devtools_endpoint(process.stderr)
            nursery.start_soon(_drain, process.stderr)
            try:
                async with _page(endpoint) as page:
                    yield page
            finally:
                with trio.move_on_after(CLOSE_TIMEOUT, shield=True):
                    await _close(endpoint)
                    await process.wait()
                nursery.cancel_scope.cancel()


async def _devtools_endpoint(stderr: trio.abc.ReceiveStream) -> str:
    """The browser's DevTools URL, from Chromium's stderr."""
    seen = b""
    while True:
        chunk = await stderr.receive_some()
        if not chunk:
            raise BrowserError(f"chromium stopped before listening: {seen[-2000:].decode()}")
        seen += chunk
        match = _LISTENING.search(seen)
        if match is not None:
            return match.group(1).decode()


async def _drain(stderr: trio.abc.ReceiveStream) -> None:
    """Read Chromium's stderr to its end, so that it never blocks writing to it."""
    while await stderr.receive_some():
        pass


async def _close(endpoint: str) -> None:
    """Ask the browser to close (it may go before it answers)."""
    try:
        async with open_websocket_url(endpoint) as ws:
            await Page(ws).call("Browser.close")
    except (OSError, ConnectionClosed, HandshakeError):
        pass


@asynccontextmanager
async def _page(endpoint: str) -> AsyncIterator[Page]:
    """A new tab, through the browser's endpoint, and a connection to it."""
    async with open_websocket_url(endpoint, max_message_size=MAX_MESSAGE) as browser_ws:
        browser = Page(browser_ws)
        target = await browser.call("Target.createTarget", url="about:blank")
        port = endpoint.split("/")[2]
        page_url = f"ws://{port}/devtools/page/{target['targetId']}"
        async with open_websocket_url(page_url, max_message_size=MAX_MESSAGE) as page_ws:
            page = Page(page_ws)
            width, height = WINDOW
            await page.call(
                "Emulation.setDeviceMetricsOverride",
                width=width, height=height, deviceScaleFactor=1, mobile=False,
            )  # fmt: skip
            yield page
