"""Questionnaires: needs surveys, willingness checks and acceptance satisfaction surveys (DOMAIN.md stages 1 and 5).

A worker defines a questionnaire (in TOML, in a spreadsheet, or in code); a resident answers it one
question at a time, can go back, leave and resume, reviews and submits, and may change the response
until the questionnaire closes. Results are counted like votes: by owner headcount and by exclusive
area at once, each owner once (the roster's owner keys), the latest response of an owner counting.

Everything here is pure. Progress is a plain JSON-able dict `{question id: answer}` the caller stores
where it likes; answers are `str` (a single choice, a number as exact decimal text, free text),
`int` (a rating 1-5), `bool` (yes/no), `list[str]` (multiple choice, in the options' order), or
`None` (an optional question the resident saw and skipped: it is then not asked again on resume).
No float anywhere: numbers are decimal text, means and medians are exact `Fraction`s.

Anonymous mode: the stored response carries the owner's weight (area, headcount 1) but not their
owner key; a separate "has answered" marker per owner (kept by storage) stops a second response.
See `submit` for the trade-off.
"""

from __future__ import annotations

import io
import re
import tomllib
import unicodedata
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction
from typing import Any, NamedTuple

from voting.errors import (
    N_,
    AlreadyAnsweredError,
    AnswerError,
    DefinitionProblem,
    InputFileError,
    QuestionnaireError,
)
from voting.files import _XLSX_MAGIC, _cell_text, _norm_header, read_sheet
from voting.model import Roster, Weight, format_area
from voting.rules import Base
from voting.tally import UnknownVoterError

__all__ = [
    "Answer",
    "Answers",
    "OptionCount",
    "Question",
    "QuestionKind",
    "QuestionResult",
    "Questionnaire",
    "QuestionnaireResult",
    "Response",
    "Satisfaction",
    "SatisfactionResult",
    "Share",
    "ShowIf",
    "Stats",
    "TextAnswer",
    "check_answer",
    "check_response",
    "missing_required",
    "next_question",
    "parse_questionnaire_toml",
    "position",
    "previous_question",
    "prune",
    "questionnaire_from_dict",
    "read_questionnaire_xlsx",
    "record_answer",
    "results_rows",
    "resume_at",
    "split_options",
    "submit",
    "tally_questionnaire",
    "visible_questions",
    "write_results_xlsx",
]

#: One stored answer (see the module docstring); `None` is "seen and skipped".
Answer = str | int | bool | list[str] | None
#: A resident's progress or response: question id -> answer. JSON-able as it is.
Answers = Mapping[str, Answer]

MAX_QUESTIONS = 100
MAX_OPTIONS = 20
# What a phone keyboard puts between options typed on one line: 、，, ; ； | ｜ (and line breaks).
OPTION_SEPARATORS = re.compile(r"[\n\r、，,;；|｜]+")
MAX_OPTION_LENGTH = 100
MAX_TEXT_LENGTH = 4000  # a Telegram message holds 4096 characters
DEFAULT_TEXT_LENGTH = 500
MAX_QUESTION_TEXT = 1000
MAX_DECIMALS = 4
RATING_LOW, RATING_HIGH = 1, 5
#: Ids travel in callback data (64 bytes with everything else): short and plain.
_ID = re.compile(r"[A-Za-z0-9_-]{1,16}")
#: What separates options (and condition values) written in one cell or string.
_OPTION_SEPARATORS = re.compile(r"\s*[|｜;；]\s*")
#: What separates several picks a resident types for a multiple-choice question.
_PICK_SEPARATORS = re.compile(r"[\s,，、;；|｜]+")
_NUMBER = re.compile(r"[+-]?\d+(?:\.\d+)?")
_THOUSANDS = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?")

YES, NO = "yes", "no"
#: Words a resident may type for yes/no (after NFKC and lower case), and a worker may write in conditions.
_YES_WORDS = frozenset({"yes", "y", "true", "是", "是的", "对", "有", "同意", "愿意", "满意"})
_NO_WORDS = frozenset({"no", "n", "false", "否", "不", "不是", "没有", "无", "不同意", "不愿意", "不满意"})
_STARS = frozenset("★⭐☆")


class QuestionKind(StrEnum):
    SINGLE = "single"
    MULTIPLE = "multiple"
    RATING = "rating"
    NUMBER = "number"
    TEXT = "text"
    YES_NO = "yes_no"


#: Type names a worker may write, English or Chinese (compared after NFKC, lower case, no spaces).
KIND_WORDS: Mapping[str, QuestionKind] = {
    "single": QuestionKind.SINGLE,
    "choice": QuestionKind.SINGLE,
    "单选": QuestionKind.SINGLE,
    "单选题": QuestionKind.SINGLE,
    "multiple": QuestionKind.MULTIPLE,
    "multi": QuestionKind.MULTIPLE,
    "多选": QuestionKind.MULTIPLE,
    "多选题": QuestionKind.MULTIPLE,
    "rating": QuestionKind.RATING,
    "评分": QuestionKind.RATING,
    "打分": QuestionKind.RATING,
    "number": QuestionKind.NUMBER,
    "数字": QuestionKind.NUMBER,
    "数值": QuestionKind.NUMBER,
    "text": QuestionKind.TEXT,
    "文字": QuestionKind.TEXT,
    "文本": QuestionKind.TEXT,
    "填空": QuestionKind.TEXT,
    "yes_no": QuestionKind.YES_NO,
    "yesno": QuestionKind.YES_NO,
    "yes/no": QuestionKind.YES_NO,
    "是否": QuestionKind.YES_NO,
}
_KIND_NAMES = "single/单选, multiple/多选, rating/评分, number/数字, text/文字, yes_no/是否"
#: Questions a condition (show_if) or the satisfaction measure may refer to: their answers are labels.
_LABELLED = (QuestionKind.SINGLE, QuestionKind.MULTIPLE, QuestionKind.RATING, QuestionKind.YES_NO)


def _norm(text: str) -> str:
    """Compare what people type: full-width forms folded (NFKC), case and surrounding space ignored."""
    return unicodedata.normalize("NFKC", text).strip().casefold()


def _problem(template: str, *, question: str = "", field: str = "", **params: Any) -> DefinitionProblem:
    return DefinitionProblem(template, params, question, field)


def _fail(template: str, *, question: str = "", field: str = "", **params: Any) -> QuestionnaireError:
    return QuestionnaireError([_problem(template, question=question, field=field, **params)])


# --------------------------------------------------------------------------------------------- model


@dataclass(frozen=True, slots=True)
class ShowIf:
    """Show a question only if an earlier question's answer is (or, for multiple choice, contains) one of `values`.

    Values are option texts; "1".."5" for a rating; "yes"/"no" for a yes/no question (是/否 are
    accepted and stored as yes/no). A question whose condition's question is hidden is hidden too.
    """

    question: str
    values: tuple[str, ...]

    def matches(self, answer: Answer) -> bool:
        if answer is None:
            return False
        return bool(set(_labels(answer)) & set(self.values))


def _labels(answer: Answer) -> list[str]:
    """The labels a stored answer counts under: option texts, "1".."5", "yes"/"no"."""
    if isinstance(answer, bool):
        return [YES if answer else NO]
    if isinstance(answer, list):
        return answer
    if answer is None:
        return []
    return [str(answer)]


