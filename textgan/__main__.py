"""`python -m textgan` is the same as the `textgan` command."""

from textgan.cli import main

raise SystemExit(main())
