"""Audio test fixtures: a Google-TTS-compatible server on loopback that returns real MP3 data."""

from __future__ import annotations

import base64
import io
import json
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
import soundfile as sf

from broadcast.audio.tts.espeak import EspeakSynthesizer


def mp3_bytes(seconds: float = 0.8, rate: int = 24000) -> bytes:
    """A real MP3 (with the Xing header soundfile writes) of espeak speech padded to `seconds`."""
    part = EspeakSynthesizer().synthesize("xin chào bà con", "vi")[0]
    n = int(seconds * rate)
    speech = np.interp(np.arange(n) * part.sample_rate / rate, np.arange(len(part.samples)), part.samples,
                       right=0.0).astype(np.float32)
    buf = io.BytesIO()
    sf.write(buf, speech, rate, format="MP3")
    return buf.getvalue()


def batchexecute_body(audio: bytes) -> bytes:
    """What translate.google.com answers, in the format gTTS parses."""
    b64 = base64.b64encode(audio).decode()
    line = '[["wrb.fr","jQ1olc","[\\"' + b64 + '\\"]",null,null,null,"generic"]]'
    return (")]}'\n\n123\n" + line + "\n").encode()


@dataclass
class FakeGoogle:
    """Scripted replies: "ok", an HTTP status code, "empty", "garbage" or "hang"; then "ok" forever."""

    url: str = ""
    script: list[object] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    audio: bytes = b""
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_action(self, text: str) -> object:
        with self.lock:
            self.texts.append(text)
            return self.script.pop(0) if self.script else "ok"


@pytest.fixture(scope="session")
def real_mp3() -> bytes:
    return mp3_bytes()


@pytest.fixture
def fake_google(real_mp3: bytes, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGoogle]:
    for key in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(key, raising=False)
    state = FakeGoogle(audio=real_mp3)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
            rpc = json.loads(urllib.parse.parse_qs(body)["f.req"][0])
            text = json.loads(rpc[0][0][1])[0]
            action = state.next_action(text)
            if action == "hang":
                state.release.wait(10)
                return
            if isinstance(action, int):
                self.send_response(action)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            payload = {"ok": batchexecute_body(state.audio), "empty": b")]}'\n\n[]\n",
                       "garbage": batchexecute_body(b"not an mp3 at all" * 20)}[str(action)]
            self.send_response(200)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/_/TranslateWebserverUi/data/batchexecute"
    try:
        yield state
    finally:
        state.release.set()
        server.shutdown()
        server.server_close()
