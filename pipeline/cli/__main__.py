"""`python -m pipeline.cli` runs the `flowlogs` command."""

from pipeline.cli import main

main()
