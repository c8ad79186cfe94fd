"""Clip store: content-addressed AudioClip rows, files under MEDIA_DIR/clips, rendering and re-rendering."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from broadcast.audio.models import AudioClip, ClipStatus
from broadcast.audio.processing.dsp import ProcessingSettings
from broadcast.audio.processing.encode import ClipTags
from broadcast.audio.processing.recordings import check_recording, decode_recording
from broadcast.audio.processing.render import render_clip
from broadcast.audio.text.normalize import normalize_text
from broadcast.audio.text.pronunciation import load_dictionary
from broadcast.audio.tts.engines import ENGINE_NAMES, make_synthesizer
from broadcast.audio.tts.espeak import VOICES as ESPEAK_VOICES
from broadcast.audio.tts.gtts import GTTS_VOICES
from broadcast.audio.tts.synth import Synthesizer
from broadcast.campaigns.models import BulletinLevel, Campaign, CampaignContent, ChannelKind
from broadcast.config import Settings
from broadcast.db import session_scope, utcnow
from broadcast.exceptions import ContentTooLarge, NotFoundError, ValidationFailed
from broadcast.humanize import size

SynthesizerFactory = Callable[[str], Synthesizer]
AUDIO_CHANNELS = (ChannelKind.loudspeaker.value, ChannelKind.voice.value)
KNOWN_VOICES = tuple(dict.fromkeys([*(v for names in ESPEAK_VOICES.values() for v in names), *GTTS_VOICES]))


def processing_for(settings: Settings, *, repeats: int = 1, chime: bool = False) -> ProcessingSettings:
    """Processing settings from the configuration plus per-clip choices."""
    return ProcessingSettings(
        target_lufs=settings.audio_target_lufs, true_peak_dbtp=settings.audio_true_peak_dbtp,
        bitrate_kbps=settings.audio_bitrate_kbps,
        sample_rate=44100 if settings.audio_bitrate_kbps > 160 else 22050,  # MPEG-2 stops at 160 kbps
        repeats=repeats, chime=chime)


def content_hash(source: str, language: str, engine: str, voice: str, processing: ProcessingSettings) -> str:
    """The clip's identity: what is said (or the uploaded bytes' hash), by which engine and voice, how processed."""
    key = json.dumps({"source": source, "lang": language, "engine": engine, "voice": voice,
                      "processing": processing.key()}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(key.encode()).hexdigest()


def clip_path(settings: Settings, clip: AudioClip) -> Path:
    return Path(settings.media_dir) / clip.file_path


def _upload_path(settings: Settings, content_hash_: str) -> Path:
    return Path(settings.media_dir) / "uploads" / f"{content_hash_}.bin"


def _get_or_create(session: Session, clip: AudioClip) -> tuple[AudioClip, bool]:
    existing = session.exec(select(AudioClip).where(AudioClip.content_hash == clip.content_hash)).first()
    if existing is not None:
        return existing, False
    try:
        with session.begin_nested():  # a concurrent request may insert the same hash first
            session.add(clip)
    except IntegrityError:
        found = session.exec(select(AudioClip).where(AudioClip.content_hash == clip.content_hash)).one()
        return found, False
    return clip, True


def _new_clip(content_hash_: str, **fields: Any) -> AudioClip:
    return AudioClip(content_hash=content_hash_, file_path=f"clips/{content_hash_[:2]}/{content_hash_}.mp3",
                     download_token=secrets.token_urlsafe(24), status=ClipStatus.pending, **fields)


def spoken_script(content: CampaignContent, dictionary: dict[str, str]) -> str:
    """What the engine reads for a campaign script: the text frozen at approval, else the script normalised now."""
    return content.spoken_text or normalize_text(content.body, content.language, dictionary)


def freeze_scripts(session: Session, settings: Settings, campaign_id: int) -> None:
    """On approval: fix what each audio script will say, so later dictionary edits cannot change approved audio."""
    dictionary = load_dictionary(settings.media_dir)
    for content in session.exec(select(CampaignContent).where(CampaignContent.campaign_id == campaign_id)
                                .where(col(CampaignContent.channel).in_(AUDIO_CHANNELS))).all():
        content.spoken_text = normalize_text(content.body, content.language, dictionary)
        session.add(content)
    session.flush()


def request_clip(
    session: Session, settings: Settings, *, text: str, language: str = "vi", engine: str | None = None,
    voice: str = "", title: str = "", campaign_id: int | None = None, repeats: int = 1, chime: bool = False,
    spoken: str | None = None,
) -> AudioClip:
    """The clip for this text and settings: the existing row when it was made before, else a pending one.

    `spoken` is text already normalised (an approved campaign's frozen script): it is read as it is.
    """
    engine = engine or settings.tts_engine
    if engine not in ENGINE_NAMES:
        raise ValidationFailed(f"Bộ đọc '{engine}' không có.", field="engine")
    if voice and voice not in KNOWN_VOICES:
        raise ValidationFailed(f"Giọng '{voice}' không có; chọn một trong: {', '.join(KNOWN_VOICES)}.",
                               field="voice")
    normalized = spoken or normalize_text(text, language, load_dictionary(settings.media_dir))
    if not normalized:
        raise ValidationFailed("Văn bản trống.", field="text")
    processing = processing_for(settings, repeats=repeats, chime=chime)
    digest = content_hash(normalized, language, engine, voice, processing)
    clip, _ = _get_or_create(session, _new_clip(
        digest, campaign_id=campaign_id, title=title[:200] or normalized[:80], language=language, source="tts",
        engine=engine, voice=voice, normalized_text=normalized))
    if clip.status != ClipStatus.ready:
        _write_recipe(settings, clip, engine, processing)
    if clip.status == ClipStatus.failed:  # asking again is how an officer retries after an outage
        clip.status, clip.error = ClipStatus.pending, None
    session.flush()
    return clip


def upload_recording(
    session: Session, settings: Settings, path: Path, *, name: str = "", language: str = "vi", title: str = "",
    campaign_id: int | None = None, repeats: int = 1, chime: bool = False,
) -> AudioClip:
    """Store an officer's recording (MP3/WAV at `path`) as a pending clip that goes through the same processing.

    The file is decoded once here, in the bounded decoder process, so what is not audio or too long is
    refused now (422) rather than failing in the worker.
    """
    name = name or path.name
    if path.stat().st_size > settings.audio_upload_max_bytes:
        raise ContentTooLarge(f"Tệp {name} vượt giới hạn (tối đa {size(settings.audio_upload_max_bytes)}).",
                              field="file")
    check_recording(path, settings, name=name)
    processing = processing_for(settings, repeats=repeats, chime=chime)
    digest = content_hash("sha256:" + _sha256(path), language, "upload", "", processing)
    raw = _upload_path(settings, digest)
    raw.parent.mkdir(parents=True, exist_ok=True)
    if not raw.exists():
        partial = raw.with_name(f".{raw.name}.{secrets.token_hex(4)}")
        try:
            shutil.copyfile(path, partial)
            os.replace(partial, raw)  # the worker never sees half a file
        finally:
            partial.unlink(missing_ok=True)
    clip, _ = _get_or_create(session, _new_clip(
        digest, campaign_id=campaign_id, title=title[:200] or "Bản thu âm", language=language,
        source="upload", engine="upload"))
    if clip.status != ClipStatus.ready:
        _write_recipe(settings, clip, "upload", processing)
    if clip.status == ClipStatus.failed:
        clip.status, clip.error = ClipStatus.pending, None
    session.flush()
    return clip


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _claim(engine: Engine, clip_id: int, *, force: bool) -> bool:
    """Move a clip to `rendering` unless someone else has it (or it is ready and not forced)."""
    allowed = [ClipStatus.pending, ClipStatus.failed] + ([ClipStatus.ready] if force else [])
    with session_scope(engine) as session:
        result = session.execute(update(AudioClip).where(AudioClip.id == clip_id)  # type: ignore[arg-type]
                                 .where(AudioClip.status.in_(allowed))  # type: ignore[attr-defined]
                                 .values(status=ClipStatus.rendering, error=None))
        return bool(result.rowcount)  # type: ignore[attr-defined]


def render_clip_now(
    engine: Engine, settings: Settings, clip_id: int, *, factory: SynthesizerFactory = make_synthesizer,
    force: bool = False,
) -> AudioClip:
    """Render one clip (a worker job): claims it, synthesises, processes, writes the file, records the result."""
    if not _claim(engine, clip_id, force=force):
        with Session(engine) as session:
            clip = session.get(AudioClip, clip_id)
            if clip is None:
                raise NotFoundError("Không tìm thấy đoạn âm thanh.")
            return clip
    with Session(engine, expire_on_commit=False) as session:
        clip = session.get(AudioClip, clip_id)
        assert clip is not None
    campaign_title, level = "", BulletinLevel.normal.value
    try:
        with Session(engine) as session:
            campaign = session.get(Campaign, clip.campaign_id) if clip.campaign_id else None
            if campaign is not None:
                campaign_title, level = campaign.title, campaign.bulletin_level
        requested, processing = _read_recipe(settings, clip)
        if clip.source == "upload":
            parts = [decode_recording(_upload_path(settings, clip.content_hash), settings, name=clip.title,
                                      patient=True)]
        else:
            parts = factory(requested).synthesize(clip.normalized_text, clip.language, clip.voice)
        made_by = parts[0].engine
        tags = ClipTags(title=clip.title, campaign=campaign_title, language=clip.language,
                        day=date.today(), engine=made_by, level=level)
        measured = render_clip(parts, processing, clip_path(settings, clip), tags)
    except Exception as exc:  # recorded on the row for the officer; the worker keeps going
        with session_scope(engine) as session:
            session.execute(update(AudioClip).where(AudioClip.id == clip_id)  # type: ignore[arg-type]
                            .values(status=ClipStatus.failed, error=str(getattr(exc, "message", exc))[:500]))
        raise
    with session_scope(engine) as session:
        row = session.get(AudioClip, clip_id)
        assert row is not None
        row.status, row.error, row.engine = ClipStatus.ready, None, made_by
        row.duration_seconds, row.loudness_lufs = measured.duration_seconds, measured.loudness_lufs
        row.true_peak_dbtp, row.size_bytes, row.rendered_at = measured.true_peak_dbtp, measured.size_bytes, utcnow()
        return row


def _recipe_path(settings: Settings, content_hash_: str) -> Path:
    return Path(settings.media_dir) / "clips" / content_hash_[:2] / f"{content_hash_}.recipe.json"


def _write_recipe(settings: Settings, clip: AudioClip, engine: str, processing: ProcessingSettings) -> None:
    """What the worker needs beyond the row (requested engine, processing), so renders survive restarts."""
    path = _recipe_path(settings, clip.content_hash)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"engine": engine, "processing": processing.key()}), encoding="utf-8")


def _read_recipe(settings: Settings, clip: AudioClip) -> tuple[str, ProcessingSettings]:
    path = _recipe_path(settings, clip.content_hash)
    if not path.exists():
        return (clip.engine if clip.engine in ENGINE_NAMES else settings.tts_engine), processing_for(settings)
    recipe = json.loads(path.read_text(encoding="utf-8"))
    return recipe["engine"], ProcessingSettings(**recipe["processing"])


def campaign_audio(
    session: Session, settings: Settings, campaign_id: int, *, engine: str | None = None,
) -> list[tuple[str, AudioClip]]:
    """(channel, clip) for a campaign's loudspeaker and voice scripts, one per channel and language."""
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise NotFoundError("Không tìm thấy chiến dịch.", field="campaign_id")
    contents = session.exec(select(CampaignContent).where(CampaignContent.campaign_id == campaign_id)
                            .where(col(CampaignContent.channel).in_(AUDIO_CHANNELS))).all()
    if not contents:
        raise ValidationFailed("Chiến dịch chưa có nội dung cho loa hoặc cuộc gọi.", field="contents")
    clips = []
    dictionary = load_dictionary(settings.media_dir)
    for content in contents:
        loud = content.channel == ChannelKind.loudspeaker
        clips.append((content.channel, request_clip(
            session, settings, text=content.body, language=content.language, engine=engine,
            title=f"{campaign.title} ({content.language})", campaign_id=campaign_id,
            repeats=2 if loud else 1, chime=loud,  # loudspeakers read twice, after a chime
            spoken=spoken_script(content, dictionary))))
    return clips


def clips_of(session: Session, campaign_id: int, *, limit: int = 5) -> list[AudioClip]:
    """A campaign's latest clips."""
    return list(session.exec(select(AudioClip).where(AudioClip.campaign_id == campaign_id)
                             .order_by(col(AudioClip.id).desc()).limit(limit)).all())


def clip_states(session: Session, hashes: list[str]) -> set[str]:
    """The statuses of the clips with these content hashes."""
    return set(session.exec(select(AudioClip.status).where(col(AudioClip.content_hash).in_(hashes))).all())


def latest_ready_clip(session: Session, campaign_id: int) -> AudioClip | None:
    return session.exec(select(AudioClip).where(AudioClip.campaign_id == campaign_id,
                                                AudioClip.status == ClipStatus.ready)
                        .order_by(col(AudioClip.id).desc()).limit(1)).first()


def list_clips(session: Session, *, campaign_id: int | None = None, status: str | None = None, offset: int = 0,
               limit: int = 50) -> list[AudioClip]:
    query = select(AudioClip)
    if campaign_id is not None:
        query = query.where(AudioClip.campaign_id == campaign_id)
    if status:
        query = query.where(AudioClip.status == status)
    return list(session.exec(query.order_by(col(AudioClip.id).desc()).offset(offset).limit(limit)).all())


def get_clip(session: Session, clip_id: int) -> AudioClip:
    clip = session.get(AudioClip, clip_id)
    if clip is None:
        raise NotFoundError("Không tìm thấy đoạn âm thanh.", field="clip_id")
    return clip
