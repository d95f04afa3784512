"""docs/lifecycle.md is what the lifecycle models generate, and the models are consistent."""

from __future__ import annotations

from workflows.lifecycle import doc, intake, processing


def test_the_lifecycle_document_is_generated_from_the_models() -> None:
    assert doc.DOC.read_text(encoding="utf-8") == doc.render(), (
        "docs/lifecycle.md differs from the models: run python -m workflows.lifecycle.doc"
    )


def test_every_phase_is_a_status_with_a_label_and_every_trigger_is_explained() -> None:
    for side in (intake, processing):
        statuses = {s.value for s in side.Status}
        assert {p.value for p in side.Phase} <= statuses
        assert set(side.LABELS) == set(side.Status)
        assert set(side.TRIGGER_LABELS) == set(side.On)
        for row in side.TABLE.rows:
            assert set(row.steps) <= statuses
            assert row.trigger in side.HANDLERS
            # A move ends in the status of the phase it moves to.
            if row.steps:
                assert row.steps[-1] == row.next.value


def test_every_phase_but_the_last_has_a_way_on() -> None:
    for side in (intake, processing):
        leaving = {row.phase for row in side.TABLE.rows if row.next != row.phase}
        assert leaving == set(side.Phase) - side.TERMINAL
