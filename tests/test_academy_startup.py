"""A broken lesson stops start-up with one line naming the file and the key."""

from __future__ import annotations

import pytest

from bot import __main__ as cli
from bot import app as app_module
from bot.config import load_settings
from bot.services.academy import CurriculumError


def test_a_broken_lesson_stops_the_app_naming_file_and_key(tmp_path, monkeypatch, capsys):
    (tmp_path / "01_x.md").write_text('+++\nslug = "x"\ntitle = "标题"\norder = 1\nminutes = "五"\n+++\n正文', "utf-8")
    monkeypatch.setattr(app_module, "ACADEMY", tmp_path)
    settings = load_settings(bot_token="1:a", database_url=f"sqlite+aiosqlite:///{tmp_path}/db.sqlite3",
                             _env_file=None)
    with pytest.raises(CurriculumError) as caught:
        app_module.build_app(settings)
    assert caught.value.file == "01_x.md" and caught.value.key == "minutes"

    monkeypatch.setenv("BOT_TOKEN", "1:a")
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/db.sqlite3")
    monkeypatch.setattr(cli, "cmd_run", lambda args: app_module.build_app(settings))
    assert cli.main(["run"]) == 2
    assert "01_x.md: minutes:" in capsys.readouterr().err
