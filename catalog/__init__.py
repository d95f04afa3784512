"""The standardized service catalog (五级十五同): item models, seed data, resolution by region.

Imports nothing on purpose: `catalog.models` must stay importable inside the Temporal
workflow sandbox, and the loader in `catalog.catalog` reads files.
"""
