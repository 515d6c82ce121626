"""`kepubot check FILE [FILE…] --category ID [--json] [--declare KEY=VALUE …] [--campaign PATH]`

Prints the report as a table (✅ pass, ❌ error, ⚠️ warning, 💡 advice, ❔ unknown) or as JSON.
Exit code: 0 the files pass, 1 some error-level item failed or is unknown, 2 usage problem
(unknown category, missing file, bad --declare, unreadable campaign file).

Without --declare only the files are checked (declared rules such as the originality declaration
are left out, and the footer names them with their keys); estimates from the package are still
compared with the rules' minimums (an H5 zip with 3 HTML files and no page sections: "3个页面文件，少于
6页", a warning). With any --declare every declared rule is judged, and missing answers count as
unknown, as in the bot (the footer names the keys still missing). Values are JSON when they parse as
JSON (2, true, ["光的折射", "彩虹"]), else text ("是", "否" also work for yes/no rules).

One file is checked in a child process with a time and memory budget (--seconds, --memory-mb; as the
bot does, bot/checks/isolated.py): a file over it gets the verdict "文件过大/过于复杂，无法检查"
(file.too_complex) instead of a command that runs for minutes. The child is forked from this
process (it has imported nothing heavy), so a small file still takes a fraction of a second. A
series of files (comics) is checked here, within the library's own limits.
"""

from __future__ import annotations

import argparse
import json
import sys
import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.checks import messages as msg
from bot.checks.core import MEASURED_METRICS, check_files
from bot.checks.report import Item, Report

if TYPE_CHECKING:
    from bot.campaign import Rule

__all__ = ["declare_footer", "main", "render_text"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="kepubot check",
        description="检查作品文件是否符合征集要求（规则来自活动配置文件）。",
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="作品文件；漫画/挂图系列可给多个")
    p.add_argument(
        "--category", "-c", required=True, metavar="ID", help="申报类别 id，例如 video、article、comics"
    )
    p.add_argument("--json", action="store_true", help="输出 JSON")
    p.add_argument(
        "--declare",
        "-d",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="申报表中填写的值，例如 originality_declared=true、knowledge_points=2、pages=6",
    )
    p.add_argument("--campaign", metavar="PATH", help="活动配置文件（默认 content/campaign.toml）")
    p.add_argument("--seconds", type=float, default=20.0, metavar="S", help="检查一个文件最多用时（秒，默认20）")
    p.add_argument("--memory-mb", type=int, default=1024, metavar="MB", help="检查一个文件最多用的内存（MB，默认1024）")
    return p


