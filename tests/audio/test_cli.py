"""`broadcast audio say` renders one clip through the whole chain."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from broadcast.audio.cli import audio_app
from broadcast.audio.processing.encode import measure_mp3, read_tags
from broadcast.config import get_settings


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no developer .env, media dir under tmp
    get_settings.cache_clear()


def test_say_writes_an_mp3_and_prints_its_measurements(tmp_path: Path) -> None:
    out = tmp_path / "say.mp3"
    result = CliRunner().invoke(audio_app, ["say", "UBND xã thông báo họp lúc 07:30.", "-o", str(out),
                                            "--engine", "espeak", "--lang", "vi"])
    assert result.exit_code == 0, result.output
    measured = measure_mp3(out)
    assert f"{measured.duration_seconds:.2f} s" in result.output
    assert "LUFS" in result.output and "dBTP" in result.output
    assert abs(measured.loudness_lufs + 16) <= 1 and measured.true_peak_dbtp <= -1
    assert read_tags(out)["TLAN"] == "vie"


def test_say_explains_a_missing_voice(tmp_path: Path) -> None:
    result = CliRunner().invoke(audio_app, ["say", "សួស្តី", "-o", str(tmp_path / "km.mp3"),
                                            "--engine", "espeak", "--lang", "km"])
    assert result.exit_code == 1
    assert "không có giọng" in result.output
    assert not (tmp_path / "km.mp3").exists()
