"""Implementations under test: parse `--impl`, find the file, import it, say why it failed."""

from __future__ import annotations

import difflib
import importlib.util
import sys
import traceback
import types
from dataclasses import dataclass
from pathlib import Path

from grader.problem.nulls import NULL_KINDS, null_module
from grader.problem.spec import Peer, Problem
from grader.runtime.device import best_device
from grader.runtime.errors import ImplLoadError
from grader.runtime.paths import ROOT

# solutions/<slug>/<stem>.py for each language; a problem may ship several backends
SOLUTION_STEMS = {"triton": "triton", "cuda": "cupy", "torch": "torch", "python": "python"}
STEM_LANGUAGE = {stem: lang for lang, stem in SOLUTION_STEMS.items()}


@dataclass(frozen=True, slots=True)
class ImplRef:
    """What `--impl` named: a label for reports, the file (None for generated nulls), a backend."""

    spec: str
    kind: str  # attempt | solution | reference | wrong | null | peer | path
    path: Path | None
    backend: str  # triton | cuda | torch | python

    @property
    def runs_triton(self) -> bool:
        return self.backend == "triton"

    @property
    def cli_arg(self) -> str:
        """How a child process is told which implementation to load (a path made absolute)."""
        return str(self.path) if self.kind == "path" else self.spec


def solution_backends(problem: Problem, root: Path = ROOT) -> list[str]:
    d = root / "solutions" / problem.slug
    names = sorted(p.stem for p in d.glob("*.py") if not p.stem.startswith(("wrong_", "_")))
    return [n for n in names if n in STEM_LANGUAGE]


def wrong_variants(problem: Problem, root: Path = ROOT) -> list[str]:
    d = root / "solutions" / problem.slug
    return sorted(p.stem.removeprefix("wrong_") for p in d.glob("wrong_*.py"))


def default_impls(problem: Problem, root: Path = ROOT) -> list[str]:
    """What a plain `pytest` checks: the reference and every shipped solution."""
    return ["reference"] + [f"solution:{b}" for b in solution_backends(problem, root)]


def resolve(problem: Problem, spec: str, root: Path = ROOT) -> ImplRef:
    """Map an --impl string to a file; ImplLoadError says what to do when it does not exist."""
    kind, _, arg = spec.partition(":")
    if spec.endswith(".py") or "/" in spec:
        path = Path(spec).expanduser().resolve()
        return ImplRef(spec, "path", _exists(path, spec), problem.language)
    if kind == "attempt" and not arg:
        return ImplRef(spec, kind, _exists(problem.path / "attempt.py", spec), problem.language)
    if kind == "reference" and not arg:
        return ImplRef(
            spec,
            kind,
            _exists(root / "reference" / f"{problem.slug}.py", spec),
            "torch" if problem.language != "python" else "python",
        )
    if kind == "solution":
        backends = solution_backends(problem, root)
        native = _device_solution(problem) or SOLUTION_STEMS[problem.language]
        stem = arg or (native if native in backends else backends[0] if backends else None)
        if stem not in backends:
            have = ", ".join(f"solution:{b}" for b in backends) or "none"
            raise ImplLoadError(f"no solution '{arg}' for {problem.slug} (have: {have})")
        return ImplRef(
            f"solution:{stem}",
            kind,
            root / "solutions" / problem.slug / f"{stem}.py",
            STEM_LANGUAGE[stem],
        )
    if kind == "wrong" and arg:
        path = root / "solutions" / problem.slug / f"wrong_{arg}.py"
        if not path.is_file():
            known = ", ".join(f"wrong:{w}" for w in wrong_variants(problem, root)) or "none"
            raise ImplLoadError(f"--impl {spec}: {problem.slug} has no such variant ({known})")
        return ImplRef(spec, kind, path, problem.language)
    if kind == "null" and arg in NULL_KINDS:
        return ImplRef(spec, kind, None, "torch")
    if kind == "peer" and arg:
        return _peer_ref(problem, spec, arg, root)
    raise ImplLoadError(
        f"--impl '{spec}' not understood: use attempt, solution[:backend], "
        f"reference, wrong:<bug>, null:{'|'.join(NULL_KINDS)}, peer:<name> or a path to a .py"
    )


