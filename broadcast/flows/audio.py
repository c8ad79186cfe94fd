"""Getting a campaign's audio ready when it is approved or started, whichever path (web, API) did it."""

from __future__ import annotations

from sqlmodel import Session

from broadcast.audio.models import ClipStatus
from broadcast.audio.radio.airing import plan_airings
from broadcast.audio.service import campaign_audio, freeze_scripts
from broadcast.audio.worker import AudioWorker, render_after_commit
from broadcast.campaigns.models import Campaign, ChannelKind
from broadcast.config import Settings
from broadcast.db import after_commit


def prepare_voice_clips(session: Session, settings: Settings, worker: AudioWorker, campaign: Campaign) -> int:
    """Ask for a voice campaign's clips and render them after the commit; returns how many are not ready.

    The calls dispatcher holds calls while a clip is pending or rendering, so residents hear the
    rendered clip rather than the <Say> fallback.
    """
    from broadcast.channels.voice import clips as voice_clips

    if ChannelKind.voice not in campaign.channels or campaign.id is None:
        return 0
    clips = [clip for channel, clip in campaign_audio(session, settings, campaign.id) if channel == "voice"]
    clips += voice_clips.quiz_clips(session, settings, campaign)  # a keypad quiz reads its questions too
    render_after_commit(session, worker, clips)
    # Calls cache "no clip" for a while; forget it once the pending rows are visible.
    after_commit(session, voice_clips.clear_cache)
    return sum(1 for clip in clips if clip.status != ClipStatus.ready)


def prepare_campaign_audio(session: Session, settings: Settings, worker: AudioWorker, campaign: Campaign) -> None:
    """On approval: fix what the scripts say, render the call clip, put a loudspeaker bulletin on the programmes."""
    if campaign.id is None:
        return
    freeze_scripts(session, settings, campaign.id)
    prepare_voice_clips(session, settings, worker, campaign)
    if ChannelKind.loudspeaker not in campaign.channels:
        return
    clips = [clip for channel, clip in campaign_audio(session, settings, campaign.id) if channel == "loudspeaker"]
    plan_airings(session, settings, campaign.id, clips)
    render_after_commit(session, worker, clips)
