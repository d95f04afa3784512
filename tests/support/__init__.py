"""Real stand-ins for the systems around a node (started by tests, never mocks)."""
