"""Questionnaires: definitions, answering step by step, anonymous mode, and results counted like votes."""

from __future__ import annotations

import io
import json
import random
from decimal import Decimal
from fractions import Fraction
from typing import Any

import openpyxl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voting.canonical import canonical_json
from voting.errors import AlreadyAnsweredError, AnswerError, QuestionnaireError
from voting.model import Roster, Unit, Weight
from voting.questionnaire import (
    Question,
    QuestionKind,
    Questionnaire,
    Response,
    Satisfaction,
    Share,
    ShowIf,
    check_answer,
    check_response,
    missing_required,
    next_question,
    parse_questionnaire_toml,
    position,
    previous_question,
    prune,
    questionnaire_from_dict,
    read_questionnaire_xlsx,
    record_answer,
    results_rows,
    resume_at,
    split_options,
    submit,
    tally_questionnaire,
    visible_questions,
    write_results_xlsx,
)
from voting.rules import Base
from voting.tally import UnknownVoterError

K = QuestionKind
P1, P2, P3, P4 = "owner:p1", "owner:p2", "owner:p3", "owner:p4"


def roster() -> Roster:
    """DOMAIN.md's roster A plus p4: 360.00 m², 4 owners (p3 owns two homes and counts once)."""
    return Roster.of(
        [
            Unit("101", 6000, "p1"),
            Unit("102", 6000, "p2"),
            Unit("201", 9000, "p3"),
            Unit("202", 9000, "p3"),
            Unit("301", 6000, "p4"),
        ]
    )


def survey(*, anonymous: bool = False, threshold: Fraction = Fraction(4, 5)) -> Questionnaire:
    return Questionnaire(
        "竣工满意度调查",
        (
            Question("q1", K.YES_NO, "是否同意纳入改造计划？"),
            Question("q2", K.TEXT, "为什么不同意？", required=False, max_length=50, show_if=ShowIf("q1", ("否",))),
            Question("q3", K.MULTIPLE, "最需要哪些项目？", ("加装电梯", "停车位", "绿化", "照明"), max_picks=2),
            Question("q4", K.RATING, "总体满意度"),
            Question("q5", K.NUMBER, "家中常住人口", low=Fraction(1), high=Fraction(10)),
            Question("q6", K.SINGLE, "对施工管理", ("满意", "基本满意", "不满意")),
            Question("q7", K.TEXT, "哪里不满意？", required=False, show_if=ShowIf("q6", ("不满意",))),
        ),
        intro="请如实填写",
        anonymous=anonymous,
        satisfaction=Satisfaction("q4", ("4", "5"), threshold),
    )


def full(**overrides: Any) -> dict[str, Any]:
    """A complete set of answers (q1 yes, so q2 is hidden; q6 satisfied, so q7 is hidden)."""
    return {"q1": True, "q3": ["加装电梯"], "q4": 5, "q5": "3", "q6": "满意", **overrides}


def ids(questions: tuple[Question, ...]) -> list[str]:
    return [q.id for q in questions]


# ------------------------------------------------------------------------------------ construction


def test_defaults_are_filled_in_at_construction() -> None:
    q = survey()
    assert q.question("q3").min_picks == 1 and q.question("q3").max_picks == 2
    assert q.question("q7").max_length == 500
    assert q.question("q2").show_if == ShowIf("q1", ("no",)), "是/否 in a condition is stored as yes/no"


@pytest.mark.parametrize(
    ("question", "field"),
    [
        (lambda: Question("q 1", K.TEXT, "x"), "id"),
        (lambda: Question("q" * 17, K.TEXT, "x"), "id"),
        (lambda: Question("q1", K.TEXT, "  "), "text"),
        (lambda: Question("q1", K.SINGLE, "x", ("only one",)), "options"),
        (lambda: Question("q1", K.SINGLE, "x", ("a", "A")), "options"),
        (lambda: Question("q1", K.SINGLE, "x", ("a", "")), "options"),
        (lambda: Question("q1", K.SINGLE, "x", ("a|b", "c")), "options"),
        (lambda: Question("q1", K.RATING, "x", ("a", "b")), "options"),
        (lambda: Question("q1", K.MULTIPLE, "x", ("a", "b", "c"), min_picks=3, max_picks=2), "min"),
        (lambda: Question("q1", K.MULTIPLE, "x", ("a", "b"), max_picks=3), "max"),
        (lambda: Question("q1", K.MULTIPLE, "x", ("a", "b"), min_picks=0), "min"),
        (lambda: Question("q1", K.SINGLE, "x", ("a", "b"), min_picks=1), "min"),
        (lambda: Question("q1", K.NUMBER, "x", low=Fraction(5), high=Fraction(1)), "min"),
        (lambda: Question("q1", K.NUMBER, "x", low=Fraction(1, 2)), "min"),
        (lambda: Question("q1", K.NUMBER, "x", decimals=9), "decimals"),
        (lambda: Question("q1", K.RATING, "x", high=Fraction(3)), "min"),
        (lambda: Question("q1", K.TEXT, "x", max_length=0), "max"),
        (lambda: Question("q1", K.YES_NO, "x", max_length=10), "max"),
        (lambda: Question("q1", K.YES_NO, "x", show_if=ShowIf("q1", ("yes",))), "show_if"),
    ],
)
def test_a_malformed_question_is_refused_naming_the_field(question: Any, field: str) -> None:
    with pytest.raises(QuestionnaireError) as info:
        question()
    assert field in [p.field for p in info.value.problems]
    assert all(p.message for p in info.value.problems)


def _questionnaire_problems(*questions: Question, satisfaction: Satisfaction | None = None) -> list[tuple[str, str]]:
    with pytest.raises(QuestionnaireError) as info:
        Questionnaire("t", questions, satisfaction=satisfaction)
    return [(p.question, p.field) for p in info.value.problems]


