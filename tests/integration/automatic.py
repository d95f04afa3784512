"""Nodes whose policies take every step, for tests about the exchange rather than people.

A node's default is that people decide (decision 0024); a test that needs cases to run to their
end on their own says so by starting its nodes with `AUTOMATIC_ENV` and submitting at A with
`AUTOMATIC_POLICIES`."""

from __future__ import annotations

from regions.policies import CasePolicies

AUTOMATIC_POLICIES = CasePolicies.automatic()
AUTOMATIC_ENV = {"TONGBAN_NODE_POLICIES": AUTOMATIC_POLICIES.model_dump_json()}
