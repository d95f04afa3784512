"""Operators' tools: the cross-region case timeline, case search, the quarantine, parked
outgoing records and the message-log audit, as commands (`tongban case|audit|quarantine|outbox`)."""