@dataclass(frozen=True, slots=True)
class Question:
    """One question. Fields that do not apply to the kind must be left unset; construction says which.

    `min_picks`/`max_picks` (multiple choice) default to 1 and the number of options; `low`/`high`
    bound a number (inclusive, either may be open), `decimals` is how many decimal places a number may
    have (0: whole numbers); `max_length` limits free text (default 500 characters).
    """

    id: str
    kind: QuestionKind
    text: str
    options: tuple[str, ...] = ()
    required: bool = True
    min_picks: int | None = None
    max_picks: int | None = None
    low: Fraction | None = None
    high: Fraction | None = None
    decimals: int = 0
    max_length: int | None = None
    show_if: ShowIf | None = None

    def __post_init__(self) -> None:
        problems = list(self._problems())
        if problems:
            raise QuestionnaireError(problems)
        set_ = object.__setattr__
        set_(self, "text", self.text.strip())
        set_(self, "options", tuple(o.strip() for o in self.options))
        if self.kind is QuestionKind.MULTIPLE:
            set_(self, "min_picks", 1 if self.min_picks is None else self.min_picks)
            set_(self, "max_picks", len(self.options) if self.max_picks is None else self.max_picks)
        if self.kind is QuestionKind.TEXT and self.max_length is None:
            set_(self, "max_length", DEFAULT_TEXT_LENGTH)

    def _problems(self) -> Iterable[DefinitionProblem]:
        def problem(template: str, field: str, **params: Any) -> DefinitionProblem:
            return _problem(template, question=self.id, field=field, **params)

        if not isinstance(self.id, str) or not _ID.fullmatch(self.id):
            yield problem(
                N_("an id is 1 to 16 letters, digits, _ or -, such as q1 (it names the question in conditions)"), "id"
            )
        if not isinstance(self.kind, QuestionKind):
            yield problem(N_("unknown type; write one of {known}"), "type", known=_KIND_NAMES)
            return
        if not self.text.strip():
            yield problem(N_("the question needs its text"), "text")
        elif len(self.text.strip()) > MAX_QUESTION_TEXT:
            yield problem(N_("at most {limit} characters"), "text", limit=MAX_QUESTION_TEXT)
        choice = self.kind in (QuestionKind.SINGLE, QuestionKind.MULTIPLE)
        if choice:
            yield from self._option_problems(problem)
        elif self.options:
            yield problem(N_("only single and multiple choice questions have options"), "options")
        if self.kind is QuestionKind.MULTIPLE:
            count = len(self.options)
            low = 1 if self.min_picks is None else self.min_picks
            high = count if self.max_picks is None else self.max_picks
            if low < 1:
                yield problem(N_("at least 1 pick; make the question optional to allow no answer"), "min")
            if high > count:
                yield problem(N_("at most {count} picks: there are only {count} options"), "max", count=count)
            if low > high:
                yield problem(N_("min ({low}) is more than max ({high})"), "min", low=low, high=high)
        elif self.min_picks is not None or self.max_picks is not None:
            yield problem(N_("min/max picks apply to multiple choice questions only"), "min")
        if self.kind is QuestionKind.NUMBER:
            if self.low is not None and self.high is not None and self.low > self.high:
                yield problem(
                    N_("min ({low}) is more than max ({high})"),
                    "min",
                    low=_decimal_text(self.low),
                    high=_decimal_text(self.high),
                )
            if not 0 <= self.decimals <= MAX_DECIMALS:
                yield problem(N_("decimals: 0 to {limit}"), "decimals", limit=MAX_DECIMALS)
            for name, bound in (("min", self.low), ("max", self.high)):
                if bound is not None and not _fits_decimals(bound, self.decimals):
                    yield problem(
                        N_("{value} has more decimal places than decimals = {decimals} allows"),
                        name,
                        value=_decimal_text(bound),
                        decimals=self.decimals,
                    )
        elif self.low is not None or self.high is not None or self.decimals:
            yield problem(N_("min/max bounds and decimals apply to number questions only"), "min")
        if self.kind is QuestionKind.TEXT:
            if self.max_length is not None and not 1 <= self.max_length <= MAX_TEXT_LENGTH:
                yield problem(N_("a text answer's limit is 1 to {limit} characters"), "max", limit=MAX_TEXT_LENGTH)
        elif self.max_length is not None:
            yield problem(N_("a length limit applies to text questions only"), "max")
        if self.show_if is not None and self.show_if.question == self.id:
            yield problem(N_("a question cannot depend on its own answer"), "show_if")

    def _option_problems(self, problem: Callable[..., DefinitionProblem]) -> Iterable[DefinitionProblem]:
        options = [o.strip() for o in self.options]
        if not 2 <= len(options) <= MAX_OPTIONS:
            yield problem(N_("give 2 to {limit} options, separated by | or ；"), "options", limit=MAX_OPTIONS)
        seen: set[str] = set()
        for option in options:
            if not option:
                yield problem(N_("an option is empty"), "options")
            elif len(option) > MAX_OPTION_LENGTH:
                yield problem(
                    N_("option {option}: at most {limit} characters"),
                    "options",
                    option=option[:20],
                    limit=MAX_OPTION_LENGTH,
                )
            elif _OPTION_SEPARATORS.search(option):
                yield problem(N_("option {option}: | and ； separate options"), "options", option=option)
            elif _norm(option) in seen:
                yield problem(N_("option {option} is there twice"), "options", option=option)
            seen.add(_norm(option))

    def as_dict(self) -> dict[str, Any]:
        """This question in the definition file's keys (see Questionnaire.as_dict)."""
        out: dict[str, Any] = {"id": self.id, "type": str(self.kind), "text": self.text, "required": self.required}
        if self.options:
            out["options"] = list(self.options)
        low, high = (self.min_picks, self.max_picks) if self.kind is QuestionKind.MULTIPLE else (self.low, self.high)
        if self.kind is QuestionKind.TEXT:
            high = self.max_length
        for key, bound in (("min", low), ("max", high)):
            if bound is not None:
                out[key] = bound if isinstance(bound, int) else _decimal_text(bound)
        if self.decimals:
            out["decimals"] = self.decimals
        if self.show_if is not None:
            out["show_if"] = {"question": self.show_if.question, "any_of": list(self.show_if.values)}
        return out

    @property
    def labels(self) -> tuple[str, ...]:
        """What the answers of a labelled question count under, in order (see ShowIf)."""
        if self.kind in (QuestionKind.SINGLE, QuestionKind.MULTIPLE):
            return self.options
        if self.kind is QuestionKind.RATING:
            return tuple(str(n) for n in range(RATING_LOW, RATING_HIGH + 1))
        if self.kind is QuestionKind.YES_NO:
            return (YES, NO)
        return ()

    def label_of(self, written: str) -> str | None:
        """The label a worker means by `written` (an option text, a rating, yes/no/是/否), or None."""
        text = _norm(written)
        for label in self.labels:
            if _norm(label) == text:
                return label
        if self.kind is QuestionKind.YES_NO:
            return YES if text in _YES_WORDS else NO if text in _NO_WORDS else None
        return None


@dataclass(frozen=True, slots=True)
class Satisfaction:
    """How to read satisfaction off one question: the answers in `satisfied` count as satisfied.

    E.g. a rating with satisfied = ("4", "5"), or a single choice with ("满意", "比较满意"). The
    measure holds when the satisfied share reaches `threshold` (≥, 以上) in both area and headcount,
    of the whole roster (`base` total, the default: an owner who did not answer is not satisfied) or
    of the owners who answered the question (`base` participating).
    """

    question: str
    satisfied: tuple[str, ...]
    threshold: Fraction = Fraction(4, 5)  # Baoding: 80% satisfied at acceptance
    base: Base = Base.TOTAL


