"""Chat texts built from core results, in the reader's language. Short lines, plain words."""

from __future__ import annotations

import re
from collections.abc import Sequence

from bot.context import BotContext
from bot.i18n import Translator
from bot.keyboards import choice_label
from bot.render import describe_rule, describe_rule_error
from voting.errors import (
    N_,
    AlreadyAnsweredError,
    AnswerError,
    BatchRefusedError,
    CatalogueError,
    ConflictError,
    DuplicateSubmissionError,
    ExtensionError,
    InviteError,
    MenuError,
    NotBoundError,
    NotFoundError,
    ObjectionError,
    OutOfScopeError,
    PermissionDeniedError,
    ProjectError,
    QuestionnaireError,
    RuleError,
    ScopeError,
    SurveyError,
    VoteClosedError,
    VoteNotOpenError,
    VoteStateError,
    VotingError,
)
from voting.ledger import EntryKind, LedgerEntry, parse_utc
from voting.model import Choice, format_area
from voting.residents import Binding, OwnerVote
from voting.services import BallotReceipt
from voting.tally import TallyResult
from voting.votes import Vote, VoteStatus

__all__ = ["describe_error", "receipt_text", "vote_card", "welcome_unbound"]


def welcome_unbound(_: Translator) -> str:
    return _(
        "Hello! This is renovote, where the owners of our community vote on the renovation of old "
        "residential areas (老旧小区改造) and answer questionnaires.\n\n"
        "To take part you need your invite code. Your community worker hands every home a slip with a "
        "code such as ABCD-EFGH and a QR code.\n"
        "• Scan the QR code with your phone, or\n"
        "• type the code here.\n\n"
        "No slip? Ask your community office (社区居委会)."
    )


def worker_welcome(_: Translator) -> str:
    return _(
        "You are a community worker here. What you can do:\n"
        "• send the owner roster as a CSV or XLSX file (a preview first), then /invites for the invite slips;\n"
        "• ➕ New vote; 🛠 Manage votes: turnout, who has not voted, reminders, paper ballots and their forms, "
        "extending, closing, objections;\n"
        "• 📝 Surveys & projects: questionnaires, the renovation menu and projects;\n"
        "• 👥 Bindings: accounts linked to homes."
    )


def auditor_welcome(_: Translator, key_fingerprint: str) -> str:
    return _(
        "You are an auditor here. 📦 Export audit bundle sends the signed bundle of a closed vote; check it on your "
        "own computer with renovote audit verify. 🔑 Signing key: the fingerprint of the key that signs the "
        "results is {fingerprint}; compare it with the one the community published."
    ).format(fingerprint=key_fingerprint)


def help_text(_: Translator, *, bound: bool, worker: bool, auditor: bool = False) -> str:
    lines = [_("How to use renovote:")]
    if bound:
        lines += [
            _("• 🗳 Votes: open votes for your home. Tap a vote, choose, then confirm."),
            _("• 📋 My ballots: your homes, your ballots and their receipt codes."),
            _("• You may change your vote until the deadline; the latest ballot counts."),
            _("• Keep your receipt code: anyone can find it in the published audit file."),
            _(
                "• 📝 Questionnaires & menu: answer questionnaires step by step (you can stop and come back), "
                "and tick the renovation items you want with your estimated share shown."
            ),
        ]
    else:
        lines.append(_("• Type the invite code from your slip (for example ABCD-EFGH) to link your home."))
    if worker:
        lines += [
            "",
            _("For community workers:"),
            _("• Send the owner roster as a CSV or XLSX file: a preview, then ✔ Import."),
            _("• /invites: the printable invite sheet (PDF with QR codes, and CSV); /reissue UNIT for one home."),
            _("• ➕ New vote (/newvote): the wizard; or send a vote TOML file."),
            _("• 🛠 Manage votes: turnout, extend, reminders, paper ballots, close, objections, export."),
            _("• /turnout, /objections, /export; /community to switch community; /group in the owners' group."),
            _(
                "• 📝 Surveys & projects (/projects): questionnaires (/newquestionnaire), the renovation menu "
                "(/catalogue, /newmenu) and renovation projects through their stages."
            ),
            _("• 👥 Bindings: accounts linked to homes in your community; unbind a lost phone."),
            _("• /cancel stops what you are doing; /whoami shows your Telegram id."),
        ]
    if auditor:
        lines += [
            "",
            _(
                "For auditors: /export sends the audit bundle of a closed vote. Check it on your own computer: "
                "renovote audit verify BUNDLE.zip --public-key KEY.pem"
            ),
        ]
    lines.append(_("• 🌐 Language: 简体中文 or English."))
    return "\n".join(lines)


