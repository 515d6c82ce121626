"""python -m bot.sandbox [options]: same as `kepubot sandbox`."""

import sys

from .cli import main

sys.exit(main(sys.argv[1:]))
