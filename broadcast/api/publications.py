"""JSON routes: answered questions proposed for the public accountability page, approved, rejected, withdrawn."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from broadcast.accounts.deps import EDITORS, REVIEWERS, require
from broadcast.accounts.models import User
from broadcast.bounds import DbId, Word
from broadcast.deps import SessionDep
from broadcast.engagement import publications
from broadcast.engagement.models import Publication, PublicationStatus

router = APIRouter(tags=["publications"])


class ProposeIn(BaseModel):
    question: str | None = Field(default=None, max_length=publications.TEXT_LIMIT,
                                 description="edited and anonymised; left out: the conversation's, anonymised")
    answer: str | None = Field(default=None, max_length=publications.TEXT_LIMIT)
    topic: Word | None = None


class ReviewIn(BaseModel):
    comment: str = Field(default="", max_length=1000)


class PublicationOut(BaseModel):
    id: int
    conversation_id: int | None
    commune_code: str
    topic: str
    question: str
    answer: str
    asked_at: datetime
    status: str
    created_by_id: int | None
    reviewed_by_id: int | None
    published_at: datetime | None
    review_comment: str


def _out(row: Publication) -> Any:
    return PublicationOut.model_validate(row.model_dump())


@router.post("/inbox/{conversation_id}/publication", status_code=201, response_model=PublicationOut,
             summary="Propose an answered question for the public page (anonymised; an approver publishes it)")
def propose(conversation_id: DbId, data: ProposeIn, session: SessionDep,
            user: User = Depends(require(*EDITORS))) -> Any:
    return _out(publications.propose(session, conversation_id, actor=user, question=data.question,
                                     answer=data.answer, topic=data.topic))


@router.get("/publications", response_model=list[PublicationOut], summary="Proposed and published answers")
def listed(session: SessionDep, status: PublicationStatus | None = None) -> Any:
    return [_out(p) for p in publications.listed(session, status=status)]


@router.post("/publications/{publication_id}/approve", response_model=PublicationOut,
             summary="Publish (never one's own proposal); refused while it names the asker or holds a number")
def approve(publication_id: DbId, session: SessionDep, review: ReviewIn | None = None,
            user: User = Depends(require(*REVIEWERS))) -> Any:
    return _out(publications.review(session, publication_id, approve=True, reviewer=user,
                                    comment=review.comment if review else ""))


@router.post("/publications/{publication_id}/reject", response_model=PublicationOut)
def reject(publication_id: DbId, review: ReviewIn, session: SessionDep,
           user: User = Depends(require(*REVIEWERS))) -> Any:
    return _out(publications.review(session, publication_id, approve=False, reviewer=user, comment=review.comment))


@router.post("/publications/{publication_id}/withdraw", response_model=PublicationOut,
             summary="Take a publication off the public page")
def withdraw(publication_id: DbId, session: SessionDep, user: User = Depends(require(*(EDITORS | REVIEWERS)))) -> Any:
    return _out(publications.withdraw(session, publication_id, actor=user))