@dataclass(frozen=True, slots=True)
class Questionnaire:
    """A questionnaire: questions in the order asked, conditions only pointing back, ids unique.

    Construction checks everything and lists every problem (QuestionnaireError); condition values and
    satisfied answers are rewritten to their labels (是 -> yes, " 满意 " -> 满意).
    """

    title: str
    questions: tuple[Question, ...]
    intro: str = ""
    anonymous: bool = False
    satisfaction: Satisfaction | None = None
    _by_id: dict[str, Question] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        problems: list[DefinitionProblem] = []
        if not self.title.strip():
            problems.append(_problem(N_("the questionnaire needs a title"), field="title"))
        elif len(self.title.strip()) > 200:
            problems.append(_problem(N_("at most {limit} characters"), field="title", limit=200))
        if len(self.intro) > 3000:
            problems.append(_problem(N_("at most {limit} characters"), field="intro", limit=3000))
        if not 1 <= len(self.questions) <= MAX_QUESTIONS:
            problems.append(_problem(N_("give 1 to {limit} questions"), field="questions", limit=MAX_QUESTIONS))
        by_id: dict[str, Question] = {}
        questions: list[Question] = []
        for given in self.questions:
            question = given
            if question.id in by_id:
                problems.append(_problem(N_("the id is used twice"), question=question.id, field="id"))
                continue
            if question.show_if is not None:
                show_if, problem = _check_show_if(question, by_id)
                if problem is not None:
                    problems.append(problem)
                question = replace(question, show_if=show_if)
            by_id[question.id] = question
            questions.append(question)
        satisfaction = self.satisfaction
        if satisfaction is not None:
            satisfaction, problem = _check_satisfaction(satisfaction, by_id)
            if problem is not None:
                problems.append(problem)
        if problems:
            raise QuestionnaireError(problems)
        object.__setattr__(self, "title", self.title.strip())
        object.__setattr__(self, "intro", self.intro.strip())
        object.__setattr__(self, "questions", tuple(questions))
        object.__setattr__(self, "satisfaction", satisfaction)
        object.__setattr__(self, "_by_id", by_id)

    def question(self, question_id: str) -> Question:
        """The question with this id; KeyError if there is none (a stale button: the caller re-asks)."""
        return self._by_id[question_id]

    def as_dict(self) -> dict[str, Any]:
        """The definition as JSON-able data in the TOML file's own keys (no float): what storage keeps and
        hashes (canonical_json), read back with questionnaire_from_dict."""
        out: dict[str, Any] = {
            "title": self.title,
            "intro": self.intro,
            "anonymous": self.anonymous,
            "questions": [q.as_dict() for q in self.questions],
        }
        if self.satisfaction is not None:
            spec = self.satisfaction
            out["satisfaction"] = {
                "question": spec.question,
                "satisfied": list(spec.satisfied),
                "threshold": f"{spec.threshold.numerator}/{spec.threshold.denominator}",
                "base": str(spec.base),
            }
        return out

    def __contains__(self, question_id: object) -> bool:
        return question_id in self._by_id


def _check_show_if(question: Question, earlier: Mapping[str, Question]) -> tuple[ShowIf, DefinitionProblem | None]:
    """A condition may only look back, at a question whose answers are labels, for labels it has."""
    cond = question.show_if
    assert cond is not None

    def problem(template: str, **params: Any) -> tuple[ShowIf, DefinitionProblem]:
        return cond, _problem(template, question=question.id, field="show_if", **params)

    target = earlier.get(cond.question)
    if target is None:
        return problem(
            N_('show_if: {target} is not an earlier question; write the id of a question above, as "q2=否"'),
            target=cond.question,
        )
    if target.kind not in _LABELLED:
        return problem(
            N_("show_if: {target} is a {kind} question; conditions need a choice, rating or yes/no"),
            target=target.id,
            kind=str(target.kind),
        )
    if not cond.values:
        return problem(N_('show_if: which answers of {target}? write them as "{target}=A|B"'), target=target.id)
    values = []
    for written in cond.values:
        label = target.label_of(written)
        if label is None:
            return problem(
                N_("show_if: {target} has no answer {value}; its answers are {known}"),
                target=target.id,
                value=written,
                known=" | ".join(target.labels),
            )
        values.append(label)
    return ShowIf(target.id, tuple(dict.fromkeys(values))), None


def _check_satisfaction(
    spec: Satisfaction, questions: Mapping[str, Question]
) -> tuple[Satisfaction, DefinitionProblem | None]:
    def problem(template: str, **params: Any) -> tuple[Satisfaction, DefinitionProblem]:
        return spec, _problem(template, field="satisfaction", **params)

    target = questions.get(spec.question)
    kinds = (QuestionKind.SINGLE, QuestionKind.RATING, QuestionKind.YES_NO)
    if target is None:
        return problem(N_("satisfaction: there is no question {target}"), target=spec.question)
    if target.kind not in kinds:
        return problem(
            N_("satisfaction: {target} must be a single choice, rating or yes/no question"), target=target.id
        )
    if not 0 < spec.threshold <= 1:
        return problem(N_("satisfaction: the threshold must be more than 0 and at most 100%"))
    if not spec.satisfied:
        return problem(N_('satisfaction: which answers count as satisfied? e.g. satisfied = ["4", "5"]'))
    labels = []
    for written in spec.satisfied:
        label = target.label_of(written)
        if label is None:
            return problem(
                N_("satisfaction: {target} has no answer {value}; its answers are {known}"),
                target=target.id,
                value=written,
                known=" | ".join(target.labels),
            )
        labels.append(label)
    return replace(spec, satisfied=tuple(dict.fromkeys(labels))), None


# ------------------------------------------------------------------------------------------ numbers


def _fits_decimals(value: Fraction, decimals: int) -> bool:
    scale: int = 10**decimals
    return (value * scale).denominator == 1


def _decimal_text(value: Fraction) -> str:
    """Exact decimal text of a fraction with a finite decimal expansion: 12.50 -> '12.5', 3 -> '3'."""
    sign = "-" if value < 0 else ""
    value = abs(value)
    whole, rest = divmod(value.numerator, value.denominator)
    digits = ""
    while rest and len(digits) < 12:
        rest *= 10
        digit, rest = divmod(rest, value.denominator)
        digits += str(digit)
    return f"{sign}{whole}.{digits}" if digits else f"{sign}{whole}"


def _parse_number(text: str) -> Fraction | None:
    """A decimal such as 12, -3, 12.5, 1,200 or full-width １２; None if it is not one."""
    text = unicodedata.normalize("NFKC", text).strip().replace(" ", "")
    if _THOUSANDS.fullmatch(text):
        text = text.replace(",", "")
    if not _NUMBER.fullmatch(text):
        return None
    return Fraction(text)


def _rounded(value: Fraction, places: int) -> Decimal:
    """Round half up to `places` decimals, exactly (for display and export only)."""
    scaled = value * 10**places
    units = (scaled.numerator * 2 + scaled.denominator) // (scaled.denominator * 2)
    return Decimal(units).scaleb(-places)


# ------------------------------------------------------------------------------------------ answering


def check_answer(question: Question, raw: str | bool | Sequence[str] | None) -> Answer:
    """Turn what a resident typed or tapped into the answer to store, or raise AnswerError saying why not.

    `raw` is the text they typed, an option's text or its number ("2"), a list of picks (option texts
    or numbers) from toggle buttons, a bool from yes/no buttons, or None / "" to skip. Skipping an
    optional question returns None (stored: "seen and skipped"); a required one refuses.
    """
    if raw is None or (isinstance(raw, str) and not raw.strip()) or (isinstance(raw, list | tuple) and not raw):
        if question.required:
            raise AnswerError(N_("this question needs an answer"), question=question.id)
        return None
    if question.kind is QuestionKind.YES_NO:
        return _check_yes_no(question, raw)
    if isinstance(raw, bool):
        raise AnswerError(N_("please answer with one of the buttons"), question=question.id)
    if question.kind is QuestionKind.MULTIPLE:
        return _check_picks(question, raw)
    if not isinstance(raw, str):
        if len(raw) != 1:
            raise AnswerError(N_("please pick one answer"), question=question.id)
        raw = raw[0]
    return _SINGLE_VALUE_CHECKS[question.kind](question, raw)


def _check_yes_no(question: Question, raw: str | bool | Sequence[str]) -> bool:
    if isinstance(raw, bool):
        return raw
    label = question.label_of(raw) if isinstance(raw, str) else None
    if label is None:
        raise AnswerError(N_("please answer yes or no"), question=question.id)
    return label == YES


def _check_single(question: Question, raw: str) -> str:
    option = _option(question, raw)
    if option is None:
        raise AnswerError(
            N_("please pick one of the answers, or type its number (1 to {count})"),
            question=question.id,
            count=len(question.options),
        )
    return option


