"""Temporal workflow definitions only: deterministic, sandbox-safe."""
