"""Fault-injection suite: a mixed workload through the window API while things break."""
