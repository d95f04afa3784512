"""The node writes the workflow modules' bytecode at start, so the sandbox's per-run imports
read it instead of compiling the source again (BENCHMARKS.md, "Where the time goes")."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import workflows.intake
import workflows.processing
from workflows.registry import write_bytecode


def test_bytecode_is_written_for_the_sandboxed_modules() -> None:
    modules = (workflows.intake, workflows.processing)
    for module in modules:
        assert module.__file__ is not None
        Path(importlib.util.cache_from_source(module.__file__)).unlink(missing_ok=True)
    assert write_bytecode()
    for module in modules:
        assert module.__file__ is not None
        assert Path(importlib.util.cache_from_source(module.__file__)).is_file()
