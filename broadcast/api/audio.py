"""Audio JSON API (under /api/v1) and the public download and feed routes for radio operators."""

from __future__ import annotations

import tempfile
from datetime import datetime
from pathlib import Path
from typing import Annotated, Literal

import annotated_types as at
from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field, StringConstraints, ValidationError
from starlette.concurrency import run_in_threadpool

from broadcast.accounts.deps import EDITORS, READERS, CurrentUser, allow, require
from broadcast.accounts.models import Role
from broadcast.accounts.scope import commune_scope
from broadcast.audio import service as clips
from broadcast.audio.models import ClipStatus
from broadcast.audio.radio import airing as airings
from broadcast.audio.radio.feeds import LEVEL_LABELS, feed_url
from broadcast.audio.service import campaign_audio, request_clip, upload_recording
from broadcast.audio.text.normalize import normalize_text
from broadcast.audio.text.pronunciation import MAX_ENTRIES as MAX_DICTIONARY_ENTRIES
from broadcast.audio.text.pronunciation import load_dictionary, save_dictionary
from broadcast.audio.views import ClipPublic, clip_public
from broadcast.audio.worker import AudioWorker, audio_worker, render_after_commit
from broadcast.bounds import MAX_ID, SCRIPT_LENGTH, TITLE_LENGTH, CommuneCode, DbId, LanguageCode, Offset
from broadcast.communes.service import get_commune
from broadcast.deps import SessionDep, SettingsDep
from broadcast.exceptions import ValidationFailed
from broadcast.uploads import UPLOAD_ROUTE_MAX_BYTES, openapi_body, receive_upload

router = APIRouter(prefix="/audio", tags=["audio"])
# What the engine says is the officers' to decide (an approver approves it); radio operators only air clips.
OFFICERS = [Depends(require(*EDITORS))]
STAFF_READ = [Depends(allow(READERS))]
# Airing confirmations: officers (on an operator's behalf) and the commune's own operator.
AIRS = [Depends(require(*EDITORS, Role.radio_operator))]


Engine = Literal["gtts", "espeak", "auto"]


class NormalizeIn(BaseModel):
    text: str = Field(max_length=SCRIPT_LENGTH)
    language: LanguageCode = "vi"


class RenderIn(BaseModel):
    engine: Engine | None = None
    force: bool = False


class SayIn(BaseModel):
    text: str = Field(min_length=1, max_length=SCRIPT_LENGTH)
    language: LanguageCode = "vi"
    engine: Engine | None = None
    voice: str = Field(default="", max_length=40)
    title: str = Field(default="", max_length=TITLE_LENGTH)
    repeats: int = Field(default=1, ge=1, le=5)
    chime: bool = False


class UploadFields(BaseModel):
    """The text fields sent with a recording (multipart form)."""

    language: LanguageCode = "vi"
    title: str = Field(default="", max_length=TITLE_LENGTH)
    campaign_id: DbId | None = None
    repeats: int = Field(default=1, ge=1, le=5)
    chime: bool = False

    @classmethod
    def of(cls, fields: dict[str, str]) -> UploadFields:
        """Validate the form's strings (empty means absent), naming the field that is wrong."""
        try:
            return cls.model_validate({k: v for k, v in fields.items() if k in cls.model_fields and v != ""})
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"])
            raise ValidationFailed(f"{field}: {first['msg']}", field=field) from None


class ConfirmIn(BaseModel):
    code: str | None = Field(default=None, max_length=20)
    aired_at: datetime | None = None


class DictionaryIn(BaseModel):
    entries: Annotated[dict[Annotated[str, StringConstraints(max_length=100)],
                            Annotated[str, StringConstraints(max_length=300)]],
                       at.MaxLen(MAX_DICTIONARY_ENTRIES)] = {}


class NormalizedOut(BaseModel):
    text: str


class RenderOut(BaseModel):
    clips: list[ClipPublic]
    airings_planned: int


class ClipPage(BaseModel):
    items: list[ClipPublic]
    offset: int
    limit: int


class DictionaryOut(BaseModel):
    entries: dict[str, str]


class CatalogueItem(BaseModel):
    airing_id: int | None
    planned_at: datetime
    level: str
    level_label: str
    confirmation_code: str
    confirmed_at: datetime | None
    clip: ClipPublic


