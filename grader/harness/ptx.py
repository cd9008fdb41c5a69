"""Static checks on a CUDA implementation's PTX (compiled here with nvcc, no GPU needed):
required and forbidden instructions, over the whole file or one device function alone."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from grader.harness.checked import CheckedImpl, run_in_worker
from grader.problem.spec import StaticRule
from grader.runtime.cuda import STUB_MARKER, CudaSource, cuda_include
from grader.runtime.errors import ImplLoadError, NotAttempted

ARCH = "sm_90"
PROBE = "dojo_probe"
# Calls the device function alone so its instructions can be told apart from the kernel's.
_PROBE_SRC = (
    '\nextern "C" __global__ void ' + PROBE + "(float* p) "
    "{{ p[threadIdx.x] = {fn}(p[threadIdx.x]); }}\n"
)


def compile_ptx(source: CudaSource, extra: str = "") -> str:
    """nvcc -ptx for sm_90; a compile error raises ImplLoadError with nvcc's first error line."""
    if STUB_MARKER in source.text:
        raise NotAttempted(f"{source.path.name} still contains the {STUB_MARKER} line")
    nvcc = shutil.which("nvcc")
    if nvcc is None:
        pytest.skip("needs nvcc (the CUDA toolkit) to compile PTX for the static checks")
    with tempfile.TemporaryDirectory(prefix="dojo-ptx-") as tmp:
        cu, out = Path(tmp) / source.path.name, Path(tmp) / "out.ptx"
        cu.write_text(source.text + extra)
        cmd = [
            nvcc,
            "-ptx",
            f"-arch={ARCH}",
            "-std=c++17",
            "-O3",
            f"-I{cuda_include()}",
            *source.options,
            "-o",
            str(out),
            str(cu),
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            first = next((ln for ln in proc.stderr.splitlines() if "error" in ln), proc.stderr)
            raise ImplLoadError(f"nvcc: {first.replace(str(cu), source.path.name).strip()[:400]}")
        return out.read_text()


def function_body(ptx: str, name: str) -> str:
    """The PTX of entry/function `name` plus every .func it calls, recursively."""
    bodies = dict(_functions(ptx))
    seen, todo, out = set(), [name], []
    while todo:
        fn = todo.pop()
        if fn in seen or fn not in bodies:
            continue
        seen.add(fn)
        out.append(bodies[fn])
        todo.extend(re.findall(r"call(?:\.uni)?\s*(?:\([^)]*\),\s*)?([\w$]+)", bodies[fn]))
    return "\n".join(out)


def _functions(ptx: str):
    for m in re.finditer(
        r"^(?:\.visible\s+|\.weak\s+|\.extern\s+)*\.(?:entry|func)\s+(?:\([^)]*\)\s*)?([\w$]+)",
        ptx,
        re.M,
    ):
        end = ptx.find("\n}", m.end())
        yield m.group(1), ptx[m.start() : end + 2]


def check_rule(source: CudaSource, rule: StaticRule) -> None:
    """Raise AssertionError naming the rule and the offending or missing instructions."""
    if rule.function:
        ptx = function_body(compile_ptx(source, _PROBE_SRC.format(fn=rule.function)), PROBE)
        scope = f"{rule.function}()"
    else:
        ptx, scope = compile_ptx(source), source.path.name
    code = "\n".join(ln for ln in ptx.splitlines() if not ln.lstrip().startswith("//"))
    missing = [s for s in rule.require if s not in code]
    if rule.require_any and not any(s in code for s in rule.require_any):
        missing.append(" or ".join(rule.require_any))
    found = [s for s in rule.forbid if s in code]
    if missing or found:
        parts = ([f"missing {', '.join(missing)}"] if missing else []) + (
            [f"uses forbidden {', '.join(found)}"] if found else []
        )
        raise AssertionError(f"{rule.name}: the PTX of {scope} is {'; '.join(parts)}")


def source_of(impl: CheckedImpl) -> CudaSource:
    """The CudaSource a CUDA implementation exposes as SOURCE, rebuilt here from its file, its
    options and its patches (the worker only says which); skip for non-CUDA ones."""
    desc = run_in_worker(impl, describe_source)
    if desc is None:
        pytest.skip("not a CUDA implementation (no SOURCE = CudaSource(...)): no PTX to check")
    path, options, extra, patches = desc
    return CudaSource(path, tuple(options), extra, tuple(tuple(p) for p in patches))


def describe_source(module: object) -> tuple | None:
    """Runs in the worker: the module's SOURCE as plain data."""
    src = getattr(module, "SOURCE", None)
    if not isinstance(src, CudaSource):
        return None
    return str(src.path), list(src.options), src.extra, [list(p) for p in src.patches]