def units_text(_: Translator, units: Sequence[tuple[str, int]]) -> str:
    labels = "、".join(unit for unit, _area in units[:6]) + ("…" if len(units) > 6 else "")
    area = format_area(sum(a for _u, a in units))
    return _.n(
        "{count} home ({labels}), {area} m² in all", "{count} homes ({labels}), {area} m² in all", len(units)
    ).format(count=len(units), labels=labels, area=area)


def bound_text(_: Translator, binding: Binding) -> str:
    return _("Linked to {community}. You now vote for: {units}.").format(
        units=units_text(_, binding.units or ((binding.unit_id, 0),)), community=binding.community_name
    )


def status_word(_: Translator, vote: Vote) -> str:
    return {
        VoteStatus.SCHEDULED: _("not open yet"),
        VoteStatus.OPEN: _("open"),
        VoteStatus.CLOSED: _("closed, result being checked"),
        VoteStatus.FINAL: _("final"),
    }[vote.status]


def vote_card(ctx: BotContext, _: Translator, seen: OwnerVote, turnout: TallyResult | None) -> str:
    vote = seen.vote
    lines = [f"🗳 {vote.title}", "", vote.text, ""]
    lines.append(_("Rule: {rule}").format(rule=describe_rule(_, vote.rule)))
    lines.append(_("Your vote counts for: {units}").format(units=units_text(_, seen.units)))
    lines.append(_("Deadline: {when} ({tz})").format(when=ctx.local(vote.closes_at), tz=_tz_name(_, ctx)))
    if turnout is not None:
        lines.append(
            _("Taking part so far: {owners} of {total_owners} owners, {area} of {total_area} m²").format(
                owners=turnout.participating.headcount,
                total_owners=turnout.total.headcount,
                area=format_area(turnout.participating.area),
                total_area=format_area(turnout.total.area),
            )
        )
    if seen.choice is not None:
        lines.append(
            _("Your current choice: {choice}. You may change it until the deadline.").format(
                choice=choice_label(_, seen.choice)
            )
        )
    else:
        lines.append(_("You have not voted yet."))
    return "\n".join(lines)


def _tz_name(_: Translator, ctx: BotContext) -> str:
    return _("Beijing time") if ctx.tz.key in ("Asia/Shanghai", "Asia/Chongqing", "PRC") else ctx.tz.key


def confirm_text(_: Translator, vote: Vote, choice: Choice, current: Choice | None) -> str:
    lines = [f"🗳 {vote.title}", "", _("You chose: {choice}").format(choice=choice_label(_, choice))]
    if current is not None:
        lines.append(_("This replaces your earlier ballot ({choice}).").format(choice=choice_label(_, current)))
    lines.append(_("Submit this ballot?"))
    return "\n".join(lines)


def receipt_text(ctx: BotContext, _: Translator, vote: Vote, receipt: BallotReceipt) -> str:
    choice = receipt.choice
    lines = [f"🗳 {vote.title}", ""]
    lines.append(_("Recorded: {choice}").format(choice=choice_label(_, choice) if choice else "—"))
    if receipt.replaced is not None:
        lines.append(
            _("Your earlier ballot ({choice}) is replaced; only this one counts.").format(
                choice=choice_label(_, receipt.replaced)
            )
        )
    lines.append(_("Receipt code: {receipt}").format(receipt=receipt.receipt))
    lines.append(_("Keep it: you can find it in the audit file published after the vote."))
    lines.append(_("You may change your vote until {when}.").format(when=ctx.local(vote.closes_at)))
    return "\n".join(lines)


