"""`renovote tally`: the stable contract tests and auditors rely on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import main

ROSTER_A = "unit_id,area_m2,owner,status\n101,60.00,p1,sold\n102,60.00,p2,\n201,90.00,p3,sold\n202,90.00,p3,sold\n"


def _write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> str:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return str(path)


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(list(argv))
    out = capsys.readouterr()
    return int(info.value.code or 0), out.out, out.err


def test_json_output_has_the_documented_shape(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    roster = _write(tmp_path, "roster.csv", ROSTER_A)
    ballots = _write(tmp_path, "ballots.csv", "unit_id,choice\n101,agree\n102,disagree\n201,agree\n")
    code, out, _err = _run(
        capsys, "tally", "--roster", roster, "--ballots", ballots, "--rule", "double-two-thirds", "--json"
    )
    assert code == 0
    data = json.loads(out)
    assert data["rule"] == "double-two-thirds"
    assert data["passed"] is True
    assert data["total"] == {"area_m2": "300.00", "headcount": 3}
    assert data["agree"] == {"area_m2": "240.00", "headcount": 2}
    assert data["disagree"] == {"area_m2": "60.00", "headcount": 1}
    assert data["abstain"] == {"area_m2": "0.00", "headcount": 0}
    assert data["participating"] == {"area_m2": "300.00", "headcount": 3}
    assert data["conditions"][0]["holds"] is True


def test_a_failing_motion_still_exits_zero(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    roster = _write(tmp_path, "roster.csv", ROSTER_A)
    ballots = _write(tmp_path, "ballots.csv", "unit_id,choice\n202,agree\n")
    code, out, _err = _run(
        capsys, "tally", "--roster", roster, "--ballots", ballots, "--rule", "double-two-thirds", "--json"
    )
    assert code == 0
    assert json.loads(out)["passed"] is False


def test_chinese_headers_gbk_and_chinese_choices_are_accepted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    roster = _write(
        tmp_path,
        "名册.csv",
        "房屋编号,建筑面积,业主,状态\n101,60,张三,已售\n102,60,李四,已售\n201,90,王五,已售\n202,90,王五,已售\n",
        "gbk",
    )
    ballots = _write(tmp_path, "票.csv", "房屋编号,表决意见\n101,同意\n102,反对\n201,同意\n", "gbk")
    code, out, _err = _run(
        capsys, "tally", "--roster", roster, "--ballots", ballots, "--rule", "double-two-thirds", "--json"
    )
    assert code == 0
    assert json.loads(out)["agree"] == {"area_m2": "240.00", "headcount": 2}


def test_readable_table_in_chinese_by_default_and_english_on_request(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        monkeypatch.delenv(var, raising=False)
    roster = _write(tmp_path, "roster.csv", ROSTER_A)
    ballots = _write(tmp_path, "ballots.csv", "unit_id,choice\n202,agree\n")
    args = ("tally", "--roster", roster, "--ballots", ballots, "--rule", "double-two-thirds")
    _code, zh, _err = _run(capsys, *args)
    assert "结果：未通过" in zh
    assert "还差 1 户、20.00 m²" in zh
    _code, en, _err = _run(capsys, "--lang", "en", *args)
    assert "Result: NOT PASSED" in en
    assert "1 more owner and 20.00 m² needed" in en
    monkeypatch.setenv("LANG", "en_US.UTF-8")
    _code, en_env, _err = _run(capsys, *args)
    assert "Result: NOT PASSED" in en_env


def test_bad_roster_exits_2_naming_file_row_and_fix(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    roster = _write(tmp_path, "roster.csv", "unit_id,area_m2\n101,60.00\n102,-5\n103,60.123\n101,70\n")
    ballots = _write(tmp_path, "ballots.csv", "unit_id,choice\n101,agree\n")
    code, out, err = _run(
        capsys, "--lang", "en", "tally", "--roster", roster, "--ballots", ballots, "--rule", "double-two-thirds"
    )
    assert code == 2
    assert out == ""
    assert f"{roster}, row 3" in err and "must be more than 0" in err
    assert f"{roster}, row 4" in err and "more than two decimals" in err
    assert f"{roster}, row 5" in err and "already in row 2" in err


def test_bad_ballot_exits_2_in_chinese(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    roster = _write(tmp_path, "roster.csv", ROSTER_A)
    ballots = _write(tmp_path, "ballots.csv", "unit_id,choice\n999,agree\n101,yes\n")
    code, _out, err = _run(
        capsys, "--lang", "zh_CN", "tally", "--roster", roster, "--ballots", ballots, "--rule", "double-two-thirds"
    )
    assert code == 2
    assert "第 2 行：房屋“999”不在名册中" in err
    assert "第 3 行：表决意见“yes”无法识别" in err


def test_unknown_rule_and_missing_file_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    roster = _write(tmp_path, "roster.csv", ROSTER_A)
    code, _out, err = _run(
        capsys,
        "--lang",
        "en",
        "tally",
        "--roster",
        roster,
        "--ballots",
        str(tmp_path / "nope.csv"),
        "--rule",
        "double-two-thirds",
    )
    assert code == 2 and "no such file" in err
    ballots = _write(tmp_path, "ballots.csv", "unit_id,choice\n101,agree\n")
    code, _out, err = _run(
        capsys, "--lang", "en", "tally", "--roster", roster, "--ballots", ballots, "--rule", "majority"
    )
    assert code == 2 and "double-two-thirds" in err


def test_custom_rule_file_chains_a_plan_approval_rate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rule = _write(
        tmp_path,
        "hz.toml",
        'name = "hz"\nextends = "double-two-thirds"\n[[conditions]]\n'
        'kind = "approval"\nthreshold = "2/3"\nbase = "participating"\n',
    )
    roster = _write(tmp_path, "roster.csv", ROSTER_A)
    ballots = _write(tmp_path, "ballots.csv", "unit_id,choice\n101,agree\n102,disagree\n201,agree\n")
    code, out, _err = _run(capsys, "tally", "--roster", roster, "--ballots", ballots, "--rule", rule, "--json")
    data = json.loads(out)
    assert code == 0 and data["rule"] == "hz" and len(data["conditions"]) == 2 and data["passed"]


def test_the_installed_console_script_runs(tmp_path: Path) -> None:
    """The `renovote` entry point itself, as a newcomer would call it."""
    roster = _write(tmp_path, "roster.csv", ROSTER_A)
    ballots = _write(tmp_path, "ballots.csv", "unit_id,choice\n101,agree\n")
    script = Path(sys.executable).with_name("renovote")
    proc = subprocess.run(
        [str(script), "tally", "--roster", roster, "--ballots", ballots, "--rule", "eighty-percent", "--json"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "LANG": "C.UTF-8"},
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["passed"] is False
