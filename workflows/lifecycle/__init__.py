"""Each side's case lifecycle as a pure, typed model: phases, triggers, the transition table,
the state a workflow keeps (and carries across continue-as-new) and the terminal pairs.

No I/O imports anywhere in this package: the workflows import it inside the Temporal sandbox,
and the convergence test runs the very same code without a server.
"""
