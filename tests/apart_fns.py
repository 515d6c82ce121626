"""Functions tests/test_apart.py runs in a child process: the child imports this module to find
them, so it imports nothing heavy."""

from __future__ import annotations

import os
import time


def pid_and_square(n: int) -> tuple[int, int]:
    return os.getpid(), n * n


def refuse(reason: str) -> None:
    raise ValueError(reason)


def linger(seconds: float) -> None:
    time.sleep(seconds)
