"""Where does a CUDA fault in a CuPy-launched attempt stall the check? (On an H200 `dojo check`
of writes_far_out_of_bounds.py ended `timeout`, while the same fault in-process surfaces in
0.2 s.) Runs the problem's tests on it through the harness with pytest's faulthandler dumping
the harness's stacks, then asks the stuck worker for its stacks (SIGUSR1, see
grader/harness/worker.py) and keeps its log.
Usage on a GPU: OUT=... python3 scripts/gpu_fault_probe.py"""

import glob
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

out_dir = os.environ.get("OUT", "/tmp/out")
path = "tests/sandbox/bad_attempts/writes_far_out_of_bounds.py"
sandbox = tempfile.mkdtemp(prefix="probe-")
cmd = [sys.executable, "-m", "pytest", "problems/smem_transpose/test_smem_transpose.py",
       "--impl", path, "-x", "-v", "--noconftest", "-p", "grader.harness.plugin",
       "-p", "no:cacheprovider", "-o", "faulthandler_timeout=20", "--hypothesis-profile=ci",
       "--tb=short"]  # fmt: skip
log = open(f"{out_dir}/fault_probe_pytest.txt", "w")
t0 = time.monotonic()
env = {**os.environ, "DOJO_SANDBOX_DIR": sandbox, "TMPDIR": sandbox}
proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env)
try:
    proc.wait(timeout=45)
    print(f"harness pytest: exit {proc.returncode} after {time.monotonic() - t0:.1f} s")
except subprocess.TimeoutExpired:
    print(f"harness pytest: still running after {time.monotonic() - t0:.1f} s; worker stacks:")
    subprocess.run(["pkill", "-USR1", "-f", "grader.harness.worker"], check=False)
    time.sleep(2)
    os.killpg(proc.pid, signal.SIGKILL)
for i, f in enumerate(glob.glob(f"{sandbox}/**/worker.log", recursive=True)):
    shutil.copy(f, f"{out_dir}/fault_probe_worker_{i}.log")
    print(f"== {f}\n{open(f).read()[-4000:]}")
log.close()
print(open(f"{out_dir}/fault_probe_pytest.txt").read()[-6000:])
