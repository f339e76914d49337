from __future__ import annotations

from llmops.cli import main

raise SystemExit(main())
