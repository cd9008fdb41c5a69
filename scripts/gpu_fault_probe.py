"""Where does a CUDA fault in a CuPy-launched attempt stall? Runs writes_far_out_of_bounds.py's
transpose in this process step by step (launch, sync, IPC export, next call), each step timed,
with stack dumps every 15 s; then `dojo check` on it with the harness's stacks dumped by pytest's
faulthandler_timeout. Usage on a GPU: OUT=... python3 scripts/gpu_fault_probe.py"""

import faulthandler
import importlib.util
import os
import subprocess
import sys
import time

import torch

faulthandler.dump_traceback_later(15, repeat=True)
out_dir = os.environ.get("OUT", "/tmp/out")
path = "tests/sandbox/bad_attempts/writes_far_out_of_bounds.py"


def step(name, fn):
    t0 = time.monotonic()
    try:
        r = fn()
        print(f"{name}: ok in {time.monotonic() - t0:.2f} s", flush=True)
        return r
    except BaseException as e:  # noqa: BLE001
        print(
            f"{name}: {type(e).__name__} in {time.monotonic() - t0:.2f} s: {str(e)[:300]}",
            flush=True,
        )


if sys.argv[1:] == ["inproc"]:
    spec = importlib.util.spec_from_file_location("far", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    x = torch.randn(64, 48, device="cuda")
    out = step("launch", lambda: mod.transpose(x))
    step("synchronize", torch.cuda.synchronize)
    from torch.multiprocessing.reductions import reduce_tensor

    step("ipc export of the output", lambda: reduce_tensor(out))
    step("second call", lambda: mod.transpose(x))
    step("empty", lambda: torch.empty(4, device="cuda"))
    step("empty_cache", torch.cuda.empty_cache)
    print("exiting", flush=True)
    sys.exit(0)

t0 = time.monotonic()
r = subprocess.run([sys.executable, __file__, "inproc"], capture_output=True, text=True, timeout=90)
print(f"in-process probe: exit {r.returncode} after {time.monotonic() - t0:.1f} s")
print(r.stdout[-3000:], r.stderr[-4000:])
cmd = [
    sys.executable,
    "-m",
    "pytest",
    "problems/smem_transpose/test_smem_transpose.py",
    "--impl",
    path,
    "-x",
    "-q",
    "--noconftest",
    "-p",
    "grader.harness.plugin",
    "-p",
    "no:cacheprovider",
    "-o",
    "faulthandler_timeout=25",
    "--hypothesis-profile=ci",
    "--tb=short",
]
t0 = time.monotonic()
try:
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    print(f"harness pytest: exit {r.returncode} after {time.monotonic() - t0:.1f} s")
    text = r.stdout + r.stderr
except subprocess.TimeoutExpired as e:
    print(f"harness pytest: killed after {time.monotonic() - t0:.1f} s")
    text = (e.stdout or b"").decode() + (e.stderr or b"").decode()
open(f"{out_dir}/fault_probe_pytest.txt", "w").write(text)
print(text[-6000:])
