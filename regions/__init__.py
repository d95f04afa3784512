"""Region codes, node settings, the regional node process, the CLI."""
