"""Helpers that act on widgets as the browser does: through their comm, with no browser running."""

from __future__ import annotations

import pytest


def _send(widget, data: dict) -> None:
    widget.comm.handle_msg({"content": {"data": data}, "buffers": []})


@pytest.fixture
def browser():
    """`browser.set(w, value=True)` sends a state update, `browser.click(button)` a click, as the front end would."""

    class Browser:
        @staticmethod
        def set(widget, **state) -> None:
            _send(widget, {"method": "update", "state": state, "buffer_paths": []})

        @staticmethod
        def click(button) -> None:
            _send(button, {"method": "custom", "content": {"event": "click"}})

    return Browser()
