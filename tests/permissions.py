"""Whether file modes stop this process: not for root (CI), so tests of unreadable or
read-only folders run only where they can mean something."""

from __future__ import annotations

import tempfile
from pathlib import Path


def permissions_apply() -> bool:
    """False for root (and anyone else who writes into a folder whatever its mode)."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "ro"
        folder.mkdir(mode=0o555)
        try:
            (folder / "x").touch()
            return False
        except PermissionError:
            return True
        finally:
            folder.chmod(0o755)