def _check_rating(question: Question, raw: str) -> int:
    """1 to 5 as digits (full-width too), "4分", "4星", or as stars ★★★★ / ⭐⭐⭐⭐."""
    text = unicodedata.normalize("NFKC", raw).replace("\ufe0f", "").strip()  # ⭐️ is ⭐ + a variation selector
    stars = len(text) if text and set(text) <= _STARS else None
    number = Fraction(stars) if stars is not None else _parse_number(text.rstrip("分星"))
    if number is None or number.denominator != 1 or not RATING_LOW <= number <= RATING_HIGH:
        raise AnswerError(N_("please give a whole number from 1 to 5"), question=question.id)
    return int(number)


def _check_text(question: Question, raw: str) -> str:
    text = raw.strip()
    limit = question.max_length or DEFAULT_TEXT_LENGTH
    if len(text) > limit:
        raise AnswerError(
            N_("at most {limit} characters, please (this is {length})"),
            question=question.id,
            limit=limit,
            length=len(text),
        )
    return text


def _option(question: Question, raw: str) -> str | None:
    """An option by its text (first, so an option named "2" wins) or by its 1-based number."""
    text = _norm(raw)
    for option in question.options:
        if _norm(option) == text:
            return option
    number = _parse_number(text)
    if number is not None and number.denominator == 1 and 1 <= number <= len(question.options):
        return question.options[int(number) - 1]
    return None


def _check_picks(question: Question, raw: str | Sequence[str]) -> list[str]:
    if isinstance(raw, str):
        whole = _option(question, raw)  # an option whose text holds a comma or a space
        items = [raw] if whole is not None else [p for p in _PICK_SEPARATORS.split(raw) if p]
    else:
        items = list(raw)
    picked: set[str] = set()
    for item in items:
        option = _option(question, item)
        if option is None:
            raise AnswerError(
                N_("{value} is not one of the answers; pick from the list or type their numbers, such as 1,3"),
                question=question.id,
                value=item,
            )
        picked.add(option)
    low, high = question.min_picks or 1, question.max_picks or len(question.options)
    if not low <= len(picked) <= high:
        template = (
            N_("please pick exactly {low}")
            if low == high
            else N_("please pick at least {low}")
            if len(picked) < low
            else N_("please pick at most {high}")
        )
        raise AnswerError(template, question=question.id, low=low, high=high)
    return [o for o in question.options if o in picked]


def _check_number(question: Question, raw: str) -> str:
    value = _parse_number(raw)
    if value is None:
        raise AnswerError(N_("please type a number, such as 12 or 12.5"), question=question.id)
    if not _fits_decimals(value, question.decimals):
        if question.decimals == 0:
            raise AnswerError(N_("please type a whole number"), question=question.id)
        raise AnswerError(
            N_("at most {decimals} decimal places, please"), question=question.id, decimals=question.decimals
        )
    low, high = question.low, question.high
    if (low is not None and value < low) or (high is not None and value > high):
        if low is not None and high is not None:
            template = N_("please give a number from {low} to {high}")
        elif low is not None:
            template = N_("please give a number of at least {low}")
        else:
            template = N_("please give a number of at most {high}")
        raise AnswerError(
            template,
            question=question.id,
            low=_decimal_text(low) if low is not None else "",
            high=_decimal_text(high) if high is not None else "",
        )
    return _decimal_text(value)


_SINGLE_VALUE_CHECKS: Mapping[QuestionKind, Callable[[Question, str], Answer]] = {
    QuestionKind.SINGLE: _check_single,
    QuestionKind.RATING: _check_rating,
    QuestionKind.NUMBER: _check_number,
    QuestionKind.TEXT: _check_text,
}


def _stored(question: Question, value: Answer) -> Answer:
    """Re-check an answer read back from storage (or from a response): the same rules, stored shapes only.

    What check_answer would turn it into must be itself: a picks list out of the options' order, a
    number not in canonical form or a rating as text was not stored by this module.
    """
    if value is None:
        return check_answer(question, None)
    if question.kind is QuestionKind.RATING:
        fits = isinstance(value, int) and not isinstance(value, bool) and RATING_LOW <= value <= RATING_HIGH
    elif question.kind is QuestionKind.YES_NO:
        fits = isinstance(value, bool)
    elif question.kind is QuestionKind.MULTIPLE:
        fits = isinstance(value, list) and all(isinstance(v, str) for v in value)
    else:
        fits = isinstance(value, str)
    if fits and isinstance(value, str | list):
        try:
            fits = check_answer(question, value) == value
        except AnswerError:
            fits = False
    if not fits:
        raise AnswerError(N_("this answer no longer fits the question; please answer again"), question=question.id)
    return value


def visible_questions(questionnaire: Questionnaire, answers: Answers) -> tuple[Question, ...]:
    """The questions asked given these answers, in order.

    A question with a condition is shown when its condition's question is shown and answered with one
    of the condition's values. Conditions look only backwards, so one pass decides.
    """
    shown: set[str] = set()
    result = []
    for question in questionnaire.questions:
        cond = question.show_if
        if cond is None or (cond.question in shown and cond.matches(answers.get(cond.question))):
            shown.add(question.id)
            result.append(question)
    return tuple(result)


def _visible_ids(questionnaire: Questionnaire, answers: Answers) -> list[str]:
    return [q.id for q in visible_questions(questionnaire, answers)]


def _place(questionnaire: Questionnaire, question_id: str) -> int:
    """Where a question stands in the questionnaire; KeyError for an id it does not have."""
    return questionnaire.questions.index(questionnaire.question(question_id))


def next_question(questionnaire: Questionnaire, answers: Answers, current_id: str | None) -> Question | None:
    """The first question shown after `current_id` (the first of all with None); None: the review comes next.

    Measured from the current question's place, so this holds too when a changed answer hid it.
    """
    place = -1 if current_id is None else _place(questionnaire, current_id)
    return next((q for q in visible_questions(questionnaire, answers) if _place(questionnaire, q.id) > place), None)


def previous_question(questionnaire: Questionnaire, answers: Answers, current_id: str | None) -> Question | None:
    """The last question shown before `current_id` (from the review, None: the last of all); None before the first."""
    place = len(questionnaire.questions) if current_id is None else _place(questionnaire, current_id)
    earlier = [q for q in visible_questions(questionnaire, answers) if _place(questionnaire, q.id) < place]
    return earlier[-1] if earlier else None


def position(questionnaire: Questionnaire, answers: Answers, question_id: str) -> tuple[int, int]:
    """(n, total) for "3 / 8": among the questions shown with the answers so far.

    The total grows or shrinks when an answer opens or closes a conditional question; that is the
    honest count of what is left. AnswerError if the question is not shown (a stale button).
    """
    ids = _visible_ids(questionnaire, answers)
    if question_id not in ids:
        raise AnswerError(N_("this question is not asked with your current answers"), question=question_id)
    return ids.index(question_id) + 1, len(ids)


def resume_at(questionnaire: Questionnaire, answers: Answers) -> Question | None:
    """Where a resident who left comes back: the first shown question not yet seen, or None for the review."""
    return next((q for q in visible_questions(questionnaire, answers) if q.id not in answers), None)


def prune(questionnaire: Questionnaire, answers: Answers) -> dict[str, Answer]:
    """Only the answers of questions shown now: going back and changing Q2 drops the "why not?" of Q3.

    Unknown ids (from an older draft) go too. Idempotent, and never changes what is shown.
    """
    shown = set(_visible_ids(questionnaire, answers))
    return {qid: value for qid, value in answers.items() if qid in shown}


def record_answer(
    questionnaire: Questionnaire, answers: Answers, question_id: str, raw: str | bool | Sequence[str] | None
) -> dict[str, Answer]:
    """Check `raw` for a question, store it, prune what it hid: the new progress (the old one is untouched).

    The one call a chat handler needs per answer; AnswerError leaves the progress as it was.
    """
    if question_id not in _visible_ids(questionnaire, answers):
        raise AnswerError(N_("this question is not asked with your current answers"), question=question_id)
    value = check_answer(questionnaire.question(question_id), raw)
    return prune(questionnaire, {**answers, question_id: value})


