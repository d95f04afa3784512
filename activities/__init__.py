"""Activity classes with injected dependencies (db pool, signer, outbox)."""
