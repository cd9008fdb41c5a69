"""Where the Kernel Dojo checkout is."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the checkout: problems/, reference/, solutions/