def _peer_ref(problem: Problem, spec: str, name: str, root: Path) -> ImplRef:
    if name not in problem.peers:
        known = ", ".join(f"peer:{p}" for p in problem.peers) or "none"
        raise ImplLoadError(f"--impl {spec}: {problem.slug} declares no such peer ({known})")
    missing = peer_missing(problem.peers[name])
    if missing:
        raise ImplLoadError(f"--impl {spec}: {missing}")
    path = _exists(root / "reference" / "peers" / f"{problem.slug}.py", spec)
    return ImplRef(spec, "peer", path, "torch")


def peer_missing(peer: Peer) -> str:
    """Why a peer cannot load here ('liger_kernel is not installed ...'), or ''."""
    for module in peer.requires:
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            return f"{module} is not installed (an optional extra: pip install it to compare)"
    return ""


def _device_solution(problem: Problem) -> str | None:
    """The backend the perf section for this machine names (e.g. Triton on a GPU, where the
    PyTorch solution of a PyTorch problem is the readable one and the Triton one the fast one)."""
    device = best_device(problem.perf)
    return problem.perf[device].solution if device else None


def _exists(path: Path, spec: str) -> Path:
    if not path.is_file():
        raise ImplLoadError(f"--impl {spec}: {path} does not exist")
    return path


def load(problem: Problem, ref: ImplRef) -> types.ModuleType:
    """Import the implementation and check that it defines every entry function."""
    if ref.kind == "null":
        return null_module(problem, ref.spec.partition(":")[2])
    if ref.kind == "peer":
        return _peer_module(problem, ref)
    module = import_file(ref.path, f"dojo_impl_{problem.slug}_{ref.kind}_{ref.path.stem}")
    missing = [name for name in problem.entry if not callable(getattr(module, name, None))]
    if missing:
        raise ImplLoadError(
            f"{_short(ref.path)} defines no {' or '.join(missing)}{_near(module, missing)}: "
            f"the grader calls {problem.signature}"
        )
    return module


def _near(module: types.ModuleType, missing: list[str]) -> str:
    """' (it has rmsnorm: rename it?)' for a function named close to a missing entry."""
    have = [n for n, v in vars(module).items() if callable(v) and not n.startswith("__")]
    near = [m for name in missing for m in difflib.get_close_matches(name, have, n=1)]
    return f" (it has {', '.join(near)}: rename it?)" if near else ""


def _peer_module(problem: Problem, ref: ImplRef) -> types.ModuleType:
    """A module whose bench entry is the peer's function: a peer stands in for the entry that
    is benchmarked, and only for that one."""
    peer = problem.peers[ref.spec.partition(":")[2]]
    source = import_file(ref.path, f"dojo_peers_{problem.slug}")
    fn = getattr(source, peer.function, None)
    if not callable(fn):
        raise ImplLoadError(f"{_short(ref.path)} defines no {peer.function} (peers.{peer.name})")
    module = types.ModuleType(f"dojo_peer_{problem.slug}_{peer.name}")
    for perf in problem.perf.values():
        setattr(module, perf.entry, fn)
    return module


def import_file(path: Path, name: str) -> types.ModuleType:
    """Import a .py file as a fresh module; any failure becomes a one-line ImplLoadError."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except SyntaxError as e:
        del sys.modules[name]
        raise ImplLoadError(f"{_short(path)}:{e.lineno}: syntax error: {e.msg}") from None
    except ImplLoadError:
        del sys.modules[name]
        raise
    except Exception as e:  # noqa: BLE001 - any import-time failure of user code is a verdict
        del sys.modules[name]
        raise ImplLoadError(f"{where_in(e, path)}: import failed: {one_line(e)}") from None
    return module


def where_in(exc: BaseException, path: Path) -> str:
    """'file.py:LINE' of the deepest traceback frame inside `path` (or its short name)."""
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if Path(frame.filename).resolve() == path.resolve():
            line = frame.lineno
    return f"{_short(path)}:{line}" if line else _short(path)


def one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _short(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)
