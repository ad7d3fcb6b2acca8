"""``python -m gui [IMAGE]``."""

from gui.app import main

raise SystemExit(main())
