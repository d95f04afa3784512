"""The unit of work: several store operations that commit together or not at all.

As pyeventsourcing's recorders take the caller's cursor, every store here belongs to one
`Transaction`: the inbox row, its message-log entry and its receipt commit together; so do a
case's status and the outbox rows announcing it. `Stores` opens transactions.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Protocol

from events.stores.cases import CaseStore
from events.stores.exchange import Inbox, LogAnchors, MessageLog, Outbox, Quarantine
from events.stores.files import Blobs, CaseFiles

if TYPE_CHECKING:  # settlement needs ContentRefused from here
    from events.stores.settlement import SettlementLedger


class ContentRefused(Exception):
    """The store refuses a value itself (as Postgres refuses a NUL in text: SQLSTATE 22/23),
    while the store as such works. Retrying the same value cannot help."""


class Transaction(Protocol):
    @property
    def cases(self) -> CaseStore: ...

    @property
    def outbox(self) -> Outbox: ...

    @property
    def inbox(self) -> Inbox: ...

    @property
    def quarantine(self) -> Quarantine: ...

    @property
    def message_log(self) -> MessageLog: ...

    @property
    def anchors(self) -> LogAnchors: ...

    @property
    def blobs(self) -> Blobs: ...

    @property
    def files(self) -> CaseFiles: ...

    @property
    def settlement(self) -> SettlementLedger: ...

    def savepoint(self) -> AbstractAsyncContextManager[None]:
        """A nested unit: an exception out of it undoes what was done inside it only."""


class Stores(Protocol):
    def transaction(self) -> AbstractAsyncContextManager[Transaction]:
        """Commits when the block ends, rolls back when it raises. For a part of it that
        may fail alone, use the transaction's `savepoint()`, not a second transaction."""

    def pinned(self) -> AbstractAsyncContextManager[Stores]:
        """The same stores on one connection for a while (a batch), where that matters."""

    def outbox_wakeups(
        self, wake: Callable[[], None]
    ) -> AbstractAsyncContextManager[Callable[[], bool]]:
        """Call `wake` after each commit that added or unsent outbox rows, while open.
        Yields `listening()`: False once the wake-ups stopped for good (their connection was
        dropped, say by a restarted database), when `wake` is called once more so that the
        caller takes them anew. A single wake-up may still be lost: callers poll as well."""
