"""The JSON API under /api/v1: each domain's router, mounted in one place with its access rule."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from broadcast.accounts.deps import ADMINS, EDITORS, READERS, REVIEWERS, STAFF, allow
from broadcast.api.accounts import router as accounts_router
from broadcast.api.audio import router as audio_router
from broadcast.api.campaigns import router as campaigns_router
from broadcast.api.contacts import router as contacts_router
from broadcast.api.engagement import router as engagement_router
from broadcast.api.gateways import router as gateway_router
from broadcast.api.imports import router as import_router
from broadcast.api.publications import router as publications_router
from broadcast.api.reports import router as reports_router
from broadcast.api.schedules import router as schedule_router
from broadcast.api.sms import router as sms_router
from broadcast.channels.voice.webhooks import api_router as voice_router
from broadcast.exceptions import ERROR_RESPONSES

api_router = APIRouter(prefix="/api/v1", responses=ERROR_RESPONSES)
# Reading: every staff role but radio operators (viewers see phone numbers masked); writing: officers.
residents = [Depends(allow(READERS, EDITORS))]
api_router.include_router(accounts_router)
api_router.include_router(import_router, dependencies=residents)  # before /contacts/{id}
api_router.include_router(contacts_router, dependencies=residents)
# Schedules: staff read, officers set them; radio operators see their own communes' programme (per route).
api_router.include_router(schedule_router, dependencies=[Depends(allow(STAFF, EDITORS))])  # before /campaigns/{id}
# Campaign writes: officers; approve/reject: approvers (each route says which).
api_router.include_router(campaigns_router, dependencies=[Depends(allow(READERS, EDITORS | REVIEWERS))])
api_router.include_router(sms_router, dependencies=[Depends(allow(READERS))])  # test sends: officers (per route)
api_router.include_router(voice_router, dependencies=[Depends(allow(READERS))])
api_router.include_router(gateway_router, dependencies=[Depends(allow(ADMINS))])  # gateway phones: admins only
# Audio: officers make and re-render clips; radio operators their own communes' catalogue and airings (per route).
api_router.include_router(audio_router, dependencies=[Depends(allow(STAFF))])
# Inbox and metrics: staff read, officers act; keywords, audit log and data-subject requests: admins (per route).
api_router.include_router(engagement_router, dependencies=[Depends(allow(READERS, EDITORS))])
api_router.include_router(reports_router, dependencies=[Depends(allow(READERS, EDITORS))])
# Publications for the public accountability page: officers propose, approvers publish (each route says who).
api_router.include_router(publications_router, dependencies=[Depends(allow(READERS, EDITORS | REVIEWERS))])
