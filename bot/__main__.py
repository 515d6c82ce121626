"""Command line: `kepubot run | migrate | sandbox | check`. Imports stay inside the commands so a light
command never pays for aiogram."""

from __future__ import annotations

import argparse
import asyncio
import sys


def _settings(need_token: bool):
    from bot.config import load_settings

    return load_settings(need_token=need_token)


def cmd_run(args: argparse.Namespace) -> int:
    from bot.campaign import load_campaign

    settings = _settings(need_token=True)
    load_campaign(settings.campaign_file)  # a bad campaign file stops us before any connection
    from bot.logs import setup_logging

    setup_logging(settings.log_level, settings.secret_values(), log_sql=settings.log_sql)
    from bot.app import run
    from bot.preflight import check_services, secure_data_dir

    secure_data_dir(settings)

    async def start() -> None:
        await check_services(settings)  # a SettingsError here is one line and exit code 2
        await run(settings, intake=args.command != "worker")

    try:
        asyncio.run(start())
    except KeyboardInterrupt:
        pass
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from bot.config import async_db_url, mask_url
    from storage.migrate import downgrade, upgrade

    settings = _settings(need_token=False)
    url = async_db_url(settings.effective_database_url)
    if args.down:
        downgrade(url, args.down)
    else:
        upgrade(url, args.revision)
    print(f"database {mask_url(url)} migrated to {args.down or args.revision}")
    return 0


def cmd_sandbox(args: argparse.Namespace, rest: list[str]) -> int:
    from bot.sandbox.cli import main as sandbox_main

    return sandbox_main(rest)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="kepubot", description="科普号创作助手")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="run the bot (polling, or webhook when WEBHOOK_URL is set)")
    sub.add_parser("worker", help="handle updates from the shared inbox only (more processes on PostgreSQL)")
    migrate = sub.add_parser("migrate", help="apply database migrations")
    migrate.add_argument("revision", nargs="?", default="head")
    migrate.add_argument("--down", metavar="REV", help="downgrade to REV instead")
    sub.add_parser("sandbox", help="a local Telegram to try the bot without a token (see --help)", add_help=False)
    sub.add_parser("check", help="check files against a category's rules: check FILE --category video", add_help=False)
    args, rest = parser.parse_known_args(argv)
    if args.command == "check":  # before the other imports: a check must start fast
        from bot.checks.cli import main as check_main

        return check_main(rest)

    from bot.campaign import CampaignError
    from bot.config import SettingsError
    from bot.services.academy import CurriculumError

    try:
        if args.command == "sandbox":
            return cmd_sandbox(args, rest)
        if rest:
            parser.error(f"unrecognized arguments: {' '.join(rest)}")
        return {"run": cmd_run, "worker": cmd_run, "migrate": cmd_migrate}[args.command](args)
    except (SettingsError, CampaignError, CurriculumError) as exc:
        print(f"kepubot: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
