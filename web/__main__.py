"""`python -m web` runs the `meetagain` command line."""

from web.cli import main

main()
