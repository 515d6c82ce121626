"""The checks library: does a work's file meet the campaign's rules?

Pure library (no aiogram, no database): the bot, the CLI (`kepubot check`, `python -m bot.checks`)
and the tests call the same functions.

    from bot.campaign import load_campaign
    from bot.checks import check, check_files

    campaign = load_campaign()
    report = check("work.mp4", "video", campaign, declared={"originality_declared": True})
    report.ok, report.errors, report.to_dict()
    check_files(["p1.png", "p2.png"], "comics", campaign, declared={"knowledge_points": 2, ...})
    stored = check("h5.zip", "h5", campaign, {"pages": 8}, files_only=True).to_dict()
    rejudge(stored, "h5", campaign, {"pages": 6})   # the creator changed the form: no file needed

Rules (thresholds, titles, hints) come only from the campaign file; the texts for problems that are
not rules (empty file, wrong type, unsafe zip …) are in bot/checks/messages.py. Heavy imports
(pymediainfo's library, python-docx, Pillow, pypdf) happen on first use.
"""

from bot.checks.core import MEASURED_METRICS, check, check_files, evaluate, problem_report, rejudge
from bot.checks.media import image_metrics, video_metrics
from bot.checks.report import Item, Report
from bot.checks.text import count_chars, strip_markdown

__all__ = [
    "MEASURED_METRICS",
    "Item",
    "Report",
    "check",
    "check_files",
    "count_chars",
    "evaluate",
    "image_metrics",
    "problem_report",
    "rejudge",
    "strip_markdown",
    "video_metrics",
]
