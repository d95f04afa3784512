"""Operator tools: the cross-region case timeline, case search, and the node's gauges."""
