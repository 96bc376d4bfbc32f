"""`python -m skipcall_bridge.cli`: the `skipcall-bridge` command."""

from skipcall_bridge.cli.main import main

raise SystemExit(main())