_KIND_WORDS = {
    EntryKind.CAST: N_("in chat"),
    EntryKind.PAPER: N_("on paper"),
    EntryKind.DOOR_TO_DOOR: N_("door to door"),
    EntryKind.PROXY: N_("by proxy"),
    EntryKind.CORRECTION: N_("corrected"),
    EntryKind.WITHDRAW: N_("withdrawn"),
}


def entry_line(ctx: BotContext, _: Translator, entry: LedgerEntry, latest: bool) -> str:
    choice = choice_label(_, entry.choice) if entry.choice else "—"
    when = ctx.local(parse_utc(entry.at))
    kind = _(_KIND_WORDS.get(entry.kind, N_("in chat")))
    state = _("counts") if latest else _("replaced")
    return _("{when} · {choice} ({kind}, {state}) · receipt {receipt}").format(
        when=when, choice=choice, kind=kind, state=state, receipt=entry.receipt
    )


def my_text(ctx: BotContext, _: Translator, bindings: Sequence[Binding], votes: Sequence[OwnerVote]) -> str:
    lines = [_("Your homes:")]
    for binding in bindings:
        lines.append(f"• {binding.community_name}: {units_text(_, binding.units or ((binding.unit_id, 0),))}")
    lines.append("")
    if not votes:
        lines.append(_("No votes for your homes yet."))
    for seen in votes:
        lines.append(f"🗳 {seen.vote.title} ({status_word(_, seen.vote)})")
        if not seen.entries:
            lines.append("   " + _("not voted"))
        for i, entry in enumerate(seen.entries):
            lines.append("   " + entry_line(ctx, _, entry, i == len(seen.entries) - 1))
    return "\n".join(lines)


_INVITE_REASONS = {
    "unknown": N_(
        "The code {code} is not known. Check it against your slip (letters and digits; there is no O, I or 1) "
        "and type it again."
    ),
    "used": N_(
        "The code {code} has already been used. Each code works once. If a family member needs access, "
        "ask the community worker for a new code for your home."
    ),
    "revoked": N_(
        "The code {code} has been replaced by a newer one. Use the newest slip, or ask the community worker."
    ),
    "expired": N_("The code {code} has expired. Ask the community worker for a new one."),
}


_EXTENSION_REASONS = {
    "not_later": N_("The new deadline must be later than the current one. Write a later date and time."),
    "past": N_("The new deadline is in the past. Write a date and time in the future."),
    "state": N_("This vote has closed; its deadline can no longer be changed."),
}

_STATUS_WORDS = {
    "scheduled": N_("not open yet"),
    "open": N_("open"),
    "closed": N_("closed, in its objection period"),
    "final": N_("final"),
}

_OBJECTION_REASONS = {
    "not_closed": N_("Objections are taken after the vote closes, during its objection period."),
    "period_over": N_("The objection period of this vote is over."),
    "resolved": N_("This objection has already been answered."),
    "empty": N_("Please write what is wrong, in a few words."),
}


