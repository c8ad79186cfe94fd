"""`broadcast audio …`: render one clip from the command line through the whole chain."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from broadcast.config import get_settings
from broadcast.exceptions import BroadcastError

audio_app = typer.Typer(help="Âm thanh cho loa truyền thanh: đọc văn bản thành tệp MP3.", no_args_is_help=True)


@audio_app.callback()
def _group() -> None:
    """Âm thanh cho loa truyền thanh."""


@audio_app.command("say")
def say(
    text: Annotated[str, typer.Argument(help="Văn bản cần đọc")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Tệp MP3 đầu ra")],
    engine: Annotated[str | None, typer.Option(help="gtts | espeak | auto (mặc định: TTS_ENGINE)")] = None,
    lang: Annotated[str, typer.Option(help="vi | km")] = "vi",
    voice: Annotated[str, typer.Option(help="Giọng (espeak: vi-VN-x-south, vi, vi-VN-x-central)")] = "",
    repeats: Annotated[int, typer.Option(min=1, max=5, help="Số lần đọc")] = 1,
    chime: Annotated[bool, typer.Option(help="Chuông mở đầu và kết thúc")] = False,
    title: Annotated[str, typer.Option(help="Tiêu đề ghi vào thẻ ID3")] = "",
) -> None:
    """Đọc TEXT thành MP3 (chuẩn hóa, tổng hợp, xử lý, mã hóa) và in thời lượng, độ lớn, đỉnh thực."""
    # The audio stack (numpy, scipy, lameenc) loads here, not when any `broadcast` command starts.
    from broadcast.audio.processing.dsp import ProcessingSettings
    from broadcast.audio.processing.encode import ClipTags
    from broadcast.audio.processing.render import render_clip
    from broadcast.audio.text.normalize import normalize_text
    from broadcast.audio.text.pronunciation import load_dictionary
    from broadcast.audio.tts.engines import make_synthesizer

    settings = get_settings()
    try:
        spoken = normalize_text(text, lang, load_dictionary(settings.media_dir))
        synthesizer = make_synthesizer(engine or settings.tts_engine)
        parts = synthesizer.synthesize(spoken, lang, voice)
        processing = ProcessingSettings(
            target_lufs=settings.audio_target_lufs, true_peak_dbtp=settings.audio_true_peak_dbtp,
            bitrate_kbps=settings.audio_bitrate_kbps, sample_rate=44100 if settings.audio_bitrate_kbps > 160
            else 22050, repeats=repeats, chime=chime)
        made_by = parts[0].engine
        tags = ClipTags(title=title or text[:80], language=lang, engine=made_by)
        measured = render_clip(parts, processing, output, tags)
    except BroadcastError as exc:
        typer.echo(f"Lỗi: {exc.message}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"Đã ghi {output} ({made_by}, {measured.size_bytes} byte)")
    typer.echo(f"Thời lượng: {measured.duration_seconds:.2f} s")
    typer.echo(f"Độ lớn: {measured.loudness_lufs:.1f} LUFS")
    typer.echo(f"Đỉnh thực: {measured.true_peak_dbtp:.1f} dBTP")
