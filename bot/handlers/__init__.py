"""One router per feature, built in factories (a router attaches to one parent only)."""

from __future__ import annotations

from aiogram import Router

from bot.context import BotContext
from bot.handlers.conversation import build_conversation_router
from bot.handlers.errors import build_errors_router
from bot.handlers.menus import build_menus_router
from bot.handlers.projects import build_projects_router
from bot.handlers.questionnaires import build_questionnaires_router
from bot.handlers.resident import build_fallback_router, build_resident_router
from bot.handlers.staff import build_group_router, build_staff_router
from bot.handlers.surveys import build_surveys_router
from bot.handlers.votes import build_votes_router
from bot.handlers.worker import build_worker_router

__all__ = ["build_root_router"]


def build_root_router(ctx: BotContext) -> Router:
    root = Router(name="root")
    root.include_routers(
        build_errors_router(ctx),
        build_group_router(),  # in a group: /group, and nothing else
        build_staff_router(),
        build_surveys_router(),
        build_questionnaires_router(),  # takes a resident's typed answer only at a text or number question
        build_menus_router(),
        build_projects_router(),
        build_conversation_router(),  # typed text goes to an open conversation before anything else
        build_resident_router(),
        build_votes_router(),
        build_worker_router(),
        build_fallback_router(),
    )
    return root