def missing_required(questionnaire: Questionnaire, answers: Answers) -> tuple[Question, ...]:
    """Shown, required questions without an answer: what the review asks for before submitting."""
    return tuple(q for q in visible_questions(questionnaire, answers) if q.required and answers.get(q.id) is None)


def check_response(questionnaire: Questionnaire, answers: Answers) -> dict[str, Answer]:
    """The response to submit: pruned, every answer re-checked, nothing required missing; else AnswerError.

    Shown optional questions never reached are recorded as skipped (None), so a response always says
    what each resident saw.
    """
    pruned = prune(questionnaire, answers)
    missing = missing_required(questionnaire, pruned)
    if missing:
        n, total = position(questionnaire, pruned, missing[0].id)
        raise AnswerError(N_("question {n} of {total} needs an answer"), question=missing[0].id, n=n, total=total)
    return {q.id: _stored(q, pruned.get(q.id)) for q in visible_questions(questionnaire, pruned)}


# ------------------------------------------------------------------------------------------ responses


@dataclass(frozen=True, slots=True)
class Response:
    """A submitted response. `seq` orders an owner's responses: the highest counts (latest wins).

    Named mode: `respondent` is the owner key and `weight` is None (the roster gives it).
    Anonymous mode: `respondent` is an opaque id with no link to the owner, and `weight` is the
    owner's weight taken from the roster at submission (area, headcount 1).
    """

    respondent: str
    answers: Mapping[str, Answer]
    seq: int
    weight: Weight | None = None


def submit(
    questionnaire: Questionnaire,
    answers: Answers,
    owner_key: str,
    roster: Roster,
    *,
    seq: int,
    already_answered: bool = False,
    anonymous_id: str = "",
) -> Response:
    """Check a resident's answers and build the response to store (AnswerError if incomplete).

    Named questionnaires: the response is the owner's; submitting again replaces it (latest wins), so
    a resident can change their answers until the questionnaire closes.

    Anonymous questionnaires: the response carries no owner key, only the owner's weight, and a
    random `anonymous_id` the caller draws (the core has no randomness). Storage keeps, apart from
    it, a "has answered" marker per owner; pass it as `already_answered`: a second response is refused
    (AlreadyAnsweredError), since nothing links the first one to the owner to replace it. The
    trade-off: (1) an anonymous response cannot be changed after submitting — the review before
    submitting is the last chance; (2) a weight is a quasi-identifier: an unusual area (87.23 m²) can
    point at one home, so storage must not keep the marker and the response in a way that pairs them
    (same transaction timestamp, adjacent ids), and small results should be shown with care; (3) the
    tally cannot re-check one-owner-one-response, only that the responses' weights do not exceed the
    roster's totals. Deriving the id from a keyed hash of the owner would allow changes, but then the
    operator holding the key can link responses to owners: pseudonymous, not anonymous.
    """
    if owner_key not in roster.owner_area:
        raise UnknownVoterError(owner_key)
    checked = check_response(questionnaire, answers)
    if not questionnaire.anonymous:
        return Response(owner_key, checked, seq)
    if already_answered:
        raise AlreadyAnsweredError(owner_key)
    if not anonymous_id or anonymous_id in roster.owner_area:
        raise ValueError("an anonymous response needs a random id that is not an owner key")
    return Response(anonymous_id, checked, seq, roster.weight_of(owner_key))


def _latest(responses: Iterable[Response]) -> dict[str, Response]:
    latest: dict[str, Response] = {}
    for response in responses:
        current = latest.get(response.respondent)
        if current is None or response.seq >= current.seq:
            latest[response.respondent] = response
    return latest


# ------------------------------------------------------------------------------------------ results


@dataclass(frozen=True, slots=True)
class Share:
    """A share in both dimensions, exact; 0 when the base is empty."""

    area: Fraction
    headcount: Fraction

    @classmethod
    def of(cls, part: Weight, base: Weight) -> Share:
        return cls(
            Fraction(part.area, base.area) if base.area else Fraction(0),
            Fraction(part.headcount, base.headcount) if base.headcount else Fraction(0),
        )

    def reaches(self, threshold: Fraction) -> bool:
        """Both dimensions at least `threshold` (以上: the threshold itself holds)."""
        return self.area >= threshold and self.headcount >= threshold


@dataclass(frozen=True, slots=True)
class OptionCount:
    """The owners (and their area) whose answer is or contains `label`."""

    label: str
    weight: Weight


@dataclass(frozen=True, slots=True)
class Stats:
    """Mean and median of a rating or number question, per owner (headcount) and weighted by area.

    The area median is the value at which half the answering area is reached (the mean of the two
    values around an exact half), so with equal areas it is the ordinary median.
    """

    mean_headcount: Fraction
    mean_area: Fraction
    median_headcount: Fraction
    median_area: Fraction


@dataclass(frozen=True, slots=True)
class TextAnswer:
    """A free-text answer; `respondent` is the owner key, or None in an anonymous questionnaire."""

    text: str
    respondent: str | None
    weight: Weight


@dataclass(frozen=True, slots=True)
class QuestionResult:
    question: Question
    #: The owners who answered it (skips and hidden not counted).
    answered: Weight
    #: One count per label, in the question's order (empty for numbers and text).
    options: tuple[OptionCount, ...] = ()
    stats: Stats | None = None
    texts: tuple[TextAnswer, ...] = ()


@dataclass(frozen=True, slots=True)
class SatisfactionResult:
    spec: Satisfaction
    satisfied: Weight
    answered: Weight
    total: Weight

    @property
    def of_total(self) -> Share:
        return Share.of(self.satisfied, self.total)

    @property
    def of_answered(self) -> Share:
        return Share.of(self.satisfied, self.answered)

    def holds(self, threshold: Fraction | None = None, base: Base | None = None) -> bool:
        """Whether the satisfied share reaches the threshold (the spec's unless given) in both dimensions."""
        share = self.of_total if (base or self.spec.base) is Base.TOTAL else self.of_answered
        return share.reaches(self.spec.threshold if threshold is None else threshold)


@dataclass(frozen=True, slots=True)
class QuestionnaireResult:
    questionnaire: Questionnaire
    #: The whole roster: every owner once, area summed.
    total: Weight
    #: Owners with a counted response.
    respondents: Weight
    questions: tuple[QuestionResult, ...]
    satisfaction: SatisfactionResult | None


def tally_questionnaire(
    questionnaire: Questionnaire, responses: Iterable[Response], roster: Roster
) -> QuestionnaireResult:
    """Count responses like a vote: each owner once (latest `seq` wins), by headcount and by area.

    Each response is pruned to the questions it shows and re-checked (AnswerError names a bad one);
    a named response whose owner is not in the roster raises UnknownVoterError.
    """
    anonymous = questionnaire.anonymous
    counted: list[tuple[Response, Weight, dict[str, Answer]]] = []
    respondents = Weight()
    for response in sorted(_latest(responses).values(), key=lambda r: r.seq):
        if anonymous:
            if response.weight is None or response.weight.headcount != 1 or response.weight.area <= 0:
                raise ValueError(f"anonymous response {response.respondent!r} needs a weight of one owner")
            weight = response.weight
        else:
            if response.respondent not in roster.owner_area:
                raise UnknownVoterError(response.respondent)
            weight = roster.weight_of(response.respondent)
        answers = prune(questionnaire, response.answers)
        checked = {q.id: _stored(q, answers[q.id]) for q in questionnaire.questions if q.id in answers}
        counted.append((response, weight, checked))
        respondents += weight
    total = roster.total
    if respondents.headcount > total.headcount or respondents.area > total.area:
        raise ValueError("more responses than owners in the roster: an owner was counted twice")
    results = tuple(_question_result(q, counted, anonymous) for q in questionnaire.questions)
    satisfaction = None
    spec = questionnaire.satisfaction
    if spec is not None:
        satisfied, answered = Weight(), Weight()
        for _, weight, answers in counted:
            value = answers.get(spec.question)
            if value is None:
                continue
            answered += weight
            if set(_labels(value)) & set(spec.satisfied):
                satisfied += weight
        satisfaction = SatisfactionResult(spec, satisfied, answered, total)
    return QuestionnaireResult(questionnaire, total, respondents, results, satisfaction)


