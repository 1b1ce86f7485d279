"""Make the repository root importable so tests can use ``bench`` (it is not installed)."""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    # Appended, not prepended: an installed ``tessera`` must win over the source folder.
    sys.path.append(ROOT)