def describe_error(ctx: BotContext, _: Translator, error: VotingError) -> str:  # noqa: PLR0911 - one branch per error type, in the one place that maps them
    """The one place where core errors become chat texts."""
    if isinstance(error, BatchRefusedError):
        lines = [_("Nothing was recorded: these ballots were refused.")]
        lines += [
            _("Ballot {n} of the batch: {reason}").format(n=n, reason=describe_error(ctx, _, problem))
            for n, problem in error.problems[:20]
        ]
        if len(error.problems) > 20:
            lines.append(_("… and {n} more.").format(n=len(error.problems) - 20))
        return "\n".join(lines)
    if isinstance(error, (SurveyError, MenuError, AnswerError)):
        return _(error.template).format(**error.params)
    if isinstance(error, ProjectError):
        return _(error.template).format(**stage_params(_, error.params))
    if isinstance(error, AlreadyAnsweredError):
        return _(
            "You have already answered this anonymous questionnaire. Anonymous answers are not linked to "
            "you, so they cannot be changed."
        )
    if isinstance(error, QuestionnaireError):
        return describe_definition_problems(_, error)
    if isinstance(error, CatalogueError):
        return describe_catalogue_problems(_, error)
    if isinstance(error, ExtensionError):
        return _(_EXTENSION_REASONS.get(error.reason, _EXTENSION_REASONS["state"]))
    if isinstance(error, ObjectionError):
        return _(_OBJECTION_REASONS.get(error.reason, _OBJECTION_REASONS["not_closed"]))
    if isinstance(error, RuleError):
        return describe_rule_error(_, error)
    if isinstance(error, ScopeError):
        return _("No home of the roster is in this scope. Check the building and entrance against the roster.")
    if isinstance(error, InviteError):
        return _(_INVITE_REASONS.get(error.reason, _INVITE_REASONS["unknown"])).format(code=error.code)
    if isinstance(error, NotBoundError):
        return welcome_unbound(_)
    if isinstance(error, PermissionDeniedError):
        if error.role == "admin":
            return _("This is only for the administrators named in the bot's configuration.")
        return _("This is only for community workers of this community.")
    if isinstance(error, VoteClosedError):
        return _("This vote has closed. Ballots are no longer accepted.")
    if isinstance(error, VoteNotOpenError):
        return _("This vote has not opened yet.")
    if isinstance(error, VoteStateError):
        status = _(_STATUS_WORDS[error.status]) if error.status in _STATUS_WORDS else error.status
        return _("This vote cannot take that action now ({status}).").format(status=status)
    if isinstance(error, OutOfScopeError):
        return _("This vote is not for your home.")
    if isinstance(error, DuplicateSubmissionError):
        if error.receipt:
            return _("Already recorded. Receipt code: {receipt}").format(receipt=error.receipt)
        return _("Already recorded.")
    if isinstance(error, NotFoundError):
        return _("Not found. It may have been removed; open the menu again.")
    if isinstance(error, ConflictError):
        return _("Many people are voting right now. Please tap again.")
    return _("That did not work. Please try again, or ask the community worker.")


def stage_params(_: Translator, params: dict[str, object]) -> dict[str, object]:
    """A project refusal's params with stage names (StageKind values) as people say them."""
    from voting.project import STAGE_TITLES, StageKind

    out = dict(params)
    for key, value in params.items():
        if isinstance(value, str) and value in {str(k) for k in StageKind}:
            out[key] = _(STAGE_TITLES[StageKind(value)])
    return out


_FIELD_PATH = re.compile(r"questions\[(\d+)\]\.?")


def describe_definition_problems(
    _: Translator, error: QuestionnaireError, limit: int = 20, *, where: bool = True
) -> str:
    """Every problem of a questionnaire definition, where it is (a file's row, question and key; not in
    the chat wizard, whose questions have no ids a person wrote), what to fix."""
    lines = [
        _("The questionnaire cannot be used. Fix these and send it again:")
        if where
        else _("This question cannot be used yet:")
    ]
    for problem in error.problems[:limit]:
        places = []
        if where and problem.row is not None:
            places.append(_("row {row}").format(row=problem.row))
        if where and problem.question:
            places.append(_("question {id}").format(id=problem.question))
        if where and problem.field:
            places.append(_FIELD_PATH.sub(lambda m: _("question no. {n}").format(n=m[1]) + " ", problem.field).strip())
        text = _(problem.template).format(**problem.params)
        lines.append(f"• {', '.join(places)}: {text}" if places else f"• {text}")
    if len(error.problems) > limit:
        lines.append(_("… and {n} more.").format(n=len(error.problems) - limit))
    return "\n".join(lines)


def describe_catalogue_problems(_: Translator, error: CatalogueError, limit: int = 20) -> str:
    """Every problem of a catalogue file, where it is, what to fix."""
    lines = [_("The catalogue cannot be used. Fix these and send it again:")]
    lines += [f"• {line}" for line in error.lines(_)[:limit]]
    if len(error.problems) > limit:
        lines.append(_("… and {n} more.").format(n=len(error.problems) - limit))
    return "\n".join(lines)
