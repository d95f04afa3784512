"""Why an incoming record was refused. Every rejection is quarantined with one of these."""

from __future__ import annotations

from enum import StrEnum


class RejectReason(StrEnum):
    MALFORMED = "malformed"
    OVERSIZE = "oversize"
    UNSUPPORTED_VERSION = "unsupported-version"
    UNKNOWN_REGION = "unknown-region"
    UNKNOWN_KEY = "unknown-key"
    KEY_EXPIRED = "key-expired"
    KEY_REVOKED = "key-revoked"
    BAD_SIGNATURE = "bad-signature"
    WRONG_RECIPIENT = "wrong-recipient"
    SENDER_NOT_ENTITLED = "sender-not-entitled"
    CLOCK_SKEW = "clock-skew"
    TOO_OLD = "too-old"
    # A receipt that names no business event this node sent, or one it sent elsewhere or
    # with other bytes: either a forgery or a confused peer, never proof of delivery.
    RECEIPT_UNKNOWN_EVENT = "receipt-unknown-event"
    RECEIPT_MISMATCH = "receipt-mismatch"
    # A CloudEvents `type` this node does not know: a newer peer, or noise.
    UNKNOWN_TYPE = "unknown-type"
    # `source`, `data.case_no` or `data.origin_region` disagree with the signed header fields.
    INCONSISTENT = "inconsistent"
    # The same (sender, event id) again with other bytes: never taken as the original.
    CONFLICTING_DUPLICATE = "conflicting-duplicate"
    # The trust directory in force is past its `valid_until`: nothing can be verified.
    DIRECTORY_EXPIRED = "directory-expired"
    # A material chunk whose bytes do not match its own digest or the case file's manifest,
    # or a file whose assembled chunks do not match the material's digest.
    MATERIAL_MISMATCH = "material-mismatch"
    # A material chunk that cannot be opened with this region's sealing key.
    MATERIAL_UNREADABLE = "material-unreadable"
    # Verified, but the database refused its content (e.g. a NUL in a text field).
    UNSTORABLE = "unstorable"


class Rejected(Exception):
    """A record failed verification. `detail` never carries personal data.

    `sender` is the region the record claims to come from, once that much could be read:
    unverified, it only labels metrics so that a flood from one place shows as such."""

    def __init__(self, reason: RejectReason, detail: str, sender: str | None = None) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.sender = sender