def _question_result(
    question: Question, counted: Sequence[tuple[Response, Weight, dict[str, Answer]]], anonymous: bool
) -> QuestionResult:
    answered = Weight()
    by_label = dict.fromkeys(question.labels, Weight())
    values: list[tuple[Fraction, Weight]] = []
    texts = []
    for response, weight, answers in counted:
        value = answers.get(question.id)
        if value is None:
            continue
        answered += weight
        if question.kind in _LABELLED:
            for label in _labels(value):
                by_label[label] += weight
        if question.kind in (QuestionKind.RATING, QuestionKind.NUMBER):
            values.append((Fraction(str(value)), weight))
        elif question.kind is QuestionKind.TEXT and isinstance(value, str) and value:
            texts.append(TextAnswer(value, None if anonymous else response.respondent, weight))
    options = tuple(OptionCount(label, w) for label, w in by_label.items())
    stats = None
    if values:
        stats = Stats(
            mean_headcount=sum((v for v, _ in values), Fraction(0)) / len(values),
            mean_area=sum((v * w.area for v, w in values), Fraction(0)) / answered.area,
            median_headcount=_weighted_median([(v, 1) for v, _ in values]),
            median_area=_weighted_median([(v, w.area) for v, w in values]),
        )
    return QuestionResult(question, answered, options, stats, tuple(texts))


def _weighted_median(values: Sequence[tuple[Fraction, int]]) -> Fraction:
    """The value where the cumulative weight first passes half; at exactly half, the mean with the next value."""
    ordered = sorted(values)
    whole = sum(w for _, w in ordered)
    running = 0
    for index, (value, w) in enumerate(ordered):
        running += w
        if 2 * running == whole and index + 1 < len(ordered):
            return (value + ordered[index + 1][0]) / 2
        if 2 * running >= whole:
            return value
    raise ValueError("no values")


# ------------------------------------------------------------------------------------------ export


class _Area(NamedTuple):
    dm2: int


class _Pct(NamedTuple):
    value: Fraction


class _Num(NamedTuple):
    value: Fraction


_Cell = str | int | _Area | _Pct | _Num
_YES_NO_LABELS = {YES: N_("Yes"), NO: N_("No")}

#: Column headings of the results table (English msgids; the bot passes its gettext).
RESULT_COLUMNS = (
    N_("Question"),
    N_("Text"),
    N_("Answer"),
    N_("Owners"),
    N_("Share of owners"),
    N_("Area (m²)"),
    N_("Share of area"),
)


def _result_table(result: QuestionnaireResult, gettext: Callable[[str], str]) -> list[list[_Cell]]:
    """The one table behind both exports, so the CSV and the workbook never disagree.

    Shares of an option are of the owners (area) who answered that question; the answered row's
    shares are of all owners in the roster; statistics rows give the value in each dimension.
    """
    _ = gettext
    total = result.total
    rows: list[list[_Cell]] = [
        [result.questionnaire.title],
        [_("Owners in the roster"), "", "", total.headcount, "", _Area(total.area), ""],
        _weighted_row("", "", _("Responses"), result.respondents, total),
        [_(c) for c in RESULT_COLUMNS],
    ]
    for qr in result.questions:
        q = qr.question
        rows.append(_weighted_row(q.id, q.text, _("Answered"), qr.answered, total))
        for option in qr.options:
            label = _(_YES_NO_LABELS[option.label]) if q.kind is QuestionKind.YES_NO else option.label
            rows.append(_weighted_row(q.id, "", label, option.weight, qr.answered))
        if qr.stats is not None:
            s = qr.stats
            rows.append([q.id, "", _("Mean"), _Num(s.mean_headcount), "", _Num(s.mean_area), ""])
            rows.append([q.id, "", _("Median"), _Num(s.median_headcount), "", _Num(s.median_area), ""])
        rows.extend([q.id, "", t.text, t.weight.headcount, "", _Area(t.weight.area), ""] for t in qr.texts)
    sat = result.satisfaction
    if sat is not None:
        sid = sat.spec.question
        rows.append(_weighted_row(sid, _("Satisfaction"), _("Satisfied, of all owners"), sat.satisfied, total))
        rows.append(
            _weighted_row(sid, _("Satisfaction"), _("Satisfied, of owners answering"), sat.satisfied, sat.answered)
        )
        threshold = _Pct(sat.spec.threshold)
        rows.append([sid, _("Satisfaction"), _("Threshold"), "", threshold, "", threshold])
        verdict = _("Threshold reached") if sat.holds() else _("Threshold not reached")
        rows.append([sid, _("Satisfaction"), verdict])
    return rows


def _weighted_row(qid: str, text: str, label: str, part: Weight, base: Weight) -> list[_Cell]:
    share = Share.of(part, base)
    return [qid, text, label, part.headcount, _Pct(share.headcount), _Area(part.area), _Pct(share.area)]


def _as_text(cell: _Cell) -> str:
    if isinstance(cell, _Area):
        return format_area(cell.dm2)
    if isinstance(cell, _Pct):
        return f"{_rounded(cell.value * 100, 2)}%"
    if isinstance(cell, _Num):
        return str(_rounded(cell.value, 2))
    return str(cell)


def results_rows(result: QuestionnaireResult, gettext: Callable[[str], str] = str) -> list[list[str]]:
    """The results as rows of text for a CSV (areas with two decimals, shares as percentages).

    Headings and fixed labels are English msgids passed through `gettext`; question and option texts
    are the worker's own and are not translated.
    """
    return [[_as_text(cell) for cell in row] for row in _result_table(result, gettext)]


def write_results_xlsx(result: QuestionnaireResult, gettext: Callable[[str], str] = str) -> bytes:
    """The same table as `results_rows` on one sheet, numbers as numbers (areas in m², shares as %).

    One summary sheet rather than one per question: it is what is printed and posted (公示), a worker
    can filter it by question, and it matches the CSV row for row.
    """
    import openpyxl
    from openpyxl.styles import Alignment, Font

    book = openpyxl.Workbook()
    sheet = book.active
    title = re.sub(r"[\[\]:*?/\\]", "", gettext("Results"))[:31] or "Results"
    sheet.title = title
    for row in _result_table(result, gettext):
        values: list[Any] = []
        for cell in row:
            if isinstance(cell, _Area):
                values.append(Decimal(format_area(cell.dm2)))
            elif isinstance(cell, _Pct):
                values.append(_rounded(cell.value, 6))
            elif isinstance(cell, _Num):
                values.append(_rounded(cell.value, 4))
            else:
                values.append(cell)
        sheet.append(values)
        written = sheet[sheet.max_row]
        for target, cell in zip(written, row, strict=False):
            if isinstance(cell, _Area):
                target.number_format = "0.00"
            elif isinstance(cell, _Pct):
                target.number_format = "0.00%"
            elif isinstance(cell, _Num):
                target.number_format = "0.00"
    sheet["A1"].font = Font(bold=True, size=14)
    for cell in sheet[4]:
        cell.font = Font(bold=True)
    for letter, width in zip("ABCDEFG", (10, 40, 40, 10, 14, 14, 14), strict=True):
        sheet.column_dimensions[letter].width = width
    for column in ("B", "C"):
        for cell in sheet[column]:
            cell.alignment = Alignment(wrap_text=True, vertical="top")
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


# ------------------------------------------------------------------------------------------ definitions


