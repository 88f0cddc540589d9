"""The drawing canvas in AppTest (capsviz.app.canvas): find it, read what Python sent it, send it a drawing as the
page does on pen-up. A plain module, not conftest: tests/ and tests/e2e/ each have a conftest, and ``from conftest
import`` picks whichever was imported first."""

import json


def canvas_element(at):
    """The drawing canvas component's element in an AppTest run (a page shows one canvas)."""
    from capsviz.app import canvas

    found = [e for e in at.get("bidi_component") if e.proto.component_name == canvas.COMPONENT_NAME]
    assert len(found) == 1, f"{len(found)} drawing canvases on the page"
    return found[0]


def canvas_data(at) -> dict:
    """What Python sent the canvas component on the last run (its JSON data)."""
    return json.loads(canvas_element(at).proto.json)


def send_drawing(at, payload):
    """Rerun as the page does on pen-up: the canvas's state "drawing" carries ``payload`` (a dict as
    capsviz.data.strokes.to_payload makes, or anything hostile: NaN goes through as JSON's NaN). Returns ``at``."""
    from capsviz.app.timing import send_drawing as send

    return send(at, payload)
