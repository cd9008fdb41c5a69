"""What a submit grades: a copy of the attempt's files (the .py and, for a CUDA problem, the .cu
files next to it) in the session folder, so the report shows exactly what was graded."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

_CU_NAME = re.compile(r"""["']([\w.-]+\.cuh?)["']""")  # a .cu file the launcher names


def take(source: Path, dest: Path, language: str) -> tuple[Path, list[str]]:
    """Copy `source` (and, for CUDA, every .cu/.cuh beside it) into the empty folder `dest`.
    Returns the copied .py and the .cu names the launcher mentions that are not in the copy."""
    if dest.exists():
        shutil.rmtree(dest)  # a submit cut short before the session recorded it
    dest.mkdir(parents=True)
    copied = dest / source.name
    shutil.copy2(source, copied)
    if language != "cuda":
        return copied, []
    for cu in sorted(source.parent.glob("*.cu*")):
        if cu.suffix in (".cu", ".cuh"):
            shutil.copy2(cu, dest / cu.name)
    named = set(_CU_NAME.findall(source.read_text(errors="replace")))
    return copied, sorted(n for n in named if not (dest / n).is_file())
