"""Named stores: the node's persistence behind interfaces, with Postgres and in-memory
implementations (decision 0020).

Self-contained on purpose: these modules import nothing else of the project, so they can be
moved as one package. `unit`, `exchange` and `cases` are pure interfaces; `postgres` and
`memory` implement them.
"""
