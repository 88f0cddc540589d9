"""A client of Streamlit's websocket protocol, as the page speaks it (``/_stcore/stream``: BackMsg protobufs out,
ForwardMsg protobufs in), and ``Capture``, what one rerun sent back read as the page would."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from typing import Any

CANVAS_COMPONENT = "capsviz_canvas"  # capsviz.app.canvas.COMPONENT_NAME: its state "drawing" is the strokes
POSE_COMPONENT = "capsviz_pose_editor"  # capsviz.app.pose_editor.COMPONENT_NAME
PREDICTION_LABEL = "Prediction"
RERUN_TIMEOUT_S = 120.0


@dataclass
class Capture:
    """What one rerun sent back, read as a page would."""

    sent: float
    prediction_at: float | None = None
    finished_at: float | None = None
    finished_status: int | None = None
    prediction: str | None = None
    canvas_id: str | None = None
    pose_id: str | None = None
    pose_header: dict[str, Any] | None = None
    pose_image: bytes | None = None
    pose_weights: bool = False
    media: list[str] = field(default_factory=list)
    spinners: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    received_bytes: int = 0
    bytes_by_kind: dict[str, int] = field(default_factory=dict)  # message or element type -> bytes

    def add(self, msg, nbytes: int, now: float) -> None:
        self.received_bytes += nbytes
        kind = msg.WhichOneof("type")
        delta = msg.delta
        what = delta.new_element.WhichOneof("type") if kind == "delta" and delta.HasField("new_element") else kind
        self.bytes_by_kind[what] = self.bytes_by_kind.get(what, 0) + nbytes
        if kind == "script_finished":
            self.finished_at, self.finished_status = now, msg.script_finished
        elif kind == "delta":
            if delta.HasField("new_element"):
                self._element(delta.new_element, now)
            elif delta.HasField("new_transient"):
                for element in delta.new_transient.elements:
                    self._element(element, now)

    def _element(self, el, now: float) -> None:
        kind = el.WhichOneof("type")
        if kind == "metric" and el.metric.label == PREDICTION_LABEL:
            self.prediction, self.prediction_at = el.metric.body, now
        elif kind == "bidi_component":
            self._component(el.bidi_component)
        elif kind == "imgs":
            self.media += [img.url for img in el.imgs.imgs if img.url.startswith("/media/")]
        elif kind == "spinner":
            self.spinners.append(el.spinner.text)
        elif kind == "exception":
            self.errors.append(f"exception {el.exception.type}: {el.exception.message[:200]}")
        elif kind == "alert" and el.alert.format == 1:  # Alert.Format.ERROR
            self.errors.append(f"error alert: {el.alert.body[:200]}")

    def _component(self, comp) -> None:
        from capsviz.export.pose_payload import parse_payload

        if comp.component_name == CANVAS_COMPONENT:
            self.canvas_id = comp.id
        elif comp.component_name == POSE_COMPONENT:
            header, image, weights = parse_payload(comp.bytes)
            self.pose_id, self.pose_header, self.pose_image, self.pose_weights = (
                comp.id,
                header,
                image,
                weights is not None,
            )


class StreamlitClient:
    """One browser tab, as far as the server can tell: the page's websocket, its rerun requests and media fetches."""

    def __init__(self, url: str, timeout_s: float = RERUN_TIMEOUT_S):
        self.url = url
        self.timeout_s = timeout_s
        self.ws: Any = None

    async def connect(self) -> None:
        from websockets.asyncio.client import connect
        from websockets.typing import Subprotocol

        ws_url = self.url.replace("http://", "ws://", 1) + "/_stcore/stream"
        self.ws = await connect(
            ws_url, subprotocols=[Subprotocol("streamlit")], max_size=None, open_timeout=self.timeout_s
        )

    async def rerun(self, widgets: dict[str, str]) -> Capture:
        """Send a rerun_script BackMsg carrying these widgets' JSON states; read until script_finished."""
        from streamlit.proto.BackMsg_pb2 import BackMsg
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        back = BackMsg()
        back.rerun_script.query_string = ""
        for widget_id, value in widgets.items():
            state = back.rerun_script.widget_states.widgets.add()
            state.id, state.json_value = widget_id, value
        capture = Capture(sent=time.perf_counter())
        await self.ws.send(back.SerializeToString())
        while True:
            raw = await asyncio.wait_for(self.ws.recv(), self.timeout_s)
            capture.add(ForwardMsg.FromString(raw), len(raw), time.perf_counter())
            if capture.finished_at is not None:
                if capture.finished_status != ForwardMsg.FINISHED_EARLY_FOR_RERUN:
                    return capture
                capture.finished_at = None  # a run that stopped for ours: ours follows

    async def fetch(self, path: str) -> tuple[int, int]:
        """GET ``path`` from the server as the page's <img> does: (HTTP status, body bytes)."""
        host, port = self.url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode())
            await writer.drain()
            data = await asyncio.wait_for(reader.read(-1), self.timeout_s)
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        head, _, body = data.partition(b"\r\n\r\n")
        return int(head.split(b" ", 2)[1]), len(body)

    async def close(self) -> None:
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await self.ws.close()