def test_a_questionnaire_lists_every_problem_of_its_questions_together() -> None:
    yes_no = Question("a", K.YES_NO, "?")
    text = Question("t", K.TEXT, "?")
    problems = _questionnaire_problems(
        yes_no,
        Question("a", K.TEXT, "duplicate"),
        Question("b", K.TEXT, "forward", show_if=ShowIf("c", ("yes",))),
        Question("c", K.YES_NO, "?"),
        Question("d", K.TEXT, "unknown", show_if=ShowIf("zz", ("yes",))),
        text,
        Question("e", K.TEXT, "on text", show_if=ShowIf("t", ("x",))),
        Question("f", K.TEXT, "no such answer", show_if=ShowIf("a", ("maybe",))),
        Question("g", K.TEXT, "no values", show_if=ShowIf("a", ())),
    )
    assert problems == [
        ("a", "id"),
        ("b", "show_if"),
        ("d", "show_if"),
        ("e", "show_if"),
        ("f", "show_if"),
        ("g", "show_if"),
    ]


def test_satisfaction_must_name_a_labelled_question_and_its_answers() -> None:
    rating, text = Question("r", K.RATING, "?"), Question("t", K.TEXT, "?")
    assert _questionnaire_problems(rating, text, satisfaction=Satisfaction("x", ("4",))) == [("", "satisfaction")]
    assert _questionnaire_problems(rating, text, satisfaction=Satisfaction("t", ("4",))) == [("", "satisfaction")]
    assert _questionnaire_problems(rating, text, satisfaction=Satisfaction("r", ("6",))) == [("", "satisfaction")]
    assert _questionnaire_problems(rating, text, satisfaction=Satisfaction("r", ())) == [("", "satisfaction")]
    bad_threshold = Satisfaction("r", ("5",), Fraction(3, 2))
    assert _questionnaire_problems(rating, text, satisfaction=bad_threshold) == [("", "satisfaction")]


def test_a_questionnaire_needs_a_title_and_a_question() -> None:
    with pytest.raises(QuestionnaireError) as info:
        Questionnaire(" ", ())
    assert {p.field for p in info.value.problems} == {"title", "questions"}


# ------------------------------------------------------------------------------------ answers


def test_single_choice_takes_the_option_text_or_its_number_and_text_wins() -> None:
    q = Question("q", K.SINGLE, "?", ("3", "5", "基本满意"))
    assert check_answer(q, "3") == "3", "an option written as a number is that option"
    assert check_answer(q, "2") == "5", "otherwise a number picks by position"
    assert check_answer(q, " ３ ") == "3", "full-width digits are folded"
    assert check_answer(q, "基本满意") == "基本满意"
    assert check_answer(q, ["基本满意"]) == "基本满意"
    for bad in ("9", "0", "差", "1.5"):
        with pytest.raises(AnswerError) as info:
            check_answer(q, bad)
        assert info.value.params == {"count": 3} and info.value.question == "q"
    with pytest.raises(AnswerError):
        check_answer(q, ["3", "5"])
    with pytest.raises(AnswerError):
        check_answer(q, True)


def test_multiple_choice_counts_picks_and_stores_them_in_the_options_order() -> None:
    q = survey().question("q3")
    assert check_answer(q, "3,1") == ["加装电梯", "绿化"]
    assert check_answer(q, "3、1") == ["加装电梯", "绿化"]
    assert check_answer(q, "１，２") == ["加装电梯", "停车位"]
    assert check_answer(q, ["绿化", "加装电梯", "绿化"]) == ["加装电梯", "绿化"], "a double tap is one pick"
    assert check_answer(q, "照明") == ["照明"]
    with pytest.raises(AnswerError) as info:
        check_answer(q, "1,2,3")
    assert info.value.template == "please pick at most {high}"
    with pytest.raises(AnswerError) as info:
        check_answer(q, "1,9")
    assert info.value.params["value"] == "9"
    exactly = Question("m", K.MULTIPLE, "?", ("a", "b", "c"), min_picks=2, max_picks=2)
    with pytest.raises(AnswerError) as info:
        check_answer(exactly, "a")
    assert info.value.template == "please pick exactly {low}"
    at_least = Question("m", K.MULTIPLE, "?", ("a", "b", "c"), min_picks=2)
    with pytest.raises(AnswerError) as info:
        check_answer(at_least, "a")
    assert info.value.template == "please pick at least {low}"


def test_multiple_choice_finds_an_option_whose_text_holds_a_separator() -> None:
    q = Question("m", K.MULTIPLE, "?", ("电梯, 坡道", "停车"))
    assert check_answer(q, "电梯, 坡道") == ["电梯, 坡道"]


@pytest.mark.parametrize(
    ("raw", "value"), [("4", 4), ("４", 4), (" 1 ", 1), ("5分", 5), ("3星", 3), ("⭐⭐⭐⭐", 4), ("⭐️⭐️", 2), ("★", 1)]
)
def test_a_rating_is_a_whole_number_from_1_to_5_typed_or_as_stars(raw: str, value: int) -> None:
    assert check_answer(survey().question("q4"), raw) == value


@pytest.mark.parametrize("raw", ["0", "6", "3.5", "很好", "★★★★★★", "-1"])
def test_a_rating_outside_1_to_5_is_refused(raw: str) -> None:
    with pytest.raises(AnswerError) as info:
        check_answer(survey().question("q4"), raw)
    assert info.value.template == "please give a whole number from 1 to 5"


def test_a_number_is_stored_as_exact_decimal_text_within_its_range() -> None:
    people = survey().question("q5")
    assert check_answer(people, "3") == "3"
    assert check_answer(people, "１０") == "10", "the upper bound itself is allowed"
    money = Question("m", K.NUMBER, "每平方米愿意出多少元？", low=Fraction(0), high=Fraction(5000), decimals=2)
    assert check_answer(money, "1,234.50") == "1234.5"
    assert check_answer(money, "0") == "0"
    cases = {
        "2.5": (people, "please type a whole number"),
        "11": (people, "please give a number from {low} to {high}"),
        "0": (people, "please give a number from {low} to {high}"),
        "三": (people, "please type a number, such as 12 or 12.5"),
        "1e3": (money, "please type a number, such as 12 or 12.5"),
        "12.345": (money, "at most {decimals} decimal places, please"),
    }
    for raw, (question, template) in cases.items():
        with pytest.raises(AnswerError) as info:
            check_answer(question, raw)
        assert info.value.template == template, raw
    open_above = Question("n", K.NUMBER, "?", low=Fraction(0))
    with pytest.raises(AnswerError) as info:
        check_answer(open_above, "-1")
    assert info.value.template == "please give a number of at least {low}" and info.value.params["low"] == "0"


