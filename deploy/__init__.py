"""The local stack and the deploy files it runs: Python under stack/, configs beside it."""
