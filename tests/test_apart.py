"""Work done in a child process (bot/checks/isolated.py `run_apart`): the recommendation form is made
there (its python-docx time would hold the event loop, its memory would stay in the bot), and when
the child fails the form is still made."""

from __future__ import annotations

import io
import os
import time

import docx
import pytest

from bot.checks import isolated
from bot.checks.isolated import ApartFailed, Budget, run_apart
from bot.services import recommendation_form
from tests.apart_fns import linger, pid_and_square, refuse
from tests.test_registration import ANSWERS

VALUES = {**ANSWERS, "subject_type": "organisation", "phone": "+8613800138000", "recommender": "中国天文学会",
          "experience_file": None}


async def test_a_function_runs_in_a_child_and_its_result_comes_back():
    pid, square = await run_apart(pid_and_square, 12)
    assert square == 144 and pid != os.getpid()


async def test_a_child_that_raises_or_overruns_its_time_is_reported_not_awaited_forever():
    with pytest.raises(ApartFailed, match="ValueError: 不行"):
        await run_apart(refuse, "不行")
    started = time.monotonic()
    with pytest.raises(ApartFailed, match="no answer within 0.5 s"):
        await run_apart(linger, 30, budget=Budget(seconds=0.5))
    assert time.monotonic() - started < 10  # killed, not waited for


async def test_the_form_made_apart_is_the_form():
    made = docx.Document(io.BytesIO(await recommendation_form.build_apart(VALUES, needs_seal=True)))
    here = docx.Document(io.BytesIO(recommendation_form.build(VALUES, needs_seal=True)))
    cells = [[c.text for c in row.cells] for row in made.tables[0].rows]
    assert cells == [[c.text for c in row.cells] for row in here.tables[0].rows]
    assert "（单位公章）" in made.tables[0].rows[1].cells[1].text
    assert any(VALUES["account_name"] in text for row in cells for text in row)


async def test_when_the_child_fails_the_form_is_made_here(monkeypatch, caplog):
    async def broken(*args, **kwargs):
        raise ApartFailed("the child died without an answer (memory, or a crash)")

    monkeypatch.setattr(isolated, "run_apart", broken)
    made = docx.Document(io.BytesIO(await recommendation_form.build_apart(VALUES, needs_seal=False)))
    assert "（单位公章）" not in made.tables[0].rows[1].cells[1].text
    assert any(VALUES["account_name"] in c.text for row in made.tables[0].rows for c in row.cells)
    assert "made in the bot's own process" in caplog.text
