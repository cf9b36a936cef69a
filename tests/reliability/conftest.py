"""Reliability tests: the decoders under fire (pure), and a worker under fire (real broker).

The end-to-end tests talk to workers through the contract only, with the
integration tests' client (``tests/integration/contract_client.py``), so that
folder is put on the import path; the broker is the session's
(``tests/conftest.py``).
"""

from __future__ import annotations

import sys
from pathlib import Path

_INTEGRATION = str(Path(__file__).resolve().parents[1] / "integration")
if _INTEGRATION not in sys.path:
    sys.path.insert(0, _INTEGRATION)