class CatalogueOut(BaseModel):
    commune: str
    airing_slots: list[str]
    feed_url: str = Field(description="the commune's private podcast address")
    items: list[CatalogueItem]


class FeedOut(BaseModel):
    feed_url: str


class ConfirmedOut(BaseModel):
    id: int | None
    confirmed_at: datetime | None
    commune_code: str


def _worker(request: Request) -> AudioWorker:
    return audio_worker(request.app)  # apps built without background services still render


@router.post("/normalize", dependencies=OFFICERS, response_model=NormalizedOut)
def normalize(body: NormalizeIn, settings: SettingsDep) -> NormalizedOut:
    """Preview what the engine will read."""
    return NormalizedOut(text=normalize_text(body.text, body.language, load_dictionary(settings.media_dir)))


@router.post("/clips", status_code=202, dependencies=OFFICERS, response_model=ClipPublic)
def say(body: SayIn, session: SessionDep, settings: SettingsDep, request: Request) -> ClipPublic:
    """Render free text (queued); the same text and settings return the existing clip."""
    clip = request_clip(session, settings, text=body.text, language=body.language, engine=body.engine,
                        voice=body.voice, title=body.title, repeats=body.repeats, chime=body.chime)
    worker = _worker(request)
    render_after_commit(session, worker, [clip], force=False)
    return clip_public(clip, settings, worker)


@router.post("/campaigns/{campaign_id}/render", status_code=202, dependencies=OFFICERS, response_model=RenderOut)
def render_campaign(campaign_id: DbId, body: RenderIn, session: SessionDep, settings: SettingsDep,
                    request: Request) -> RenderOut:
    """Render (or with force, re-render) a campaign's loudspeaker/voice audio and plan its airings."""
    pairs = campaign_audio(session, settings, campaign_id, engine=body.engine)
    clips = [clip for _, clip in pairs]
    planned = airings.plan_airings(session, settings, campaign_id,
                                   [clip for channel, clip in pairs if channel == "loudspeaker"])
    worker = _worker(request)
    render_after_commit(session, worker, clips, force=body.force)
    return RenderOut(clips=[clip_public(c, settings, worker) for c in clips], airings_planned=len(planned))


@router.get("/clips", dependencies=STAFF_READ, response_model=ClipPage)
def list_clips(session: SessionDep, settings: SettingsDep, request: Request,
               campaign_id: DbId | None = None, status: ClipStatus | None = None,
               offset: Offset = 0,
               limit: Annotated[int, Query(ge=1, le=200)] = 50) -> ClipPage:
    rows = clips.list_clips(session, campaign_id=campaign_id, status=status, offset=offset, limit=limit)
    worker = getattr(request.app.state, "audio_worker", None)
    return ClipPage(items=[clip_public(c, settings, worker) for c in rows], offset=offset, limit=limit)


@router.get("/clips/{clip_id}", dependencies=STAFF_READ, response_model=ClipPublic)
def get_clip(clip_id: DbId, session: SessionDep, settings: SettingsDep, request: Request) -> ClipPublic:
    return clip_public(clips.get_clip(session, clip_id), settings, getattr(request.app.state, "audio_worker", None))


@router.post("/clips/{clip_id}/render", status_code=202, dependencies=OFFICERS, response_model=ClipPublic)
def rerender_clip(clip_id: DbId, session: SessionDep, settings: SettingsDep, request: Request) -> ClipPublic:
    clip = clips.get_clip(session, clip_id)
    worker = _worker(request)
    render_after_commit(session, worker, [clip], force=True)
    return clip_public(clip, settings, worker)


@router.post("/uploads", status_code=202, dependencies=OFFICERS, max_body_size=UPLOAD_ROUTE_MAX_BYTES,
             openapi_extra=openapi_body(
    language={"type": "string", "default": "vi", "pattern": "^(vi|km)$"},
    title={"type": "string", "maxLength": TITLE_LENGTH},
    campaign_id={"type": "integer", "minimum": 1, "maximum": MAX_ID},
    repeats={"type": "integer", "default": 1, "minimum": 1, "maximum": 5},
    chime={"type": "boolean", "default": False}), response_model=ClipPublic)
