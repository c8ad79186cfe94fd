"""Every table, imported in one place so Alembic and the app see the whole metadata."""

from sqlmodel import SQLModel

from broadcast.accounts.models import ApiToken, LoginFailure, Role, User, UserCommune
from broadcast.audio.models import Airing, AudioClip, ClipStatus
from broadcast.audit.models import AuditLog
from broadcast.campaigns.models import (
    BulletinLevel,
    Campaign,
    CampaignContent,
    CampaignRun,
    CampaignStatus,
    ChannelKind,
    RunStatus,
)
from broadcast.channels.core.models import BudgetShare
from broadcast.channels.gateway.models import CommuneRoute, GatewayPhone
from broadcast.communes.models import Commune
from broadcast.contacts.models import ConsentEvent, Contact, ContactGroup, ContactTag, GroupMember, Language, Tag
from broadcast.engagement.models import Conversation, ConversationStatus, Publication, PublicationStatus
from broadcast.engagement.retained import EventArchive, RetainedRun
from broadcast.events.models import EngagementEvent, EventKind
from broadcast.journal.models import JournalApplied
from broadcast.ops.models import CheckEcho
from broadcast.outbox.models import (
    Delivery,
    DeliveryAttempt,
    DeliveryKind,
    DeliveryStatus,
    DispatcherHeartbeat,
    InboundMessage,
)
from broadcast.quiz.models import ContestClosing, QuizAnswer, QuizSession

metadata = SQLModel.metadata

__all__ = [
    "Airing",
    "ApiToken",
    "AudioClip",
    "AuditLog",
    "BudgetShare",
    "BulletinLevel",
    "Campaign",
    "CampaignContent",
    "CampaignRun",
    "CampaignStatus",
    "ChannelKind",
    "CheckEcho",
    "ClipStatus",
    "Commune",
    "CommuneRoute",
    "ConsentEvent",
    "Contact",
    "ContactGroup",
    "ContactTag",
    "ContestClosing",
    "Conversation",
    "ConversationStatus",
    "Delivery",
    "DeliveryAttempt",
    "DeliveryKind",
    "DeliveryStatus",
    "DispatcherHeartbeat",
    "EngagementEvent",
    "EventArchive",
    "EventKind",
    "GatewayPhone",
    "GroupMember",
    "InboundMessage",
    "JournalApplied",
    "Language",
    "LoginFailure",
    "Publication",
    "PublicationStatus",
    "QuizAnswer",
    "QuizSession",
    "RetainedRun",
    "Role",
    "RunStatus",
    "Tag",
    "User",
    "UserCommune",
    "metadata",
]
