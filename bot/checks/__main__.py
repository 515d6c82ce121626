"""`python -m bot.checks FILE … --category ID`: the same as `kepubot check`."""

from bot.checks.cli import main

raise SystemExit(main())