async def upload(session: SessionDep, settings: SettingsDep, request: Request) -> ClipPublic:
    """An officer's own recording (MP3/WAV, at most AUDIO_UPLOAD_MAX_BYTES and AUDIO_UPLOAD_MAX_SECONDS),
    processed like TTS."""
    with tempfile.TemporaryDirectory(prefix="broadcast-audio-") as tmp:
        received = await receive_upload(request, Path(tmp) / "upload", max_bytes=settings.audio_upload_max_bytes)
        form = UploadFields.of(received.fields)
        clip = await run_in_threadpool(
            upload_recording, session, settings, received.path, name=received.filename, language=form.language,
            title=form.title or received.filename, campaign_id=form.campaign_id, repeats=form.repeats,
            chime=form.chime)
    worker = _worker(request)
    render_after_commit(session, worker, [clip], force=False)
    return clip_public(clip, settings, worker)


@router.get("/pronunciations", dependencies=STAFF_READ, response_model=DictionaryOut)
def get_pronunciations(settings: SettingsDep) -> DictionaryOut:
    return DictionaryOut(entries=load_dictionary(settings.media_dir))


@router.put("/pronunciations", dependencies=OFFICERS, response_model=DictionaryOut)
def put_pronunciations(body: DictionaryIn, settings: SettingsDep) -> DictionaryOut:
    """Replace the dictionary: {"entries": {"Zalo": "da lô", …}}."""
    return DictionaryOut(entries=save_dictionary(settings.media_dir, body.entries))


@router.get("/communes/{code}/catalogue", response_model=CatalogueOut)
def commune_catalogue(code: CommuneCode, session: SessionDep, settings: SettingsDep,
                      user: CurrentUser) -> CatalogueOut:
    """What the commune's operator should air, with slots, levels and the feed address (its private URL)."""
    commune_scope(session, user).check(code)
    commune = get_commune(session, code)
    airings.ensure_feed_token(session, commune)
    items = [CatalogueItem(airing_id=e.airing.id, planned_at=e.airing.planned_at, level=e.airing.level,
                           level_label=LEVEL_LABELS.get(e.airing.level, e.airing.level),
                           confirmation_code=e.airing.confirmation_code, confirmed_at=e.airing.confirmed_at,
                           clip=clip_public(e.clip, settings)) for e in airings.catalogue(session, code)]
    return CatalogueOut(commune=code, airing_slots=commune.airing_slots, feed_url=feed_url(settings, commune),
                        items=items)


@router.post("/communes/{code}/feed-token", dependencies=[Depends(require(Role.admin, Role.radio_operator))],
             response_model=FeedOut)
def rotate_token(code: CommuneCode, session: SessionDep, settings: SettingsDep, user: CurrentUser) -> FeedOut:
    """Issue a new feed address; the old one stops working (an admin, or the commune's own operator)."""
    commune_scope(session, user).check(code)
    airings.rotate_feed_token(session, code, actor=user)
    commune = get_commune(session, code)
    return FeedOut(feed_url=feed_url(settings, commune))


@router.post("/airings/{airing_id}/confirm", dependencies=AIRS, response_model=ConfirmedOut)
def confirm_by_id(airing_id: DbId, body: ConfirmIn, session: SessionDep, user: CurrentUser) -> ConfirmedOut:
    a = airings.confirm_airing(session, airing_id=airing_id, aired_at=body.aired_at, source="api", user_id=user.id,
                               scope=commune_scope(session, user))
    return ConfirmedOut(id=a.id, confirmed_at=a.confirmed_at, commune_code=a.commune_code)


@router.post("/airings/confirm", dependencies=AIRS, response_model=ConfirmedOut)
def confirm_by_code(body: ConfirmIn, session: SessionDep, user: CurrentUser) -> ConfirmedOut:
    """Confirm with the code printed in the catalogue and feed (also what an SMS reply would carry)."""
    a = airings.confirm_airing(session, code=body.code, aired_at=body.aired_at, source="api", user_id=user.id,
                               scope=commune_scope(session, user))
    return ConfirmedOut(id=a.id, confirmed_at=a.confirmed_at, commune_code=a.commune_code)
