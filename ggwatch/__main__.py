"""`python -m ggwatch` is the `ggwatch` command."""

from ggwatch.cli import main

raise SystemExit(main())
