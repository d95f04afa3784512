"""Fuzzing the inbound boundary: arbitrary bytes and mutated signed envelopes, fed through
`events.inbox.store_incoming` with the node's own verifier, as the inbox bridge feeds them.

`python -m tests.fuzz --minutes N` runs it for as long as asked; `test_boundary_fuzz.py`
runs a short, seeded round in the suite. Nothing it stores outlives its transaction.
"""