def test_free_text_is_trimmed_and_limited_in_length() -> None:
    why = survey().question("q2")
    assert check_answer(why, "  太吵  ") == "太吵"
    assert check_answer(why, "字" * 50) == "字" * 50
    with pytest.raises(AnswerError) as info:
        check_answer(why, "字" * 51)
    assert info.value.params == {"limit": 50, "length": 51}


@pytest.mark.parametrize(("raw", "value"), [("是", True), ("否", False), ("YES", True), ("n", False), (True, True)])
def test_yes_no_takes_words_in_both_languages_and_buttons(raw: str | bool, value: bool) -> None:
    assert check_answer(survey().question("q1"), raw) is value


def test_yes_no_refuses_anything_else() -> None:
    with pytest.raises(AnswerError):
        check_answer(survey().question("q1"), "也许")


def test_an_optional_question_can_be_skipped_and_a_required_one_cannot() -> None:
    assert check_answer(survey().question("q2"), "") is None
    assert check_answer(survey().question("q2"), None) is None
    for raw in ("", "  ", None, []):
        with pytest.raises(AnswerError) as info:
            check_answer(survey().question("q3"), raw)
        assert info.value.template == "this question needs an answer"


# ------------------------------------------------------------------------------------ navigation


def test_conditional_questions_show_only_for_the_answers_named() -> None:
    q = survey()
    assert ids(visible_questions(q, {})) == ["q1", "q3", "q4", "q5", "q6"]
    assert ids(visible_questions(q, {"q1": False})) == ["q1", "q2", "q3", "q4", "q5", "q6"]
    assert ids(visible_questions(q, {"q1": True, "q6": "不满意"})) == ["q1", "q3", "q4", "q5", "q6", "q7"]


def test_a_condition_on_a_multiple_choice_holds_when_the_picks_contain_a_value() -> None:
    q = Questionnaire(
        "t",
        (
            Question("m", K.MULTIPLE, "?", ("电梯", "停车", "绿化")),
            Question("w", K.TEXT, "电梯装在哪？", show_if=ShowIf("m", ("电梯",))),
        ),
    )
    assert ids(visible_questions(q, {"m": ["电梯", "绿化"]})) == ["m", "w"]
    assert ids(visible_questions(q, {"m": ["停车"]})) == ["m"]


def test_a_question_depending_on_a_hidden_question_is_hidden_too() -> None:
    q = Questionnaire(
        "t",
        (
            Question("a", K.YES_NO, "?"),
            Question("b", K.YES_NO, "?", show_if=ShowIf("a", ("no",))),
            Question("c", K.TEXT, "?", show_if=ShowIf("b", ("yes",))),
        ),
    )
    assert ids(visible_questions(q, {"a": False, "b": True})) == ["a", "b", "c"]
    assert ids(visible_questions(q, {"a": True, "b": True})) == ["a"], "b's stale answer opens nothing"
    assert prune(q, {"a": True, "b": True, "c": "x"}) == {"a": True}


def test_position_counts_only_the_questions_shown_and_follows_the_answers() -> None:
    q = survey()
    assert position(q, {}, "q1") == (1, 5)
    assert position(q, {}, "q3") == (2, 5)
    assert position(q, {"q1": False}, "q3") == (3, 6)
    assert position(q, {"q1": False, "q6": "不满意"}, "q7") == (7, 7)
    with pytest.raises(AnswerError) as info:
        position(q, {"q1": True}, "q2")
    assert info.value.question == "q2"


def test_next_and_previous_step_over_hidden_questions() -> None:
    q = survey()
    assert next_question(q, {}, None).id == "q1"
    assert next_question(q, {"q1": True}, "q1").id == "q3"
    assert next_question(q, {"q1": False}, "q1").id == "q2"
    assert previous_question(q, {"q1": True}, "q3").id == "q1"
    assert previous_question(q, {"q1": False}, "q3").id == "q2"
    assert previous_question(q, {}, "q1") is None
    assert next_question(q, full(), "q6") is None, "after the last question comes the review"
    assert previous_question(q, full(), None).id == "q6", "back from the review: the last question shown"


def test_going_on_from_a_question_that_an_earlier_change_hid_continues_after_its_place() -> None:
    q = survey()
    assert next_question(q, {"q1": True}, "q2").id == "q3"
    assert previous_question(q, {"q1": True}, "q2").id == "q1"


def test_going_back_and_changing_an_answer_drops_the_answers_it_hid() -> None:
    q = survey()
    answers = record_answer(q, {}, "q1", "否")
    answers = record_answer(q, answers, "q2", "噪音太大")
    answers = record_answer(q, answers, "q3", "1")
    assert answers == {"q1": False, "q2": "噪音太大", "q3": ["加装电梯"]}
    back = previous_question(q, answers, "q3")
    assert back is not None and back.id == "q2"
    changed = record_answer(q, answers, "q1", "是")
    assert changed == {"q1": True, "q3": ["加装电梯"]}
    assert answers["q2"] == "噪音太大", "the old progress is not modified"


def test_record_answer_refuses_a_hidden_question_and_a_bad_answer_without_changing_progress() -> None:
    q = survey()
    with pytest.raises(AnswerError):
        record_answer(q, {"q1": True}, "q2", "x")
    progress = {"q1": True}
    with pytest.raises(AnswerError):
        record_answer(q, progress, "q4", "9")
    assert progress == {"q1": True}


def test_a_resident_resumes_at_the_first_question_not_yet_seen_and_skips_are_remembered() -> None:
    q = survey()
    assert resume_at(q, {}).id == "q1"
    answers = record_answer(q, record_answer(q, {}, "q1", "否"), "q2", "")
    assert answers == {"q1": False, "q2": None}
    assert resume_at(q, answers).id == "q3"
    assert resume_at(q, full()) is None, "everything seen: the review"


