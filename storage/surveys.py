"""Repositories for questionnaires and menu rounds (surveys), catalogues and renovation projects."""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage import tables as t
from storage.repositories import insert_once, utc, utc_opt
from voting.canonical import canonical_json
from voting.errors import NotFoundError
from voting.surveys import StoredResponse, Survey, SurveyKind

__all__ = ["SqlProjects", "SqlSurveys"]

_MIX = random.SystemRandom()


def _json(data: Any) -> str:
    return canonical_json(data).decode("utf-8")


def _survey(row: t.Survey) -> Survey:
    return Survey(
        row.community_id,
        SurveyKind(row.kind),
        row.title,
        json.loads(row.definition),
        row.roster_version_id,
        utc(row.opens_at),
        utc(row.closes_at),
        row.created_by,
        row.anonymous,
        utc_opt(row.closed_at),
        row.id,
    )


def _response(row: t.SurveyResponse) -> StoredResponse:
    return StoredResponse(
        row.respondent,
        json.loads(row.answers),
        row.anonymous,
        row.weight_area,
        row.account_id,
        row.unit_id,
        utc_opt(row.submitted_at),
        row.id,
    )


class SqlSurveys:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def add(self, survey: Survey, now: datetime) -> int:
        row = t.Survey(
            community_id=survey.community_id,
            kind=str(survey.kind),
            title=survey.title,
            definition=_json(survey.definition),
            definition_sha256=survey.definition_sha256,
            anonymous=survey.anonymous,
            roster_version_id=survey.roster_version_id,
            opens_at=survey.opens_at,
            closes_at=survey.closes_at,
            closed_at=survey.closed_at,
            created_by=survey.created_by,
            created_at=now,
        )
        self._s.add(row)
        await self._s.flush()
        return row.id

    async def get(self, survey_id: int, *, lock: bool = False) -> Survey:
        query = select(t.Survey).where(t.Survey.id == survey_id)
        if lock:
            query = query.with_for_update()
        row = await self._s.scalar(query)
        if row is None:
            raise NotFoundError("survey", survey_id)
        return _survey(row)

    async def close(self, survey_id: int, now: datetime) -> None:
        await self._s.execute(
            update(t.Survey).where(t.Survey.id == survey_id, t.Survey.closed_at.is_(None)).values(closed_at=now)
        )

    async def of_community(self, community_id: int) -> list[Survey]:
        rows = await self._s.scalars(
            select(t.Survey).where(t.Survey.community_id == community_id).order_by(t.Survey.id.desc())
        )
        return [_survey(r) for r in rows]

    async def recent(self, since: datetime) -> list[Survey]:
        """Surveys open at `since` or later: their deadline, or an early close, is not before it."""
        rows = await self._s.scalars(
            select(t.Survey)
            .where(((t.Survey.closed_at.is_(None)) & (t.Survey.closes_at >= since)) | (t.Survey.closed_at >= since))
            .order_by(t.Survey.id)
        )
        return [_survey(r) for r in rows]

    async def open_in(self, community_ids: Sequence[int], now: datetime) -> list[Survey]:
        if not community_ids:
            return []
        rows = await self._s.scalars(
            select(t.Survey)
            .where(
                t.Survey.community_id.in_(community_ids),
                t.Survey.closed_at.is_(None),
                t.Survey.opens_at <= now,
                t.Survey.closes_at > now,
            )
            .order_by(t.Survey.id.desc())
        )
        return [_survey(r) for r in rows]

    async def bound_accounts(self, community_id: int) -> list[tuple[int, str | None, str]]:
        b, a = t.Binding, t.Account
        rows = await self._s.execute(
            select(a.telegram_id, func.coalesce(a.language, a.app_language), b.owner_key)
            .distinct()
            .select_from(b)
            .join(a, a.id == b.account_id)
            .where(b.community_id == community_id, b.revoked_at.is_(None), a.active.is_(True))
            .order_by(a.telegram_id)
        )
        return [(telegram_id, language, owner_key) for telegram_id, language, owner_key in rows]

    async def progress(self, survey_id: int, account_id: int) -> dict[str, Any] | None:
        data = await self._s.scalar(
            select(t.SurveyProgress.data).where(
                t.SurveyProgress.survey_id == survey_id, t.SurveyProgress.account_id == account_id
            )
        )
        return None if data is None else dict(json.loads(data))

    async def save_progress(
        self, survey_id: int, account_id: int, owner_key: str, data: dict[str, Any], now: datetime
    ) -> None:
        text = _json(data)
        changed = await self._s.execute(
            update(t.SurveyProgress)
            .where(t.SurveyProgress.survey_id == survey_id, t.SurveyProgress.account_id == account_id)
            .values(data=text, owner_key=owner_key, updated_at=now)
        )
        if changed.rowcount:  # type: ignore[attr-defined]
            return
        self._s.add(
            t.SurveyProgress(survey_id=survey_id, account_id=account_id, owner_key=owner_key, data=text, updated_at=now)
        )
        await self._s.flush()

    async def drop_progress(self, survey_id: int, account_id: int) -> None:
        await self._s.execute(
            delete(t.SurveyProgress).where(
                t.SurveyProgress.survey_id == survey_id, t.SurveyProgress.account_id == account_id
            )
        )

    async def add_response(self, survey_id: int, response: StoredResponse) -> int:
        row = t.SurveyResponse(
            survey_id=survey_id,
            respondent=response.respondent,
            anonymous=response.anonymous,
            answers=_json(response.answers),
            weight_area=response.weight_area,
            account_id=response.account_id,
            unit_id=response.unit_id,
            submitted_at=response.submitted_at,
        )
        self._s.add(row)
        await self._s.flush()
        return row.id

    async def add_anonymous(self, survey_id: int, response: StoredResponse) -> None:
        """Add an anonymous response by rewriting all of the survey's anonymous responses, with the new one,
        in a random order: every row then carries this transaction's id (PostgreSQL's xmin), a fresh
        row id and place, so neither matches the "has answered" marker written beside it."""
        table = t.SurveyResponse
        rows = list(await self._s.scalars(select(table).where(table.survey_id == survey_id, table.anonymous.is_(True))))
        kept = [(r.respondent, r.answers, r.weight_area) for r in rows]
        kept.append((response.respondent, _json(response.answers), response.weight_area))
        await self._s.execute(delete(table).where(table.survey_id == survey_id, table.anonymous.is_(True)))
        _MIX.shuffle(kept)
        self._s.add_all(
            table(survey_id=survey_id, respondent=who, anonymous=True, answers=answers, weight_area=area)
            for who, answers, area in kept
        )
        await self._s.flush()

    async def responses(self, survey_id: int) -> list[StoredResponse]:
        rows = await self._s.scalars(
            select(t.SurveyResponse).where(t.SurveyResponse.survey_id == survey_id).order_by(t.SurveyResponse.id)
        )
        return [_response(r) for r in rows]

    async def latest_of(self, survey_id: int, owner_key: str) -> StoredResponse | None:
        row = await self._s.scalar(
            select(t.SurveyResponse)
            .where(t.SurveyResponse.survey_id == survey_id, t.SurveyResponse.respondent == owner_key)
            .order_by(t.SurveyResponse.id.desc())
            .limit(1)
        )
        return None if row is None else _response(row)

    async def mark_answered(self, survey_id: int, owner_key: str) -> bool:
        marker = t.SurveyAnswered(survey_id=survey_id, owner_key=owner_key)
        return await insert_once(self._s, marker, (survey_id, owner_key))

    async def answered(self, survey_id: int, owner_key: str) -> bool:
        found = await self._s.scalar(
            select(t.SurveyAnswered.owner_key).where(
                t.SurveyAnswered.survey_id == survey_id, t.SurveyAnswered.owner_key == owner_key
            )
        )
        return found is not None

    async def counts(self, survey: Survey) -> int:
        if survey.anonymous:
            query = select(func.count()).select_from(t.SurveyAnswered).where(t.SurveyAnswered.survey_id == survey.id)
        else:
            query = select(func.count(func.distinct(t.SurveyResponse.respondent))).where(
                t.SurveyResponse.survey_id == survey.id
            )
        return int(await self._s.scalar(query) or 0)

    async def catalogue(self, community_id: int) -> dict[str, Any] | None:
        data = await self._s.scalar(
            select(t.Catalogue.data)
            .where(t.Catalogue.community_id == community_id)
            .order_by(t.Catalogue.id.desc())
            .limit(1)
        )
        return None if data is None else dict(json.loads(data))

    async def save_catalogue(self, community_id: int, data: dict[str, Any], created_by: str, now: datetime) -> int:
        row = t.Catalogue(community_id=community_id, data=_json(data), created_by=created_by, created_at=now)
        self._s.add(row)
        await self._s.flush()
        return row.id


class SqlProjects:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def add(self, data: dict[str, Any], community_id: int, name: str, created_by: str, now: datetime) -> int:
        row = t.Project(
            community_id=community_id,
            name=name,
            data=_json(data),
            created_by=created_by,
            created_at=now,
            updated_at=now,
        )
        self._s.add(row)
        await self._s.flush()
        return row.id

    async def get(self, project_id: int, *, lock: bool = False) -> dict[str, Any]:
        query = select(t.Project).where(t.Project.id == project_id)
        if lock:
            query = query.with_for_update()
        row = await self._s.scalar(query)
        if row is None:
            raise NotFoundError("project", project_id)
        return {**json.loads(row.data), "id": row.id}

    async def save(self, project_id: int, data: dict[str, Any], now: datetime) -> None:
        await self._s.execute(
            update(t.Project).where(t.Project.id == project_id).values(data=_json(data), updated_at=now)
        )

    async def of_community(self, community_id: int) -> list[tuple[int, str]]:
        rows = await self._s.execute(
            select(t.Project.id, t.Project.name)
            .where(t.Project.community_id == community_id)
            .order_by(t.Project.id.desc())
        )
        return [(i, name) for i, name in rows]
