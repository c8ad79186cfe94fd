"""Every table, imported in one place so Alembic and the app see the whole metadata."""

from sqlmodel import SQLModel

from broadcast.accounts.models import ApiToken, AuditLog, LoginFailure, Role, User, UserCommune
from broadcast.audio.models import Airing, AudioClip, ClipStatus
from broadcast.campaigns.models import (
    BulletinLevel,
    Campaign,
    CampaignContent,
    CampaignRun,
    CampaignStatus,
    ChannelKind,
    RunStatus,
)
from broadcast.channels.gateway_models import CommuneRoute, GatewayPhone
from broadcast.channels.models import (
    Delivery,
    DeliveryAttempt,
    DeliveryKind,
    DeliveryStatus,
    InboundMessage,
)
from broadcast.contacts.models import (
    Commune,
    ConsentEvent,
    Contact,
    ContactGroup,
    ContactTag,
    GroupMember,
    Language,
    Tag,
)
from broadcast.engagement.models import Conversation, ConversationStatus, EngagementEvent, EventKind
from broadcast.engagement.retained import EventArchive, RetainedRun

metadata = SQLModel.metadata

__all__ = [
    "Airing",
    "ApiToken",
    "AudioClip",
    "AuditLog",
    "BulletinLevel",
    "Campaign",
    "CampaignContent",
    "CampaignRun",
    "CampaignStatus",
    "ChannelKind",
    "ClipStatus",
    "Commune",
    "CommuneRoute",
    "ConsentEvent",
    "Contact",
    "ContactGroup",
    "ContactTag",
    "Conversation",
    "ConversationStatus",
    "Delivery",
    "DeliveryAttempt",
    "DeliveryKind",
    "DeliveryStatus",
    "EngagementEvent",
    "EventArchive",
    "EventKind",
    "GatewayPhone",
    "GroupMember",
    "InboundMessage",
    "Language",
    "LoginFailure",
    "RetainedRun",
    "Role",
    "RunStatus",
    "Tag",
    "User",
    "UserCommune",
    "metadata",
]