def test_missing_required_lists_shown_required_questions_without_an_answer() -> None:
    q = survey()
    assert ids(missing_required(q, {"q1": False, "q2": None, "q4": 3})) == ["q3", "q5", "q6"]
    assert missing_required(q, full()) == ()


def test_check_response_prunes_rechecks_and_records_unseen_optional_questions_as_skipped() -> None:
    q = survey()
    stale = full(q1=False, q7="leftover")
    assert check_response(q, stale) == {**full(q1=False), "q2": None}
    with pytest.raises(AnswerError) as info:
        check_response(q, {"q1": True, "q3": ["绿化"]})
    assert info.value.question == "q4" and info.value.params == {"n": 3, "total": 5}
    with pytest.raises(AnswerError):
        check_response(q, full(q4="5"))
    with pytest.raises(AnswerError):
        check_response(q, full(q3=["绿化", "加装电梯"]))
    with pytest.raises(AnswerError):
        check_response(q, full(q5="03"))


# ------------------------------------------------------------------------------------ responses and tally


def _hand_example(anonymous: bool = False) -> list[Response]:
    """p1 rates 5, p3 rates 2 then changes to 4, p2 rates 1; p4 never answers."""
    q, r = survey(anonymous=anonymous), roster()
    people = {P1: "2", P2: "3", P3: "6"}
    picks = {P1: ["加装电梯"], P2: ["加装电梯", "停车位"], P3: ["绿化"]}

    def response(owner: str, rating: int, seq: int, **extra: Any) -> Response:
        answers = full(q3=picks[owner], q4=rating, q5=people[owner], **extra)
        return submit(q, answers, owner, r, seq=seq, anonymous_id=f"anon-{seq}")

    return [
        response(P1, 5, 1),
        response(P3, 2, 2),
        response(P2, 1, 3, q1=False, q2="太贵", q6="不满意", q7="工期太长"),
        response(P3, 4, 4, q6="不满意", q7="噪音"),
    ]


def test_satisfaction_share_matches_the_hand_computed_example() -> None:
    """Roster: p1 60.00 m², p2 60.00, p3 90.00 + 90.00 (two homes, one person), p4 60.00: 360.00 m², 4 owners.

    Ratings (latest wins): p1 5, p2 1, p3 4 (their earlier 2 is replaced); p4 does not answer.
    Satisfied (4 or 5): p1 + p3 = 240.00 m², 2 owners.
    Of the whole roster: area 240/360 = 2/3, headcount 2/4 = 1/2.
    Of those answering (p1, p2, p3: 300.00 m², 3): area 240/300 = 4/5 exactly, headcount 2/3.
    Baoding's 80% fails either way (headcount); 2/3 of those answering holds at the boundary in both
    (4/5 ≥ 2/3, 2/3 ≥ 2/3); 1/2 of the roster holds at the boundary in headcount.
    """
    result = tally_questionnaire(survey(), _hand_example(), roster())
    sat = result.satisfaction
    assert sat is not None
    assert sat.satisfied == Weight(24000, 2)
    assert sat.answered == Weight(30000, 3)
    assert sat.total == Weight(36000, 4)
    assert (sat.of_total.area, sat.of_total.headcount) == (Fraction(2, 3), Fraction(1, 2))
    assert (sat.of_answered.area, sat.of_answered.headcount) == (Fraction(4, 5), Fraction(2, 3))
    assert not sat.holds()
    assert not sat.holds(base=Base.PARTICIPATING)
    assert sat.holds(Fraction(2, 3), Base.PARTICIPATING)
    assert not sat.holds(Fraction(2, 3) + Fraction(1, 10**9), Base.PARTICIPATING)
    assert sat.holds(Fraction(1, 2))


def test_satisfaction_of_those_answering_at_exactly_80_percent_holds() -> None:
    """Roster above plus p5 (60.00 m²): 420.00 m², 5 owners. Everyone answers; all but p2 rate 4 or 5.

    Satisfied: 4 of 5 owners = 4/5 exactly, 360.00 of 420.00 m² = 6/7: both at least 80%, so it holds.
    """
    r = Roster.of([*roster().units, Unit("401", 6000, "p5")])
    q = survey()
    ratings = {P1: 5, P2: 2, P3: 4, P4: 5, "owner:p5": 4}
    responses = [submit(q, full(q4=v), owner, r, seq=i) for i, (owner, v) in enumerate(ratings.items())]
    sat = tally_questionnaire(q, responses, r).satisfaction
    assert sat is not None and sat.satisfied == Weight(36000, 4) and sat.total == Weight(42000, 5)
    assert sat.of_total.headcount == Fraction(4, 5) and sat.of_total.area == Fraction(6, 7)
    assert sat.holds(), "4 of 5 owners is 80%: 以上 includes the threshold itself"


def test_a_share_at_exactly_the_threshold_holds_in_each_dimension_and_one_hundredth_less_does_not() -> None:
    """Roster A (300.00 m², 3 owners); 80% of 300.00 m² is 240.00 m²: 240.00 holds, 239.99 does not (以上 is ≥)."""
    total = Weight(30000, 3)
    assert Share.of(Weight(24000, 3), total).reaches(Fraction(4, 5))
    assert not Share.of(Weight(23999, 3), total).reaches(Fraction(4, 5))
    assert Share.of(Weight(30000, 2), total).reaches(Fraction(2, 3))
    assert not Share.of(Weight(30000, 1), total).reaches(Fraction(2, 3))
    assert not Share.of(Weight(), Weight()).reaches(Fraction(1, 100)), "nobody answering is never satisfied"


def test_owners_are_counted_once_with_their_homes_areas_summed_and_the_latest_response_wins() -> None:
    result = tally_questionnaire(survey(), _hand_example(), roster())
    assert result.total == Weight(36000, 4)
    assert result.respondents == Weight(30000, 3), "p3 answered twice, counts once with 180.00 m²"
    q4 = result.questions[3]
    counts = {o.label: o.weight for o in q4.options}
    assert counts == {"1": Weight(6000, 1), "2": Weight(), "3": Weight(), "4": Weight(18000, 1), "5": Weight(6000, 1)}
    q3 = {o.label: o.weight for o in result.questions[2].options}
    assert q3 == {"加装电梯": Weight(12000, 2), "停车位": Weight(6000, 1), "绿化": Weight(18000, 1), "照明": Weight()}
    yes_no = {o.label: o.weight for o in result.questions[0].options}
    assert yes_no == {"yes": Weight(24000, 2), "no": Weight(6000, 1)}


