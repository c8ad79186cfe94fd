"""The quiz by keypad: after the clip each question plays as a rendered clip, keys answer it (* repeats, a wrong
key gets the question once more), through the simulator's call flow; results as for SMS answers."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from broadcast.audio.service import render_clip_now
from broadcast.campaigns.models import Campaign
from broadcast.campaigns.schemas import QuizIn
from broadcast.channels.voice.clips import clear_cache, quiz_clips
from broadcast.config import Settings
from broadcast.outbox.models import Delivery
from broadcast.quiz import results
from broadcast.quiz.models import QuizAnswer
from broadcast.simulators.twilio import TwilioSimulator
from tests.support.seed import phone, seed_contacts, start, wait_until
from tests.voice.conftest import voice_campaign

QUIZ = QuizIn.model_validate({"questions": [
    {"text": "Luật Đất đai 2024 có hiệu lực từ ngày nào?", "choices": ["1/1/2025", "1/8/2024", "1/7/2024"],
     "answer": 2},
    {"text": "Đất chưa có sổ đỏ có được chuyển nhượng không?", "answer": "no"},
    {"text": "Cấp sổ đỏ lần đầu mất tối đa bao nhiêu ngày?", "answer": 30},
]})


def test_keypad_quiz_through_the_simulated_call(
    live_app: str, live_settings: Settings, live_engine: Engine, sim: TwilioSimulator,
    dispatchers: Callable[..., Callable[[], None]],
) -> None:
    seed_contacts(live_engine, 4)
    sim.set_call_behaviour([phone(0)], digits=("2", "*", "2", "30#"))  # right, repeat, right, right
    sim.set_call_behaviour([phone(1)], digits=("7", "1", "1", "5#"))  # a key that answers nothing, then wrong
    sim.set_call_behaviour([phone(2)], digits=("2",))  # the first question only
    campaign_id = voice_campaign(live_engine, live_settings, quiz=QUIZ)
    with Session(live_engine) as session:
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None
        clips = [clip.id for clip in quiz_clips(session, live_settings, campaign)]
        session.commit()
    for clip_id in clips:
        assert clip_id is not None
        render_clip_now(live_engine, live_settings, clip_id)
    clear_cache()
    start(live_engine, campaign_id)
    dispatchers()
    wait_until(lambda: _finished(live_engine, campaign_id), timeout=60)
    assert sim.wait_for_calls(10)
    assert all(not c.errors for c in sim.calls), [c.errors for c in sim.calls]
    assert all(k.is_mp3 for c in sim.calls for k in c.clips)  # every question was a rendered clip
    first = sim.calls_to(phone(0))[0]
    assert first.pressed == ["2", "*", "2", "30#"]
    assert sum("/voice/quiz?" in doc and "q=0" in doc for doc in first.twiml) >= 1
    assert len(first.clips) >= 6  # clip, question 1, again, 2, 3, thanks, menu
    with Session(live_engine) as session:
        answers = Counter((a.position, a.value, a.correct, a.channel) for a in session.exec(select(QuizAnswer)).all())
        summary = results.summary(session, campaign_id)
    assert answers == Counter({(0, "2", True, "voice"): 2, (1, "no", True, "voice"): 1, (2, "30", True, "voice"): 1,
                               (0, "1", False, "voice"): 1, (1, "yes", False, "voice"): 1,
                               (2, "5", False, "voice"): 1})
    assert (summary["participants"], summary["completed"]) == (3, 2)
    assert [(q["answered"], q["correct"]) for q in summary["questions"]] == [(3, 2), (2, 1), (2, 1)]


def _finished(engine: Engine, campaign_id: int) -> bool:
    with Session(engine) as session:
        statuses = session.exec(select(Delivery.status).where(Delivery.campaign_id == campaign_id)).all()
    return len(statuses) == 4 and all(s in ("delivered", "undelivered", "failed") for s in statuses)
