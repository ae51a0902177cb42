"""`python -m services.cli`: the `accord` command (how `accord up` starts each service)."""

import sys

from services.cli import main

sys.exit(main())