def test_the_order_responses_arrive_in_does_not_matter_only_their_sequence() -> None:
    responses = _hand_example()
    expected = tally_questionnaire(survey(), responses, roster())
    assert tally_questionnaire(survey(), reversed(responses), roster()) == expected


def test_ratings_and_numbers_have_exact_means_and_medians_in_both_dimensions() -> None:
    """q4: p1 5 (60.00 m²), p2 1 (60.00), p3 4 (180.00). Mean per owner 10/3; by area
    (5·60 + 1·60 + 4·180) / 300 = 18/5. Medians: 4 per owner; by area half of 300 is passed at p3's 4.
    q5 (people): p1 2, p2 3, p3 6. Per owner mean 11/3, median 3; by area mean (2·60 + 3·60 + 6·180)/300
    = 23/5 and median 6 (p1 and p2 hold only 120 of 300 m²).
    """
    result = tally_questionnaire(survey(), _hand_example(), roster())
    rating, people = result.questions[3].stats, result.questions[4].stats
    assert rating is not None and people is not None
    assert (rating.mean_headcount, rating.mean_area) == (Fraction(10, 3), Fraction(18, 5))
    assert (rating.median_headcount, rating.median_area) == (4, 4)
    assert (people.mean_headcount, people.mean_area) == (Fraction(11, 3), Fraction(23, 5))
    assert (people.median_headcount, people.median_area) == (3, 6)


def test_an_even_median_is_the_mean_of_the_middle_two() -> None:
    q, r = survey(), roster()
    responses = [submit(q, full(q5=v), o, r, seq=i) for i, (o, v) in enumerate([(P1, "2"), (P2, "5")])]
    stats = tally_questionnaire(q, responses, r).questions[4].stats
    assert stats is not None
    assert stats.median_headcount == Fraction(7, 2) and stats.median_area == Fraction(7, 2)


def test_free_text_answers_are_listed_with_who_wrote_them_when_not_anonymous() -> None:
    result = tally_questionnaire(survey(), _hand_example(), roster())
    why_not, where = result.questions[1], result.questions[6]
    assert [(t.text, t.respondent, t.weight) for t in why_not.texts] == [("太贵", P2, Weight(6000, 1))]
    assert [t.text for t in where.texts] == ["工期太长", "噪音"]
    assert why_not.answered == Weight(6000, 1)


def test_a_named_response_from_outside_the_roster_is_refused() -> None:
    with pytest.raises(UnknownVoterError):
        submit(survey(), full(), "owner:nobody", roster(), seq=1)
    stray = Response("owner:nobody", full(), 1)
    with pytest.raises(UnknownVoterError):
        tally_questionnaire(survey(), [stray], roster())


def test_a_tampered_stored_answer_is_refused_by_the_tally() -> None:
    bad = Response(P1, full(q4="5"), 1)
    with pytest.raises(AnswerError) as info:
        tally_questionnaire(survey(), [bad], roster())
    assert info.value.question == "q4"


# ------------------------------------------------------------------------------------ anonymous mode


def test_an_anonymous_response_carries_the_owners_weight_but_not_their_key() -> None:
    q, r = survey(anonymous=True), roster()
    response = submit(q, full(), P3, r, seq=7, anonymous_id="9f2c41")
    assert response.respondent == "9f2c41"
    assert response.weight == Weight(18000, 1)
    assert P3 not in repr(response) and "p3" not in repr(response)


def test_an_owner_who_answered_an_anonymous_questionnaire_cannot_answer_again() -> None:
    with pytest.raises(AlreadyAnsweredError):
        submit(survey(anonymous=True), full(), P3, roster(), seq=2, already_answered=True, anonymous_id="x2")


def test_an_anonymous_response_needs_a_random_id_that_is_not_an_owner_key() -> None:
    for bad in ("", P1):
        with pytest.raises(ValueError, match="random id"):
            submit(survey(anonymous=True), full(), P3, roster(), seq=2, anonymous_id=bad)


def test_anonymous_results_equal_named_results_for_the_same_answers_without_names() -> None:
    named = tally_questionnaire(survey(), _hand_example()[2:] + _hand_example()[:1], roster())
    responses = _hand_example(anonymous=True)
    anonymous = [resp for resp in responses if resp.respondent != "anon-2"]  # a one-shot id: p3 answered once
    result = tally_questionnaire(survey(anonymous=True), anonymous, roster())
    assert result.respondents == named.respondents
    assert result.satisfaction is not None and named.satisfaction is not None
    assert result.satisfaction.satisfied == named.satisfaction.satisfied
    assert [q.options for q in result.questions] == [q.options for q in named.questions]
    assert all(t.respondent is None for qr in result.questions for t in qr.texts)


def test_the_anonymous_tally_refuses_more_weight_than_the_roster_has() -> None:
    q, r = survey(anonymous=True), roster()
    twice = [submit(q, full(), P3, r, seq=i, anonymous_id=f"a{i}") for i in range(3)]
    with pytest.raises(ValueError, match="counted twice"):
        tally_questionnaire(q, twice, r)
    with pytest.raises(ValueError, match="weight of one owner"):
        tally_questionnaire(q, [Response("a1", full(), 1)], r)


# ------------------------------------------------------------------------------------ TOML definitions

