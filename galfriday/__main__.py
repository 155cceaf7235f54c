"""``python -m galfriday``: the same as the ``galfriday`` command."""

from __future__ import annotations

from galfriday.cli import main

raise SystemExit(main())
