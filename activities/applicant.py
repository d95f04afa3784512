"""The applicant of a case, opened from the box the region holds it in (sealed for itself at
A, sealed for it by A at B). Only for the call that needs it; never logged, never returned."""

from __future__ import annotations

from collections.abc import Mapping

from events.credentials import RegionCredentials
from events.models import Applicant, SealedBox
from events.sealing import open_box


def open_applicant(
    credentials: RegionCredentials, case_no: str, sealed: Mapping[str, object]
) -> Applicant:
    box = SealedBox.model_validate(sealed)
    opened = open_box(box, case_no=case_no, private_key=credentials.own_sealing_key(box.key_id))
    return Applicant.model_validate_json(opened)