GOOD_TOML = """
title = "改造意愿调查"
intro = "请在 12 月 2 日前填写"
anonymous = true
satisfaction = { question = "q4", satisfied = "4|5", threshold = "80%", base = "participating" }

[[questions]]
id = "q1"
type = "是否"
text = "是否同意纳入改造计划？"

[[questions]]
id = "q2"
type = "文字"
text = "为什么不同意？"
required = false
max = 200
show_if = "q1＝否"

[[questions]]
id = "q3"
type = "多选"
text = "最需要哪些项目？"
options = "加装电梯｜停车位；绿化|照明"
min = 1
max = 2

[[questions]]
id = "q4"
type = "评分"
text = "总体满意度"

[[questions]]
id = "q5"
type = "number"
text = "每平方米愿意出多少元？"
min = 0
max = "50.5"
decimals = 1
show_if = { question = "q3", any_of = ["加装电梯"] }

[[questions]]
id = "q6"
type = "single"
text = "施工管理"
options = ["满意", "不满意"]
"""


def test_a_toml_definition_with_chinese_type_names_reads_into_a_questionnaire() -> None:
    q = parse_questionnaire_toml(GOOD_TOML.encode())
    assert q.title == "改造意愿调查" and q.intro == "请在 12 月 2 日前填写" and q.anonymous
    assert [x.kind for x in q.questions] == [K.YES_NO, K.TEXT, K.MULTIPLE, K.RATING, K.NUMBER, K.SINGLE]
    assert q.question("q2").show_if == ShowIf("q1", ("no",)) and q.question("q2").max_length == 200
    assert not q.question("q2").required and q.question("q1").required
    assert q.question("q3").options == ("加装电梯", "停车位", "绿化", "照明")
    assert (q.question("q3").min_picks, q.question("q3").max_picks) == (1, 2)
    five = q.question("q5")
    assert (five.low, five.high, five.decimals) == (0, Fraction(101, 2), 1)
    assert five.show_if == ShowIf("q3", ("加装电梯",))
    assert q.satisfaction == Satisfaction("q4", ("4", "5"), Fraction(4, 5), Base.PARTICIPATING)


def test_a_definition_survives_storage_as_json_and_reads_back_equal() -> None:
    """What storage keeps is as_dict() through JSON; canonical_json accepts it (no float), so it can be hashed."""
    for q in (parse_questionnaire_toml(GOOD_TOML.encode()), survey()):
        stored = json.loads(json.dumps(q.as_dict(), ensure_ascii=False))
        assert questionnaire_from_dict(stored) == q
        assert canonical_json(q.as_dict()) == canonical_json(stored)


def _toml_problems(text: str) -> list[tuple[str, str]]:
    with pytest.raises(QuestionnaireError) as info:
        parse_questionnaire_toml(text.encode())
    assert all(p.message for p in info.value.problems)
    return [(p.field, p.template) for p in info.value.problems]


QUESTION = '[[questions]]\nid = "q1"\ntype = "单选"\ntext = "?"\noptions = ["a", "b"]\n'


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("title = ", ""),
        ('title = "t"\ncolour = "red"\n' + QUESTION, ""),
        ('title = "t"\n', "questions"),
        ('title = "t"\n' + QUESTION.replace("单选", "判断"), "questions[1].type"),
        ('title = "t"\n' + QUESTION.replace('options = ["a", "b"]', "options = 3"), "questions[1].options"),
        ('title = "t"\n' + QUESTION + "required = 2\n", "questions[1].required"),
        ('title = "t"\n' + QUESTION + "colour = 1\n", "questions[1]"),
        ('title = "t"\n' + QUESTION.replace("单选", "多选") + "min = 1.5\n", "questions[1].min"),
        ('title = "t"\n' + QUESTION.replace("单选", "多选") + "min = 2\nmax = 1\n", "questions[1].min"),
        ('title = "t"\n' + QUESTION.replace("单选", "多选") + "max = 5\n", "questions[1].max"),
        (
            'title = "t"\n' + QUESTION.replace("单选", "数字").replace('options = ["a", "b"]', "min = 0.5"),
            "questions[1].min",
        ),
        (
            'title = "t"\n' + QUESTION.replace("单选", "文字").replace('options = ["a", "b"]', "min = 5"),
            "questions[1].min",
        ),
        ('title = "t"\n' + QUESTION.replace("单选", "评分"), "questions[1].options"),
        ('title = "t"\n' + QUESTION + 'show_if = "q1"\n', "questions[1].show_if"),
        ('title = "t"\n' + QUESTION.replace('id = "q1"', 'id = "第一题"'), "questions[1].id"),
        ('title = "t"\nanonymous = "yes"\n' + QUESTION, "anonymous"),
        ('title = "t"\nsatisfaction = "q1"\n' + QUESTION, "satisfaction"),
        (
            'title = "t"\nsatisfaction = { question = "q1", satisfied = ["a"], threshold = 0.8 }\n' + QUESTION,
            "satisfaction",
        ),
        ('title = "t"\nsatisfaction = { question = "q1", satisfied = ["c"] }\n' + QUESTION, "satisfaction"),
        ('satisfaction = { question = "q1", satisfied = ["a"], base = "all" }\n' + QUESTION, "satisfaction"),
        (QUESTION, "title"),
    ],
)
def test_a_bad_toml_definition_says_which_key_and_what_to_write(text: str, field: str) -> None:
    assert field in [f for f, _ in _toml_problems(text)]


def test_toml_problems_of_several_questions_are_listed_together() -> None:
    text = 'title = "t"\n' + QUESTION + QUESTION.replace("q1", "q2").replace("单选", "?") + QUESTION
    problems = _toml_problems(text)
    assert [f for f, _ in problems] == ["questions[2].type"], "the duplicate is checked once the questions build"
    fixed = text.replace('type = "?"', 'type = "单选"')
    assert _toml_problems(fixed) == [("id", "the id is used twice")]


def test_a_condition_pointing_forward_in_toml_is_refused_with_the_question_named() -> None:
    text = 'title = "t"\n' + QUESTION + 'show_if = "q2=a"\n' + QUESTION.replace("q1", "q2")
    with pytest.raises(QuestionnaireError) as info:
        parse_questionnaire_toml(text.encode())
    (problem,) = info.value.problems
    assert (problem.question, problem.field, problem.params["target"]) == ("q1", "show_if", "q2")


def test_a_toml_file_that_is_not_utf8_is_refused() -> None:
    with pytest.raises(QuestionnaireError) as info:
        parse_questionnaire_toml('title = "调查"'.encode("gbk"))
    assert info.value.problems[0].template == "the file is not UTF-8 text"


