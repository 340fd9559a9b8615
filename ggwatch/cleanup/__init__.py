"""Guarded cleanup of stale deployments: the pure policy, and the executor that acts on it."""
