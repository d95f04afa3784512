"""The window HTTP API (FastAPI): clerks' and officers' steps, case views, probes."""
