"""A realistic Cà Mau demo: communes, a few hundred residents, groups, and campaigns from the 2024 plan.

Idempotent: running it again adds nothing that is already there.
"""

from __future__ import annotations

import random

from sqlalchemy import func
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, select

from broadcast.accounts import service as accounts
from broadcast.audio.radio.airing import plan_airings
from broadcast.audio.service import campaign_audio, render_clip_now
from broadcast.campaigns import service as campaigns
from broadcast.campaigns.models import Campaign
from broadcast.campaigns.schemas import AudienceIn, CampaignCreate, ContentIn
from broadcast.communes.loading import province_communes, upsert_communes
from broadcast.communes.models import Commune
from broadcast.config import Settings
from broadcast.contacts.models import Contact, ContactGroup, GroupMember
from broadcast.db import migrated_engine, session_scope, utcnow

# Communes of the new Cà Mau (codes from vietnam-provinces), with a legal-aid contact each.
DEMO_COMMUNES = {
    "32002": "Trung tâm Trợ giúp pháp lý tỉnh — 0290 3831 234",
    "31825": "Chi nhánh Trợ giúp pháp lý Bạc Liêu — 0291 3822 115",
    "32248": "Tư pháp xã Đất Mũi — 0290 3870 101",
}
GROUPS = ["Hộ nghèo, cận nghèo", "Hội Liên hiệp Phụ nữ", "Người cao tuổi", "Ngư dân", "Đồng bào Khmer"]
FAMILY = ["Nguyễn", "Trần", "Lê", "Phạm", "Huỳnh", "Võ", "Đặng", "Bùi", "Thạch", "Danh", "Lâm", "Kim"]
MIDDLE = ["Văn", "Thị", "Minh", "Ngọc", "Thanh", "Hoàng", "Kim", "Quốc"]
GIVEN = ["An", "Bình", "Cường", "Dung", "Hà", "Hạnh", "Hùng", "Lan", "Mai", "Nam", "Phúc", "Sơn", "Thảo",
         "Trang", "Tuấn", "Vy", "Sô Phi", "Sa Rết", "Chanh Đa"]

PLAN_TITLE = "Đề án 977 — trợ giúp pháp lý miễn phí"
SMS_977 = (
    "UBND tinh Ca Mau: Thuc hien De an 977, nguoi dan duoc tro giup phap ly mien phi. "
    "Hoi dap phap luat: nhan tin cau hoi ve so nay. Tu choi nhan tin: soan TC."
)
SCRIPT_977 = (
    "Thông báo của Ủy ban nhân dân tỉnh Cà Mau. Thực hiện Quyết định số 977/QĐ-TTg ngày 11/8/2022 "
    "của Thủ tướng Chính phủ về tăng cường năng lực tiếp cận pháp luật của người dân, năm 2024 tỉnh tập trung "
    "phổ biến pháp luật cho người thuộc hộ nghèo, hộ cận nghèo, phụ nữ, trẻ em, vùng sâu, vùng dân tộc thiểu số. "
    "Người dân cần trợ giúp pháp lý miễn phí xin liên hệ UBND xã hoặc gọi 0290 3831 234."
)
SMS_LAND = (
    "UBND tinh Ca Mau: Luat Dat dai 2024 co hieu luc tu 01/8/2024. Nguoi dan can lam thu tuc cap so do "
    "xin lien he bo phan mot cua UBND xa. Tu choi nhan tin: soan TC."
)


def _phone(rng: random.Random) -> str:
    prefix = rng.choice(["086", "096", "097", "098", "032", "033", "088", "091", "094", "083", "070", "079"])
    return f"+84{prefix[1:]}{rng.randrange(10**7):07d}"


def _seed_residents(session: Session, settings: Settings, count: int) -> int:
    existing = session.exec(select(func.count()).select_from(Contact)).one()
    if existing >= count:
        return 0
    rng = random.Random(977)
    now = utcnow()
    codes = list(DEMO_COMMUNES)
    rows = []
    for i in range(count):
        commune = codes[i % len(codes)]
        khmer = commune == "31825" and i % 4 == 0
        name = f"{rng.choice(FAMILY)} {rng.choice(MIDDLE)} {rng.choice(GIVEN)}"
        rows.append({"phone": _phone(rng), "full_name": name, "commune_code": commune,
                     "language": "km" if khmer else "vi", "address": f"Ấp {1 + i % 9}",
                     "consent_source": "demo", "consent_at": now, "created_at": now, "updated_at": now,
                     "sms_opted_out": i % 37 == 36, "voice_opted_out": False, "note": ""})
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    session.execute(insert(Contact).values(rows).on_conflict_do_nothing(index_elements=["phone"]))
    groups = {}
    for name in GROUPS:
        group = session.exec(select(ContactGroup).where(ContactGroup.name == name)).first()
        if group is None:
            group = ContactGroup(name=name, description="Nhóm mẫu")
            session.add(group)
            session.flush()
        groups[name] = group.id
    members = []
    for contact_id, language in session.exec(select(Contact.id, Contact.language)).all():
        if contact_id is None:
            continue
        picks = {GROUPS[contact_id % 4]} | ({"Đồng bào Khmer"} if language == "km" else set())
        members += [{"contact_id": contact_id, "group_id": groups[g]} for g in picks]
    session.execute(insert(GroupMember).values(members).on_conflict_do_nothing())
    return len(rows)