_TOML_KEYS = {"title", "intro", "anonymous", "satisfaction", "questions"}
_QUESTION_KEYS = {"id", "type", "text", "options", "required", "min", "max", "decimals", "show_if"}
_SATISFACTION_KEYS = {"question", "satisfied", "threshold", "base"}


def _kind(written: str) -> QuestionKind | None:
    return KIND_WORDS.get(_norm(written).replace(" ", ""))


def _split_options(text: str) -> tuple[str, ...]:
    return tuple(o for o in _OPTION_SEPARATORS.split(text.strip()) if o)


def _parse_show_if(text: str) -> ShowIf | None:
    """ "q2=否" or "q2=否|不确定" (full-width ＝ too); None if there is no '='."""
    target, eq, values = unicodedata.normalize("NFKC", text).partition("=")
    if not eq:
        return None
    return ShowIf(target.strip(), _split_options(values))


def _fraction(value: Any) -> Fraction | None:
    """An exact number from a definition: 3, "2.5", "80%", "4/5"; never a float (None then)."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        return None
    text = str(value).strip()
    try:
        if text.endswith("%"):
            number = _parse_number(text[:-1])
            return None if number is None else number / 100
        if "/" in text:
            return Fraction(text)
    except (ValueError, ZeroDivisionError):
        return None
    return _parse_number(text)


def _build_question(fields: Mapping[str, Any], *, position: int) -> Question:
    """A question from the definition's keys, with every problem of its fields listed."""
    qid = str(fields.get("id", "")).strip()
    problems: list[DefinitionProblem] = []

    def problem(template: str, where: str, **params: Any) -> None:
        problems.append(_problem(template, question=qid or f"#{position}", field=where, **params))

    kind = _kind(str(fields.get("type", "")))
    if kind is None:
        problem(
            N_("unknown type {value}; write one of {known}"), "type", value=fields.get("type", ""), known=_KIND_NAMES
        )
        raise QuestionnaireError(problems)
    options_raw = fields.get("options", ())
    if isinstance(options_raw, str):
        options = _split_options(options_raw)
    elif isinstance(options_raw, list | tuple) and all(isinstance(o, str) for o in options_raw):
        options = tuple(options_raw)
    else:
        problem(N_('options: a list such as ["是", "否"], or one text separated by | or ；'), "options")
        options = ()
    required = _flag(fields.get("required", True))
    if required is None:
        problem(N_("required: yes or no (是/否, true/false)"), "required")
    bounds: dict[str, Any] = {}
    for key in ("min", "max"):
        raw = fields.get(key)
        if raw is None or raw == "":
            continue
        number = _fraction(raw)
        if number is None:
            problem(N_('{key}: a number such as 3 or "2.5"'), key, key=key)
        elif kind is QuestionKind.TEXT and key == "min":
            problem(N_("a text question takes only max, its length limit"), key)
        elif kind in (QuestionKind.MULTIPLE, QuestionKind.TEXT) and number.denominator != 1:
            problem(N_("{key}: a whole number"), key, key=key)
        else:
            bounds[key] = number
    decimals_raw = fields.get("decimals", 0)
    decimals = _fraction(decimals_raw if decimals_raw != "" else 0)
    if decimals is None or decimals.denominator != 1:
        problem(N_("decimals: a whole number such as 0 or 2"), "decimals")
        decimals = Fraction(0)
    show_if: ShowIf | None = None
    raw_show = fields.get("show_if")
    if isinstance(raw_show, str) and raw_show.strip():
        show_if = _parse_show_if(raw_show)
        if show_if is None:
            problem(N_('show_if: write the earlier question and its answers, as "q2=否" or "q2=否|不确定"'), "show_if")
    elif isinstance(raw_show, dict) and isinstance(raw_show.get("question"), str):
        values = raw_show.get("any_of", [])
        show_if = ShowIf(
            raw_show["question"].strip(), tuple(str(v) for v in values) if isinstance(values, list) else ()
        )
    elif raw_show not in (None, ""):
        problem(N_('show_if: write the earlier question and its answers, as "q2=否" or "q2=否|不确定"'), "show_if")
    text = fields.get("text", "")
    if not isinstance(text, str):
        problem(N_("the question needs its text"), "text")
        text = ""
    if problems:
        raise QuestionnaireError(problems)
    low, high = bounds.get("min"), bounds.get("max")
    picks = kind is QuestionKind.MULTIPLE
    return Question(
        id=qid,
        kind=kind,
        text=text,
        options=options,
        required=bool(required),
        min_picks=int(low) if picks and low is not None else None,
        max_picks=int(high) if picks and high is not None else None,
        low=low if not picks and kind is not QuestionKind.TEXT else None,
        high=high if not picks and kind is not QuestionKind.TEXT else None,
        decimals=int(decimals),
        max_length=int(high) if kind is QuestionKind.TEXT and high is not None else None,
        show_if=show_if,
    )


