"""Sinks: where findings and the daemon's view go out — Prometheus metrics (a collector that
reads `ggwatch.state.StateHolder.view`) and the finding log (one line per finding event).

Neither calls AWS. The other ways out have their own stages: the HTTP face in ggwatch.web,
cleanup in ggwatch.cleanup, archives in ggwatch.archive.
"""
