"""Declarative tables. Named constraints enforce the voting invariants in the database too."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

UTC_DATETIME = DateTime(timezone=True)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Community(Base):
    __tablename__ = "communities"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTC_DATETIME)
    # The community's Telegram group, linked by a worker with /group: launches, checkpoints, results.
    group_chat_id: Mapped[int | None] = mapped_column(BigInteger)


class RosterVersion(Base):
    """One imported roster file; units are never edited in place, a new version is imported."""

    __tablename__ = "roster_versions"
    __table_args__ = (UniqueConstraint("community_id", "version"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="RESTRICT"))
    version: Mapped[int] = mapped_column(Integer)
    source_name: Mapped[str] = mapped_column(String(300))
    source_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTC_DATETIME)
    created_by: Mapped[str] = mapped_column(String(100))


class RosterUnit(Base):
    __tablename__ = "roster_units"
    __table_args__ = (
        UniqueConstraint("roster_version_id", "unit_id"),
        CheckConstraint("area > 0", name="area_positive"),
        CheckConstraint("status IN ('sold', 'unsold', 'undelivered')", name="status_known"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    roster_version_id: Mapped[int] = mapped_column(ForeignKey("roster_versions.id", ondelete="CASCADE"))
    unit_id: Mapped[str] = mapped_column(String(100))
    area: Mapped[int] = mapped_column(BigInteger)  # 0.01 m²
    owner: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20))
    building: Mapped[str] = mapped_column(String(50))
    entrance: Mapped[str] = mapped_column(String(50))
    room: Mapped[str] = mapped_column(String(50))
    area_source: Mapped[str] = mapped_column(String(20))
    phone: Mapped[str] = mapped_column(String(50), default="", server_default="")  # "" when the roster has none


class Vote(Base):
    __tablename__ = "votes"
    __table_args__ = (
        CheckConstraint("closes_at > opens_at", name="closes_after_opening"),
        CheckConstraint("status IN ('scheduled', 'open', 'closed', 'final')", name="status_known"),
        CheckConstraint("head_seq >= 0", name="head_seq_not_negative"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="RESTRICT"))
    title: Mapped[str] = mapped_column(String(300))
    text: Mapped[str] = mapped_column(Text)
    rule: Mapped[str] = mapped_column(Text)  # canonical JSON of the rule definition
    scope_building: Mapped[str] = mapped_column(String(50))
    scope_entrance: Mapped[str] = mapped_column(String(50))
    opens_at: Mapped[datetime] = mapped_column(UTC_DATETIME)
    closes_at: Mapped[datetime] = mapped_column(UTC_DATETIME)
    status: Mapped[str] = mapped_column(String(20))
    show_turnout: Mapped[bool] = mapped_column(Boolean)
    non_voters_follow_majority: Mapped[bool] = mapped_column(Boolean)
    roster_version_id: Mapped[int | None] = mapped_column(ForeignKey("roster_versions.id", ondelete="RESTRICT"))
    roster_hash: Mapped[str | None] = mapped_column(String(64))
    pseudonym_key: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    head_seq: Mapped[int] = mapped_column(Integer, default=0)
    head_hash: Mapped[str] = mapped_column(String(64))
    opened_at: Mapped[datetime | None] = mapped_column(UTC_DATETIME)
    closed_at: Mapped[datetime | None] = mapped_column(UTC_DATETIME)
    created_at: Mapped[datetime] = mapped_column(UTC_DATETIME)
    reminder_time: Mapped[str | None] = mapped_column(String(5))  # local "HH:MM", daily while open
    objection_until: Mapped[datetime | None] = mapped_column(UTC_DATETIME)  # set at close
    created_by: Mapped[str] = mapped_column(String(100), default="", server_default="")


class FrozenUnit(Base):
    """The roster of a vote as it was when the vote opened; later roster edits never touch it."""

    __tablename__ = "frozen_units"
    __table_args__ = (
        UniqueConstraint("vote_id", "unit_ref"),
        CheckConstraint("area > 0", name="area_positive"),
        Index(None, "owner_key", "vote_id"),  # a resident's votes: the owner's units in each frozen roster
    )
    vote_id: Mapped[int] = mapped_column(ForeignKey("votes.id", ondelete="CASCADE"), primary_key=True)
    unit_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    building: Mapped[str] = mapped_column(String(50))
    entrance: Mapped[str] = mapped_column(String(50))
    room: Mapped[str] = mapped_column(String(50))
    area: Mapped[int] = mapped_column(BigInteger)
    owner: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20))
    area_source: Mapped[str] = mapped_column(String(20))
    owner_key: Mapped[str] = mapped_column(String(220))
    unit_ref: Mapped[str] = mapped_column(String(32))
    owner_ref: Mapped[str] = mapped_column(String(32))
    phone: Mapped[str] = mapped_column(String(50), default="", server_default="")  # copied from the roster


class LedgerEntry(Base):
    """One ballot event of a vote's append-only hash chain.

    The trigger `trg_ledger_entries_append` (see the migrations) refuses an entry that does not
    follow the vote's head (seq + 1 and prev_hash), moves the head and sets the owner's current
    ballot, all in the statement that inserts the entry.
    """

    __tablename__ = "ledger_entries"
    __table_args__ = (
        UniqueConstraint("vote_id", "seq"),
        UniqueConstraint("vote_id", "entry_hash"),
        UniqueConstraint("vote_id", "idempotency_key"),
        CheckConstraint("seq >= 1", name="seq_positive"),
        Index(None, "vote_id", "receipt"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    vote_id: Mapped[int] = mapped_column(ForeignKey("votes.id", ondelete="RESTRICT"))
    seq: Mapped[int] = mapped_column(Integer)
    prev_hash: Mapped[str] = mapped_column(String(64))
    entry_hash: Mapped[str] = mapped_column(String(64))
    receipt: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(20))
    owner_ref: Mapped[str] = mapped_column(String(32))
    choice: Mapped[str | None] = mapped_column(String(10))
    actor: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(UTC_DATETIME)
    body: Mapped[str] = mapped_column(Text)  # the canonical JSON line exactly as hashed
    # Same Telegram update (or paper-batch row) delivered twice -> the second insert clashes here.
    idempotency_key: Mapped[str | None] = mapped_column(String(100))
    attachment: Mapped[bytes | None] = mapped_column(LargeBinary)


class CurrentBallot(Base):
    """Each owner's ballot that counts now: one row per owner and vote (primary key).

    Written only by the ledger trigger, from the entries themselves; `choice` is NULL after a withdrawal.
    """

    __tablename__ = "current_ballots"
    vote_id: Mapped[int] = mapped_column(ForeignKey("votes.id", ondelete="RESTRICT"), primary_key=True)
    owner_ref: Mapped[str] = mapped_column(String(32), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    choice: Mapped[str | None] = mapped_column(String(10))


class SignedTally(Base):
    __tablename__ = "signed_tallies"
    __table_args__ = (
        UniqueConstraint("vote_id", "stage"),
        CheckConstraint("stage IN ('preliminary', 'final')", name="stage_known"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    vote_id: Mapped[int] = mapped_column(ForeignKey("votes.id", ondelete="RESTRICT"))
    stage: Mapped[str] = mapped_column(String(20))
    payload: Mapped[bytes] = mapped_column(LargeBinary)  # canonical JSON, exactly the signed bytes
    signature: Mapped[bytes] = mapped_column(LargeBinary)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    signed_at: Mapped[datetime] = mapped_column(UTC_DATETIME)


class Account(Base):
    """A Telegram user (ids need 64 bits)."""

    __tablename__ = "accounts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    telegram_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    language: Mapped[str | None] = mapped_column(String(10))
    active: Mapped[bool] = mapped_column(Boolean, default=True)  # False after Telegram answered 403 (blocked)
    created_at: Mapped[datetime] = mapped_column(UTC_DATETIME)
    name: Mapped[str] = mapped_column(String(200), default="", server_default="")  # Telegram display name
    # The community a worker or auditor of several acts on (/community); None: their first. No foreign
    # key (SQLite cannot add one without rebuilding the table): the role check validates it at each use.
    current_community_id: Mapped[int | None] = mapped_column(Integer)
    # The Telegram app's language as last seen: for messages the bot sends on its own when the user
    # has not picked a language with /language (which `language` holds).
    app_language: Mapped[str | None] = mapped_column(String(10))


class InviteCode(Base):
    """A one-time code printed for one unit; `used_at` is set once, by the binding it made."""

    __tablename__ = "invite_codes"
    __table_args__ = (UniqueConstraint("code"), Index(None, "community_id", "unit_id"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="RESTRICT"))
    unit_id: Mapped[str] = mapped_column(String(100))
    owner_key: Mapped[str] = mapped_column(String(220))
    code: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTC_DATETIME)
    expires_at: Mapped[datetime | None] = mapped_column(UTC_DATETIME)
    revoked_at: Mapped[datetime | None] = mapped_column(UTC_DATETIME)
    used_at: Mapped[datetime | None] = mapped_column(UTC_DATETIME)
    used_by: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="RESTRICT"))


class Binding(Base):
    """An account bound to an owner of a community through one invite code (used once)."""

    __tablename__ = "bindings"
    __table_args__ = (UniqueConstraint("invite_code_id"), Index(None, "account_id"), Index(None, "community_id"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="RESTRICT"))
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="RESTRICT"))
    owner_key: Mapped[str] = mapped_column(String(220))
    invite_code_id: Mapped[int] = mapped_column(ForeignKey("invite_codes.id", ondelete="RESTRICT"))
    created_at: Mapped[datetime] = mapped_column(UTC_DATETIME)
    revoked_at: Mapped[datetime | None] = mapped_column(UTC_DATETIME)


class Role(Base):
    """A worker or auditor of one community; granted by an admin named in the config."""

    __tablename__ = "roles"
    __table_args__ = (
        UniqueConstraint("account_id", "community_id", "role"),
        CheckConstraint("role IN ('worker', 'auditor')", name="role_known"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="RESTRICT"))
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="RESTRICT"))
    role: Mapped[str] = mapped_column(String(20))
    granted_at: Mapped[datetime] = mapped_column(UTC_DATETIME)


class VoteEvent(Base):
    """What happened to a vote besides ballots, and who did it: opened, extended, closed, published, ..."""

    __tablename__ = "vote_events"
    __table_args__ = (Index(None, "vote_id", "id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    vote_id: Mapped[int] = mapped_column(ForeignKey("votes.id", ondelete="RESTRICT"))
    at: Mapped[datetime] = mapped_column(UTC_DATETIME)
    actor: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(30))
    detail: Mapped[str] = mapped_column(Text, default="", server_default="")


class JobRun(Base):
    """A scheduled job that has run (`open:7`, `remind:7:2026-11-24`, ...): each runs at most once,
    whether the scheduler fires it, a restart catches it up, or two processes race for it."""

    __tablename__ = "job_runs"
    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    done_at: Mapped[datetime] = mapped_column(UTC_DATETIME)


class Objection(Base):
    """A resident disputes how their own ballot was recorded, during the objection period."""

    __tablename__ = "objections"
    __table_args__ = (Index(None, "vote_id", "resolved_at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    vote_id: Mapped[int] = mapped_column(ForeignKey("votes.id", ondelete="RESTRICT"))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="RESTRICT"))
    owner_key: Mapped[str] = mapped_column(String(220))
    unit_id: Mapped[str] = mapped_column(String(100))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTC_DATETIME)
    resolved_at: Mapped[datetime | None] = mapped_column(UTC_DATETIME)
    resolved_by: Mapped[str | None] = mapped_column(String(100))
    resolution: Mapped[str | None] = mapped_column(Text)
    correction_seq: Mapped[int | None] = mapped_column(Integer)


class Draft(Base):
    """A worker's conversation in progress (a vote wizard, an uploaded file awaiting confirmation):
    kept here, not in memory, so a restart loses nothing."""

    __tablename__ = "drafts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(30))
    data: Mapped[str] = mapped_column(Text)  # JSON
    payload: Mapped[bytes | None] = mapped_column(LargeBinary)  # an uploaded file's bytes
    created_at: Mapped[datetime] = mapped_column(UTC_DATETIME)
    updated_at: Mapped[datetime] = mapped_column(UTC_DATETIME)
    done_at: Mapped[datetime | None] = mapped_column(UTC_DATETIME)


class Survey(Base):
    """A questionnaire or a menu round (菜单式改造 selection), on one frozen roster version.

    `definition` is canonical JSON: the questionnaire (voting.questionnaire.Questionnaire.as_dict) or,
    for a menu round, the catalogue it offers and the rule that puts an item into the draft plan.
    It is open from `opens_at` until `closes_at`, or until a worker closes it early (`closed_at`).
    """

    __tablename__ = "surveys"
    __table_args__ = (
        CheckConstraint("kind IN ('questionnaire', 'menu')", name="kind_known"),
        CheckConstraint("closes_at > opens_at", name="closes_after_opening"),
        Index(None, "community_id", "id"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="RESTRICT"))
    kind: Mapped[str] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(String(300))
    definition: Mapped[str] = mapped_column(Text)
    definition_sha256: Mapped[str] = mapped_column(String(64))
    anonymous: Mapped[bool] = mapped_column(Boolean)
    roster_version_id: Mapped[int] = mapped_column(ForeignKey("roster_versions.id", ondelete="RESTRICT"))
    opens_at: Mapped[datetime] = mapped_column(UTC_DATETIME)
    closes_at: Mapped[datetime] = mapped_column(UTC_DATETIME)
    closed_at: Mapped[datetime | None] = mapped_column(UTC_DATETIME)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTC_DATETIME)


class SurveyProgress(Base):
    """A resident's answers so far (questionnaire) or ticks so far (menu), before submitting: kept here,
    so a resident can leave and come back days later where they stopped."""

    __tablename__ = "survey_progress"
    __table_args__ = (UniqueConstraint("survey_id", "account_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    owner_key: Mapped[str] = mapped_column(String(220))
    data: Mapped[str] = mapped_column(Text)  # JSON
    updated_at: Mapped[datetime] = mapped_column(UTC_DATETIME)


class SurveyResponse(Base):
    """A submitted response. Named: `respondent` is the owner key, the latest (highest id) counts.
    Anonymous: `respondent` is a random id, with the owner's weight and no account, unit or time."""

    __tablename__ = "survey_responses"
    __table_args__ = (
        Index(None, "survey_id", "respondent"),
        CheckConstraint(
            "(anonymous AND account_id IS NULL AND unit_id IS NULL AND submitted_at IS NULL "
            "AND weight_area IS NOT NULL) OR (NOT anonymous AND account_id IS NOT NULL AND submitted_at IS NOT NULL)",
            name="anonymous_unlinked",
        ),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id", ondelete="RESTRICT"))
    respondent: Mapped[str] = mapped_column(String(220))
    anonymous: Mapped[bool] = mapped_column(Boolean)
    answers: Mapped[str] = mapped_column(Text)  # canonical JSON
    weight_area: Mapped[int | None] = mapped_column(BigInteger)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="RESTRICT"))
    unit_id: Mapped[str | None] = mapped_column(String(100))
    submitted_at: Mapped[datetime | None] = mapped_column(UTC_DATETIME)


class SurveyAnswered(Base):
    """ "This owner has answered" for an anonymous questionnaire: no time, no id and no row order
    (WITHOUT ROWID on SQLite) that could pair it with the unlinked response."""

    __tablename__ = "survey_answered"
    __table_args__ = ({"sqlite_with_rowid": False},)
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id", ondelete="RESTRICT"), primary_key=True)
    owner_key: Mapped[str] = mapped_column(String(220), primary_key=True)


class Catalogue(Base):
    """A community's renovation menu catalogue; the newest is the current one. A menu round keeps a copy
    of the catalogue it offered, so editing it never changes a round already running."""

    __tablename__ = "catalogues"
    __table_args__ = (Index(None, "community_id", "id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="RESTRICT"))
    data: Mapped[str] = mapped_column(Text)  # voting.menu.Catalogue.as_dict, canonical JSON
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTC_DATETIME)


class Project(Base):
    """A renovation project through its stages (voting.project.Project.as_dict as JSON)."""

    __tablename__ = "projects"
    __table_args__ = (Index(None, "community_id", "id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="RESTRICT"))
    name: Mapped[str] = mapped_column(String(200))
    data: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTC_DATETIME)
    updated_at: Mapped[datetime] = mapped_column(UTC_DATETIME)