# ------------------------------------------------------------------------------------ spreadsheet definitions

HEADER = ["编号", "类型", "题目", "选项", "必答", "最少", "最多", "显示条件"]
ROWS: list[list[Any]] = [
    ["q1", "是否", "是否同意纳入改造计划？", None, "是", None, None, None],
    ["q2", "文字", "为什么不同意？", None, "否", None, 200, "q2=否".replace("q2", "q1")],
    ["q3", "多选", "最需要哪些项目？", "加装电梯|停车位；绿化", None, 1, 2, None],
    ["q4", "评分", "总体满意度", None, None, None, None, None],
    ["q5", "数字", "家中常住人口", None, "否", 1, 10, None],
]


def xlsx(rows: list[list[Any]], settings: list[list[Any]] | None = None, header: list[str] = HEADER) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    if settings is not None:
        extra = book.create_sheet("设置")
        for row in settings:
            extra.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_a_spreadsheet_with_chinese_headings_reads_into_a_questionnaire() -> None:
    settings = [["标题", "竣工验收满意度"], ["说明", "谢谢"], ["匿名", "是"], ["满意度", "q4=4|5"], ["达标线", "80%"]]
    q = read_questionnaire_xlsx(xlsx(ROWS, settings))
    assert (q.title, q.intro, q.anonymous) == ("竣工验收满意度", "谢谢", True)
    assert ids(q.questions) == ["q1", "q2", "q3", "q4", "q5"]
    assert q.question("q2").show_if == ShowIf("q1", ("no",)) and not q.question("q2").required
    assert q.question("q2").max_length == 200
    assert q.question("q3").options == ("加装电梯", "停车位", "绿化") and q.question("q3").max_picks == 2
    assert (q.question("q5").low, q.question("q5").high) == (1, 10)
    assert q.satisfaction == Satisfaction("q4", ("4", "5"), Fraction(4, 5))


def test_keyword_arguments_give_the_title_when_there_is_no_settings_sheet() -> None:
    q = read_questionnaire_xlsx(xlsx(ROWS), title="需求征集", anonymous=False)
    assert q.title == "需求征集" and not q.anonymous and q.satisfaction is None


def test_a_csv_with_english_headings_reads_too() -> None:
    data = "id,type,text,options,required,min,max,show_if\nq1,yes_no,Agree?,,,,,\nq2,text,Why not?,,no,,,q1=no\n"
    q = read_questionnaire_xlsx(data.encode(), title="Survey")
    assert ids(q.questions) == ["q1", "q2"] and q.question("q2").show_if == ShowIf("q1", ("no",))


def test_every_bad_spreadsheet_row_is_listed_with_its_row_number() -> None:
    rows = [
        *ROWS,
        ["q6", "判断题", "?", None, None, None, None, None],
        ["q7", "单选", "?", "只有一个", None, None, None, None],
        ["q8", "数字", "?", None, "也许", "abc", None, None],
        ["q9", "文字", "?", None, None, None, None, "q1"],
    ]
    with pytest.raises(QuestionnaireError) as info:
        read_questionnaire_xlsx(xlsx(rows), title="t")
    found = [(p.row, p.field) for p in info.value.problems]
    assert found == [(7, "type"), (8, "options"), (9, "required"), (9, "min"), (10, "show_if")]
    assert "row 7" in str(info.value)


def test_questionnaire_level_problems_of_a_spreadsheet_point_at_rows_too() -> None:
    rows = [
        *ROWS,
        ["q3", "文字", "duplicate", None, None, None, None, None],
        ["q7", "文字", "?", None, None, None, None, "q8=是"],
        ["q8", "是否", "?", None, None, None, None, None],
    ]
    with pytest.raises(QuestionnaireError) as info:
        read_questionnaire_xlsx(xlsx(rows), title="t")
    assert [(p.row, p.question, p.field) for p in info.value.problems] == [(7, "q3", "id"), (8, "q7", "show_if")]


def test_a_spreadsheet_without_the_needed_columns_or_title_is_refused() -> None:
    with pytest.raises(QuestionnaireError) as info:
        read_questionnaire_xlsx(xlsx([["q1", "是否"]], header=["编号", "类型"]), title="t")
    assert [(p.row, p.field) for p in info.value.problems] == [(1, "text")]
    with pytest.raises(QuestionnaireError) as info:
        read_questionnaire_xlsx(xlsx(ROWS))
    assert [p.field for p in info.value.problems] == ["title"]


def test_a_broken_workbook_or_bad_settings_are_refused() -> None:
    with pytest.raises(QuestionnaireError) as info:
        read_questionnaire_xlsx(b"PK\x03\x04 not really a workbook")
    assert info.value.problems[0].template == "the file cannot be read as an Excel workbook (.xlsx)"
    bad_settings = [
        ([["满意度", "q4"]], "satisfaction"),
        ([["满意度", "q4=4"], ["达标线", "八成"]], "threshold"),
        ([["匿名", "也许"]], "anonymous"),
        ([["满意度", "q4=9"]], "satisfaction"),
    ]
    for sheet, field in bad_settings:
        with pytest.raises(QuestionnaireError) as info:
            read_questionnaire_xlsx(xlsx(ROWS, sheet), title="t")
        assert [p.field for p in info.value.problems] == [field]


# ------------------------------------------------------------------------------------ export


def test_results_rows_give_areas_with_two_decimals_and_shares_as_percentages() -> None:
    rows = results_rows(tally_questionnaire(survey(), _hand_example(), roster()))
    assert rows[0] == ["竣工满意度调查"]
    assert rows[1] == ["Owners in the roster", "", "", "4", "", "360.00", ""]
    assert rows[2] == ["", "", "Responses", "3", "75.00%", "300.00", "83.33%"]
    assert ["q4", "", "4", "1", "33.33%", "180.00", "60.00%"] in rows
    assert ["q1", "", "No", "1", "33.33%", "60.00", "20.00%"] in rows
    assert ["q4", "", "Mean", "3.33", "", "3.60", ""] in rows
    assert ["q2", "", "太贵", "1", "", "60.00", ""] in rows
    assert ["q4", "Satisfaction", "Satisfied, of all owners", "2", "50.00%", "240.00", "66.67%"] in rows
    assert ["q4", "Satisfaction", "Satisfied, of owners answering", "2", "66.67%", "240.00", "80.00%"] in rows
    assert ["q4", "Satisfaction", "Threshold not reached"] in rows
    translated = results_rows(
        tally_questionnaire(survey(), _hand_example(), roster()), lambda s: {"No": "否"}.get(s, s)
    )
    assert ["q1", "", "否", "1", "33.33%", "60.00", "20.00%"] in translated


