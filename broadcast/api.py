"""The JSON API under /api/v1: each domain's router, mounted in one place."""

from __future__ import annotations

from fastapi import APIRouter

from broadcast.audio.api import router as audio_router
from broadcast.campaigns.api import router as campaigns_router
from broadcast.campaigns.schedule_api import router as schedule_router
from broadcast.channels.api import router as sms_router
from broadcast.contacts.api import router as contacts_router
from broadcast.contacts.import_api import router as import_router
from broadcast.engagement.api import router as engagement_router
from broadcast.engagement.api_reports import router as reports_router

api_router = APIRouter(prefix="/api/v1")
api_router.include_router(import_router)  # before /contacts/{id}
api_router.include_router(contacts_router)
api_router.include_router(schedule_router)  # before /campaigns/{id}
api_router.include_router(campaigns_router)
api_router.include_router(sms_router)
api_router.include_router(audio_router)
api_router.include_router(engagement_router)
api_router.include_router(reports_router)
