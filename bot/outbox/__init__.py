"""The outbox: messages to people other than the one who wrote go through a table, written in the
update's transaction and delivered after it commits.

- queue.py: the rows (enqueue, bulk enqueue, due, claim, held, ...): domain code, no aiogram;
- payloads.py: what a row carries by kind ("message", "copy") and `notify`/`relay` to queue one;
- sender.py: `OutboxSender` delivers due rows within Telegram's limits (imports aiogram: import it
  from there, so importing this package stays light)."""

from bot.outbox.payloads import Attachment, notify, relay

__all__ = ["Attachment", "notify", "relay"]