def test_the_results_workbook_opens_and_holds_the_numbers() -> None:
    result = tally_questionnaire(survey(), _hand_example(), roster())
    book = openpyxl.load_workbook(io.BytesIO(write_results_xlsx(result)))
    assert book.sheetnames == ["Results"]
    rows = [list(r) for r in book.active.iter_rows(values_only=True)]
    assert len(rows) == len(results_rows(result)), "one row for each CSV row"
    satisfied = next(r for r in rows if r[2] == "Satisfied, of all owners")
    assert satisfied[3] == 2 and Decimal(str(satisfied[5])) == Decimal("240.00")
    assert Decimal(str(satisfied[6])).quantize(Decimal("0.0001")) == Decimal("0.6667")
    mean = next(r for r in rows if r[0] == "q4" and r[2] == "Mean")
    assert Decimal(str(mean[5])) == Decimal("3.6")
    cell = next(c for c in book.active["G"] if c.value is not None and c.row > 4)
    assert cell.number_format == "0.00%"


# ------------------------------------------------------------------------------------ properties

OWNERS = [f"o{i}" for i in range(8)]
COMMUNITY = Roster.of([Unit(f"u{i}", 3000 + 1700 * i, f"o{i % 6}") for i in range(10)])
PROPERTY_Q = Questionnaire(
    "t",
    (
        Question("a", K.SINGLE, "?", ("x", "y", "z")),
        Question("b", K.MULTIPLE, "?", ("m", "n", "p", "q"), min_picks=1, max_picks=3),
        Question("c", K.YES_NO, "?", required=False, show_if=ShowIf("a", ("x", "y"))),
        Question("d", K.RATING, "?", show_if=ShowIf("c", ("yes",))),
    ),
)
answers_strategy = st.fixed_dictionaries(
    {
        "a": st.sampled_from(["x", "y", "z"]),
        "b": st.lists(st.sampled_from(["m", "n", "p", "q"]), min_size=1, max_size=3, unique=True).map(
            lambda picks: [o for o in ("m", "n", "p", "q") if o in picks]
        ),
    },
    optional={"c": st.booleans() | st.none(), "d": st.integers(1, 5)},
)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(sorted(COMMUNITY.owner_area)), answers_strategy), max_size=20))
def test_counts_add_up_to_the_respondents(entries: list[tuple[str, dict[str, Any]]]) -> None:
    """Per single choice, counts sum to those answering; multiple-choice counts lie between min and max picks."""
    responses = [Response(owner, answers, seq) for seq, (owner, answers) in enumerate(entries)]
    result = tally_questionnaire(PROPERTY_Q, responses, COMMUNITY)
    a, b, c, d = result.questions
    assert a.answered == result.respondents, "a required, unconditional question is answered by everyone"
    assert sum((o.weight for o in a.options), Weight()) == a.answered
    assert sum((o.weight for o in c.options), Weight()) == c.answered
    assert sum((o.weight for o in d.options), Weight()) == d.answered
    picks = sum(o.weight.headcount for o in b.options)
    assert b.answered.headcount <= picks <= 3 * b.answered.headcount
    assert d.answered.headcount <= c.answered.headcount <= result.respondents.headcount <= result.total.headcount
    assert result.respondents.headcount == len({owner for owner, _ in entries})


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(sorted(COMMUNITY.owner_area)), answers_strategy), max_size=12), st.randoms())
def test_only_each_owners_latest_response_counts_whatever_the_arrival_order(
    entries: list[tuple[str, dict[str, Any]]], rnd: random.Random
) -> None:
    responses = [Response(owner, answers, seq) for seq, (owner, answers) in enumerate(entries)]
    latest = {owner: Response(owner, answers, seq) for seq, (owner, answers) in enumerate(entries)}
    shuffled = responses[:]
    rnd.shuffle(shuffled)
    expected = tally_questionnaire(PROPERTY_Q, latest.values(), COMMUNITY)
    assert tally_questionnaire(PROPERTY_Q, shuffled, COMMUNITY) == expected


@settings(max_examples=200)
@given(answers_strategy)
def test_prune_is_idempotent_and_never_changes_what_is_shown(answers: dict[str, Any]) -> None:
    pruned = prune(PROPERTY_Q, answers)
    assert prune(PROPERTY_Q, pruned) == pruned
    assert visible_questions(PROPERTY_Q, pruned) == visible_questions(PROPERTY_Q, answers)
    assert set(pruned) <= {q.id for q in visible_questions(PROPERTY_Q, answers)}


@settings(max_examples=200)
@given(st.integers(-(10**8), 10**8), st.integers(0, 4))
def test_a_number_in_range_round_trips_through_its_stored_text(units: int, decimals: int) -> None:
    value = Fraction(units, 10**decimals)
    q = Question("n", K.NUMBER, "?", decimals=decimals)
    stored = check_answer(q, str(Decimal(units).scaleb(-decimals)))
    assert isinstance(stored, str) and Fraction(stored) == value
    assert check_answer(q, stored) == stored


@pytest.mark.parametrize(
    "typed",
    [
        "道路\n照明\n绿化",
        "道路、照明、绿化",
        "道路，照明，绿化",
        "道路, 照明 ,绿化",
        "道路;照明；绿化",
        "道路 | 照明｜绿化",
        "道路、\n照明,,绿化\n",
    ],
)
def test_options_typed_on_a_phone_split_on_any_separator(typed: str) -> None:
    assert split_options(typed) == ["道路", "照明", "绿化"]
