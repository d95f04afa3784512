"""Legal documents a region issues to the applicant: models, PDF rendering, PAdES signing and
verification under the national root (decision 0025). No module here imports anything with
side effects at import time.
"""
