"""Sinks: where the daemon's view goes out — metrics, log events, cleanup, archive.

Each sink only reads `ggwatch.state.StateHolder.view` (or the events derived from it); none
calls AWS.
"""