def _seed_campaigns(session: Session) -> list[int]:
    made: list[int] = []
    if session.exec(select(Campaign.id).where(Campaign.title == PLAN_TITLE)).first():
        return made
    plan = campaigns.create_campaign(session, CampaignCreate(
        title=PLAN_TITLE,
        description="Kế hoạch thực hiện Đề án 977 năm 2024 của UBND tỉnh Cà Mau (nhóm nhiệm vụ 1 và 2).",
        channels=["sms", "loudspeaker"],
        audience=AudienceIn(communes=list(DEMO_COMMUNES)),
        contents=[ContentIn(channel="sms", language="vi", body=SMS_977),
                  ContentIn(channel="loudspeaker", language="vi", body=SCRIPT_977)],
    ), actor="demo")
    assert plan.id is not None
    campaigns.submit(session, plan.id, actor="demo")
    campaigns.approve(session, plan.id, approver_id=None, actor="demo")
    land = campaigns.create_campaign(session, CampaignCreate(
        title="Luật Đất đai 2024 — thủ tục cấp sổ", sms_text=SMS_LAND,
        audience=AudienceIn(groups=[1, 2]),
    ), actor="demo")
    assert land.id is not None
    made += [plan.id, land.id]
    return made


DEMO_USERS = [  # (username, role, communes, phone): passwords are "<username>-demo-camau"
    ("admin", "admin", [], None),
    ("canbo", "officer", [], "0912000001"),
    ("pheduyet", "approver", [], None),
    ("daixa", "radio_operator", ["32248"], "0912000002"),
    ("xem", "viewer", [], None),
]


def _seed_users(session: Session) -> str | None:
    """Demo accounts; returns a fresh API token for admin (tokens are shown once)."""
    for username, role, communes, phone in DEMO_USERS:
        if accounts.by_username(session, username) is None:
            accounts.create_user(session, username=username, password=f"{username}-demo-camau", role=role,
                                 communes=communes, phone=phone, actor="demo")
    admin = accounts.by_username(session, "admin")
    return accounts.create_token(session, admin, name="demo") if admin is not None else None


def seed_demo(settings: Settings) -> str:
    """Seed everything the demo shows; returns a one-paragraph summary for the terminal."""
    with migrated_engine(settings) as engine:
        with session_scope(engine) as session:
            upsert_communes(session, settings.province_code, province_communes(settings.province_code))
            for code, contact in DEMO_COMMUNES.items():
                commune = session.get(Commune, code)
                if commune is not None and not commune.legal_aid_contact:
                    commune.legal_aid_contact = contact
                    session.add(commune)
        with session_scope(engine) as session:
            added = _seed_residents(session, settings, settings.demo_residents)
        with session_scope(engine) as session:
            token = _seed_users(session)
        with session_scope(engine) as session:
            created = _seed_campaigns(session)
        clips = 0
        with session_scope(engine) as session:
            plan = session.exec(select(Campaign).where(Campaign.title == PLAN_TITLE)).first()
            pending = []
            if plan is not None and plan.id is not None and "loudspeaker" in plan.channels:
                rendered = [clip for _, clip in campaign_audio(session, settings, plan.id, engine="espeak")]
                plan_airings(session, settings, plan.id, rendered)
                pending = [c.id for c in rendered if c.id is not None and c.status != "ready"]
        for clip_id in pending:  # offline engine: renders in seconds, so the demo has clips at once
            render_clip_now(engine, settings, clip_id)
            clips += 1
        with Session(engine) as session:
            residents = session.exec(select(func.count()).select_from(Contact)).one()
            communes = session.exec(select(func.count()).select_from(Commune)).one()
    users = ", ".join(f"{name}/{name}-demo-camau ({role})" for name, role, _, _ in DEMO_USERS)
    return (f"Demo: {communes} xã/phường, {residents} người dân (+{added}), "
            f"{len(created)} chiến dịch mới, {clips} đoạn âm thanh vừa tạo.\n"
            f"Tài khoản: {users}\n"
            f"API token (admin): {token}")
