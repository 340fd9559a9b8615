"""Guarded cleanup of stale deployments: the pure policy, the executor that acts on it, and the
daemon's wiring of both (stage)."""