def _flag(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if value is None or (isinstance(value, str) and not value.strip()):
        return True
    text = _norm(str(value))
    if text in _YES_WORDS or text in {"1", "必答", "必填", "required"}:
        return True
    if text in _NO_WORDS or text in {"0", "选答", "选填", "optional"}:
        return False
    return None


def _satisfaction(raw: Any) -> Satisfaction:
    """The [satisfaction] table: question, satisfied (list or "4|5"), threshold ("80%"), base."""
    if not isinstance(raw, dict):
        raise _fail(
            N_('satisfaction: a table such as {{ question = "q9", satisfied = ["4", "5"] }}'), field="satisfaction"
        )
    unknown = set(raw) - _SATISFACTION_KEYS
    if unknown:
        raise _fail(
            N_("satisfaction: unknown key(s) {keys}; known keys: {known}"),
            field="satisfaction",
            keys=", ".join(sorted(unknown)),
            known=", ".join(sorted(_SATISFACTION_KEYS)),
        )
    satisfied = raw.get("satisfied", [])
    if isinstance(satisfied, str):
        satisfied = list(_split_options(satisfied))
    if not isinstance(satisfied, list):
        satisfied = []
    threshold = _fraction(raw.get("threshold", "80%"))
    if threshold is None:
        raise _fail(N_('satisfaction: write the threshold as "80%" or "4/5"'), field="satisfaction")
    base_text = str(raw.get("base", "total"))
    if base_text not in {str(b) for b in Base}:
        raise _fail(N_('satisfaction: base is "total" or "participating"'), field="satisfaction")
    return Satisfaction(
        str(raw.get("question", "")).strip(), tuple(str(s) for s in satisfied), threshold, Base(base_text)
    )


def parse_questionnaire_toml(data: bytes) -> Questionnaire:
    """Read a questionnaire from TOML. Problems name the key, as questions[3].options, and what to write.

    title = "竣工满意度调查"
    intro = "请在 12 月 2 日前填写"
    anonymous = false
    satisfaction = { question = "q1", satisfied = ["4", "5"], threshold = "80%" }

    [[questions]]
    id = "q1"
    type = "评分"            # single/单选, multiple/多选, rating/评分, number/数字, text/文字, yes_no/是否
    text = "您对改造工程总体是否满意？"

    [[questions]]
    id = "q2"
    type = "文字"
    text = "哪里不满意？"
    required = false
    max = 300               # text: length limit; multiple: most picks; number: upper bound
    show_if = "q1=1|2|3"    # or { question = "q1", any_of = ["1", "2", "3"] }
    """
    try:
        doc = tomllib.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise _fail(N_("the file is not UTF-8 text")) from None
    except tomllib.TOMLDecodeError as exc:
        raise _fail(N_("not valid TOML: {error}"), error=str(exc)) from None
    return questionnaire_from_dict(doc)


def questionnaire_from_dict(doc: Mapping[str, Any]) -> Questionnaire:
    """A questionnaire from a TOML document's table, or from `Questionnaire.as_dict()` read back from storage."""
    unknown = set(doc) - _TOML_KEYS
    if unknown:
        raise _fail(
            N_("unknown key(s) {keys}; known keys: {known}"),
            keys=", ".join(sorted(unknown)),
            known=", ".join(sorted(_TOML_KEYS)),
        )
    raw_questions = doc.get("questions")
    if not isinstance(raw_questions, list) or not raw_questions:
        raise _fail(N_("no questions: add a [[questions]] table for each question"), field="questions")
    problems: list[DefinitionProblem] = []
    questions: list[Question] = []
    for index, raw in enumerate(raw_questions, start=1):
        where = f"questions[{index}]"
        if not isinstance(raw, dict):
            problems.append(_problem(N_("expected a [[questions]] table"), field=where))
            continue
        unknown = set(raw) - _QUESTION_KEYS
        if unknown:
            problems.append(
                _problem(
                    N_("unknown key(s) {keys}; known keys: {known}"),
                    field=where,
                    keys=", ".join(sorted(unknown)),
                    known=", ".join(sorted(_QUESTION_KEYS)),
                )
            )
            continue
        try:
            questions.append(_build_question(raw, position=index))
        except QuestionnaireError as exc:
            problems.extend(replace(p, field=f"{where}.{p.field}" if p.field else where) for p in exc.problems)
    title, intro, anonymous = doc.get("title", ""), doc.get("intro", ""), doc.get("anonymous", False)
    if not isinstance(title, str):
        problems.append(_problem(N_('title: text in quotes: title = "..."'), field="title"))
    if not isinstance(intro, str):
        problems.append(_problem(N_('intro: text in quotes: intro = "..."'), field="intro"))
    if not isinstance(anonymous, bool):
        problems.append(_problem(N_("anonymous: true or false"), field="anonymous"))
    satisfaction = None
    if "satisfaction" in doc:
        try:
            satisfaction = _satisfaction(doc["satisfaction"])
        except QuestionnaireError as exc:
            problems.extend(exc.problems)
    if problems:
        raise QuestionnaireError(problems)
    return Questionnaire(str(title), tuple(questions), str(intro), bool(anonymous), satisfaction)


#: Spreadsheet headings: canonical key -> accepted spellings (compared after NFKC, lower case, no spaces).
XLSX_COLUMNS: Mapping[str, tuple[str, ...]] = {
    "id": ("id", "编号", "题号", "序号"),
    "type": ("type", "类型", "题型"),
    "text": ("text", "question", "题目", "问题", "内容"),
    "options": ("options", "选项"),
    "required": ("required", "必答", "是否必答", "必填"),
    "min": ("min", "最少", "最小", "最小值", "最少选"),
    "max": ("max", "最多", "最大", "最大值", "最多选", "字数"),
    "decimals": ("decimals", "小数位", "小数位数"),
    "show_if": ("show_if", "showif", "condition", "显示条件", "条件"),
}
#: Settings rows (key, value) on an optional second sheet.
XLSX_SETTINGS: Mapping[str, tuple[str, ...]] = {
    "title": ("title", "标题", "名称"),
    "intro": ("intro", "说明", "介绍"),
    "anonymous": ("anonymous", "匿名"),
    "satisfaction": ("satisfaction", "满意度"),
    "threshold": ("threshold", "达标线", "满意率"),
}


def _lookup(spec: Mapping[str, tuple[str, ...]]) -> dict[str, str]:
    """Headings compared as roster files compare them (files._norm_header)."""
    return {_norm_header(alias): key for key, aliases in spec.items() for alias in aliases}


def read_questionnaire_xlsx(
    data: bytes, *, title: str = "", intro: str = "", anonymous: bool | None = None
) -> Questionnaire:
    """Read a questionnaire from an .xlsx (a CSV works too): one row per question on the first sheet.

    Columns (English or Chinese headings): id/编号, type/类型, text/题目, options/选项 (separated by |
    or ；), required/必答 (是/否; blank: required), min/最少 and max/最多 (picks of a multiple
    choice, bounds of a number, the length limit of a text), decimals/小数位, show_if/显示条件 such as
    "q2=否". An optional second sheet holds settings as rows of key and value: title/标题,
    intro/说明, anonymous/匿名 (是/否), satisfaction/满意度 ("q9=4|5"), threshold/达标线 ("80%").
    Keyword arguments override the settings sheet. Every problem is listed with its row.
    """
    try:
        sheet = read_sheet(data, "questionnaire.xlsx" if data.startswith(_XLSX_MAGIC) else "questionnaire.csv")
    except InputFileError:
        raise _fail(N_("the file cannot be read as an Excel workbook (.xlsx)")) from None
    lookup = _lookup(XLSX_COLUMNS)
    columns: dict[str, int] = {}
    for index, heading in enumerate(sheet.header):
        key = lookup.get(_norm_header(heading))
        if key is not None and key not in columns:
            columns[key] = index
    missing = [key for key in ("id", "type", "text") if key not in columns]
    if missing:
        raise QuestionnaireError(
            [
                DefinitionProblem(
                    N_("missing column {column} (or {alias})"),
                    {"column": key, "alias": XLSX_COLUMNS[key][1]},
                    field=key,
                    row=1,
                )
                for key in missing
            ]
        )
    problems: list[DefinitionProblem] = []
    questions: list[Question] = []
    rows_of: dict[str, list[int]] = {}
    for number, cells in sheet.rows:
        if not any(c.strip() for c in cells):
            continue
        fields = {key: (cells[i].strip() if i < len(cells) else "") for key, i in columns.items()}
        try:
            question = _build_question(fields, position=len(questions) + 1)
        except QuestionnaireError as exc:
            problems.extend(replace(p, row=number) for p in exc.problems)
            continue
        rows_of.setdefault(question.id, []).append(number)
        questions.append(question)
    settings = _settings_sheet(data)
    title = title or settings.get("title", "")
    satisfaction = None
    if settings.get("satisfaction"):
        target = _parse_show_if(settings["satisfaction"])
        if target is None:
            problems.append(
                _problem(
                    N_('satisfaction: write the question and its satisfied answers, as "q9=4|5"'), field="satisfaction"
                )
            )
        else:
            threshold = _fraction(settings.get("threshold") or "80%")
            if threshold is None:
                problems.append(_problem(N_('satisfaction: write the threshold as "80%" or "4/5"'), field="threshold"))
            else:
                satisfaction = Satisfaction(target.question, target.values, threshold)
    flag = _flag(settings.get("anonymous", "否")) if anonymous is None else anonymous
    if flag is None:
        problems.append(_problem(N_("anonymous: yes or no (是/否)"), field="anonymous"))
    if problems:
        raise QuestionnaireError(problems)
    try:
        return Questionnaire(title, tuple(questions), intro or settings.get("intro", ""), bool(flag), satisfaction)
    except QuestionnaireError as exc:
        # The definition's own checks know the question, not the row: a duplicate id is at its second row.
        def row(p: DefinitionProblem) -> int | None:
            rows = rows_of.get(p.question)
            return None if not rows else rows[-1] if p.field == "id" else rows[0]

        raise QuestionnaireError([replace(p, row=row(p)) for p in exc.problems]) from None


def _settings_sheet(data: bytes) -> dict[str, str]:
    """Key/value rows of the workbook's second sheet, if it has one (a CSV has none)."""
    if not data.startswith(_XLSX_MAGIC):
        return {}
    import openpyxl

    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError):
        return {}
    try:
        if len(book.worksheets) < 2:
            return {}
        lookup = _lookup(XLSX_SETTINGS)
        settings: dict[str, str] = {}
        for row in book.worksheets[1].iter_rows(min_col=1, max_col=2, values_only=True):
            if not row or row[0] is None:
                continue
            key = lookup.get(_norm_header(_cell_text(row[0])))
            if key is not None and len(row) > 1 and row[1] is not None:
                settings[key] = _cell_text(row[1])
        return settings
    finally:
        book.close()


def split_options(text: str) -> list[str]:
    """The options a person typed: one a line, or on one line separated by 、，, ; | (full- or half-width)."""
    return [part.strip() for part in OPTION_SEPARATORS.split(text) if part.strip()]
