"""Sandbox Telegram: a local Bot API emulator, its control client and the `kepubot sandbox` command.

Importing this package does not import aiogram.
"""

from .client import SandboxClient, SandboxError, User, WaitTimeout
from .emulator import Emulator
from .http import create_app, start_server

__all__ = ["Emulator", "SandboxClient", "SandboxError", "User", "WaitTimeout", "create_app", "start_server"]