def _parse_declared(pairs: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(pair)
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value.strip()
    return out


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2); argparse already printed
        return int(exc.code) if isinstance(exc.code, int) else 2

    from bot.campaign import DEFAULT_CAMPAIGN_PATH, CampaignError, load_campaign

    try:
        campaign = load_campaign(args.campaign or DEFAULT_CAMPAIGN_PATH)
    except CampaignError as exc:
        print(f"kepubot check: {exc}", file=sys.stderr)
        return 2

    category = next((c for c in campaign.categories if args.category in (c.id, c.name)), None)
    if category is None:
        print(f"kepubot check: 未知的类别 {args.category!r}。可用的类别：", file=sys.stderr)
        for c in campaign.categories:
            print(f"  {c.id:<24} {c.name}（{c.group}）", file=sys.stderr)
        return 2

    try:
        declared = _parse_declared(args.declare)
    except ValueError as bad:
        print(f"kepubot check: --declare 需要 键=值 的形式，收到 {bad}", file=sys.stderr)
        return 2
    rules = campaign.rules_for(category)
    declared_metrics = {r.metric for r in rules if r.metric not in MEASURED_METRICS}
    for key in declared:
        if key not in declared_metrics:
            known = ", ".join(sorted(declared_metrics)) or "（无）"
            print(
                f"kepubot check: 提示：类别 {category.id} 没有用到 {key}（可申报的键：{known}）",
                file=sys.stderr,
            )

    missing = [f for f in args.files if not Path(f).is_file()]
    if missing:
        for f in missing:
            print(f"kepubot check: 找不到文件：{f}", file=sys.stderr)
        return 2

    if args.seconds <= 0 or args.memory_mb <= 0:
        print("kepubot check: --seconds 和 --memory-mb 需要大于0", file=sys.stderr)
        return 2
    if len(args.files) == 1:
        report = _check_isolated(args.files[0], category, campaign, declared, not args.declare,
                                 args.seconds, args.memory_mb)
    else:
        report = check_files(args.files, category, campaign, declared, files_only=not args.declare)
    if args.json:
        print(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
    else:
        declared_rules = [r for r in rules if r.metric not in MEASURED_METRICS]
        print(render_text(report, declare_footer(report, declared_rules)))
    return 0 if report.ok else 1


def _check_isolated(path: str, category: Any, campaign: Any, declared: dict[str, Any], files_only: bool,
                    seconds: float, memory_mb: int) -> Report:
    """check() in a child process with a budget (bot/checks/isolated.py). The child is forked from
    here rather than from the fork server the bot uses: this process is single-threaded and has
    imported only the checks library, and starting the fork server (which preloads python-docx,
    pypdf, Pillow and MediaInfo) would cost some 0.3 s on every run."""
    import multiprocessing

    from bot.checks import isolated

    if "fork" in multiprocessing.get_all_start_methods():
        isolated.use_start_method("fork")
    return isolated.check_isolated_sync(path, category, campaign, declared, files_only=files_only,
                                        budget=isolated.Budget(seconds=seconds, memory_mb=memory_mb))


def declare_footer(report: Report, declared_rules: list[Rule]) -> list[str]:
    """Footer lines naming the keys one may declare for the category ("originality_declared=true
    原创声明"): when only the files were checked, or when some declared rules stayed unknown
    (missing or unreadable answers), first the keys still needed."""
    keys: dict[str, Rule] = {}
    for rule in declared_rules:
        keys.setdefault(rule.metric, rule)
    if not keys:
        return []

    def described(metrics: list[str]) -> str:
        parts = []
        for metric in metrics:
            rule = keys[metric]
            example = msg.DECLARE_EXAMPLE["bool" if isinstance(rule.value, bool) else "number"]
            parts.append(msg.DECLARE_KEY.format(key=metric, example=example, title=rule.title))
        return "；".join(parts)

    if report.files_only:
        return [msg.FILES_ONLY_NOTE.format(keys=described(list(keys)))]
    unknown = {it.rule_id for it in report.items if it.status == "unknown"}
    missing = [m for m in keys if any(r.metric == m and r.id in unknown for r in declared_rules)]
    if not missing:
        return []
    return [msg.DECLARE_MISSING.format(keys=described(missing)), msg.DECLARE_KEYS.format(keys=described(list(keys)))]


# --------------------------------------------------------------------------- text rendering


def _width(text: str) -> int:
    w = 0
    for ch in text:
        if unicodedata.combining(ch) or ch in "\ufe0f\u200d":
            continue
        w += 2 if unicodedata.east_asian_width(ch) in "WF" else 1
    return w


def _pad(text: str, width: int) -> str:
    return text + " " * max(0, width - _width(text))


def _icon(item: Item) -> str:
    if item.status == "fail":
        return msg.FAIL_ICONS[item.level]
    return msg.STATUS_ICONS[item.status]


def render_text(report: Report, footer: list[str] | None = None) -> str:
    """The compact terminal table, then the footer's lines (see declare_footer)."""
    series = len(report.files) > 1
    lines = [f"类别：{report.category_name}（{report.category}）"]
    if series:
        lines.append(f"文件：{report.detected_type}")
    else:
        lines.append(f"文件：{report.files[0]} — {report.detected_type}")
    lines.append("")
    rows = []
    for it in report.items:
        measured = f"{it.file}：{it.measured_text}" if series and it.file else it.measured_text
        rows.append((it, it.title, measured, it.expected))
    tw = min(max((_width(r[1]) for r in rows), default=4), 36)
    mw = min(max((_width(r[2]) for r in rows), default=4), 44)
    lines.append(f"   {_pad('检查项', tw)}  {_pad('实测', mw)}  要求")
    for it, title, measured, expected in rows:
        lines.append(f"{_icon(it)} {_pad(title, tw)}  {_pad(measured, mw)}  {expected}".rstrip())
        if it.status != "pass" and it.hint:
            lines.append(f"     ↳ {it.hint}")
    lines.append("")
    counts = msg.SUMMARY_COUNTS.format(
        errors=len(report.errors), warnings=len(report.warnings), notes=len(report.notes)
    )
    verdict = f"✅ {msg.SUMMARY_OK}" if report.ok else f"❌ {msg.SUMMARY_FAIL}"
    lines.append(f"结果：{verdict}（{counts}）")
    lines.extend(footer or [])
    return "\n".join(lines)
