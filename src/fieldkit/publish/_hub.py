"""``HFHubAdapter``: stage files in a local folder and push it to the Hugging Face Hub.

Dry run by default: a push only lists and logs what it would upload, needing neither
``huggingface_hub`` nor a token nor network. A live push imports ``huggingface_hub`` lazily
(``pip install 'fieldkit[publish]'``). Staging paths must stay inside the staging folder.
"""

from __future__ import annotations

import os
import stat
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from fieldkit._atomic import atomic_write_text
from fieldkit._confined import open_regular_inside
from fieldkit._files import link_or_copy
from fieldkit._lazy import MissingExtraError, require
from fieldkit.publish._brand import DEFAULT_BRAND, ORIONFOLD_HF_HANDLE
from fieldkit.publish._errors import HFAuthError, HFHubNotAvailable, PublishError

__all__ = ["HFHubAdapter", "PublishResult"]

_HUB_URL = "https://huggingface.co"
_FORBIDDEN_FOLDERS = frozenset({".git", ".cache"})  # refused by the Hub's commit API
_URL_PREFIX = {"model": "", "dataset": "datasets/", "space": "spaces/"}


@dataclass
class PublishResult:
    """What a push did (or would do): repo, staged files, mode, and where things landed."""

    hf_repo: str
    files_uploaded: tuple[str, ...]
    dry_run: bool
    manifest_path: Path | None = None
    card_path: Path | None = None
    hf_url: str | None = None


def _is_auth_error(exc: BaseException) -> bool:
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    if status in (401, 403):
        return True
    text = str(exc).lower()
    return any(
        w in text
        for w in (
            "401 client error",
            "403 client error",
            "unauthorized",
            "forbidden",
            "invalid token",
            "invalid user token",
        )
    )


class HFHubAdapter:
    """A staging folder plus a push of it to ``<org>/<name>`` on the Hub.

    ``endpoint`` points a live push at another Hub (a mirror, or ``HF_ENDPOINT``'s default).
    """

    def __init__(
        self,
        *,
        staging_dir: str | os.PathLike[str],
        dry_run: bool = True,
        token: str | None = None,
        org: str = ORIONFOLD_HF_HANDLE,
        endpoint: str | None = None,
    ) -> None:
        self.staging_dir = Path(staging_dir)
        self.dry_run = dry_run
        self.token = token
        self.org = org
        self.endpoint = endpoint
        self._calls: list[dict[str, Any]] = []

    @property
    def logged_calls(self) -> tuple[dict[str, Any], ...]:
        """Every ``upload_folder`` call ``push_folder`` made or would have made."""
        return tuple(self._calls)

    def repo_id(self, name: str) -> str:
        """``name`` when it already has a namespace (``a/b``), else ``<org>/<name>``."""
        return name if "/" in name else f"{self.org}/{name}"

    def _dest(self, rel: str | os.PathLike[str]) -> Path:
        p = PurePosixPath(Path(rel).as_posix())
        if p.is_absolute() or ".." in p.parts or not p.parts or str(p) == ".":
            raise PublishError(f"staging path must be relative and inside the folder, got {rel!r}")
        dest = self.staging_dir.joinpath(*p.parts)
        dest.parent.mkdir(parents=True, exist_ok=True)
        return dest

    def stage_file(self, src: str | os.PathLike[str], rel: str | os.PathLike[str]) -> Path:
        """Put ``src`` (content and metadata) at ``<staging_dir>/<rel>``; return that path.

        A hard link where the filesystem allows (a multi-GB variant is not copied), else a copy;
        either way the staged file is complete or absent, never half-written.
        """
        if not Path(src).is_file():
            raise PublishError(f"cannot stage {str(src)!r}: not a file")
        return link_or_copy(src, self._dest(rel))

    def stage_text(self, text: str, rel: str | os.PathLike[str]) -> Path:
        """Write ``text`` as UTF-8 to ``<staging_dir>/<rel>`` (atomically); return the path."""
        dest = self._dest(rel)
        atomic_write_text(dest, text)  # a new file: never writes through a hard link staged there
        return dest

    def _resolve_token(self) -> str | None:
        """``token``, else ``HF_TOKEN``, else ``HUGGING_FACE_HUB_TOKEN``, else ``None``."""
        return (
            self.token
            or os.environ.get("HF_TOKEN")
            or os.environ.get("HUGGING_FACE_HUB_TOKEN")
            or None
        )

    def _scan(self) -> tuple[list[str], list[str]]:
        """(regular files, refused entries) under the staging folder, relative, sorted.

        Symlinks are never followed (a folder upload would send the linked target's bytes);
        a symlink, FIFO, socket or device is refused, named with what it is, and so is a file
        under ``.git/`` or ``.cache/`` (the Hub refuses those)."""
        files: list[str] = []
        refused: list[str] = []
        if not self.staging_dir.is_dir():
            return files, refused
        for dirpath, dirnames, filenames in os.walk(self.staging_dir, followlinks=False):
            base = Path(dirpath)
            for name in [*dirnames, *filenames]:
                path = base / name
                rel = path.relative_to(self.staging_dir).as_posix()
                try:
                    mode = path.lstat().st_mode
                except FileNotFoundError:  # removed since the listing: nothing to send
                    continue
                if stat.S_ISLNK(mode):
                    refused.append(f"{rel} (symlink)")
                elif stat.S_ISREG(mode):
                    if _FORBIDDEN_FOLDERS.intersection(rel.split("/")[:-1]):
                        refused.append(f"{rel} (the Hub accepts no files under .git/ or .cache/)")
                    else:
                        files.append(rel)
                elif not stat.S_ISDIR(mode):
                    refused.append(f"{rel} (not a regular file)")
        return sorted(files), sorted(refused)

    def _staged(self) -> list[str]:
        """Every regular file a push sends; PublishError when the folder holds anything else."""
        files, refused = self._scan()
        if refused:
            raise PublishError(
                f"staging folder {str(self.staging_dir)!r} holds entries a push will not "
                f"send: {', '.join(refused)}; only regular files are published (remove them)"
            )
        return files

    def _upload(
        self,
        api: Any,
        hub: Any,
        repo_id: str,
        repo_type: str,
        files: list[str],
        commit_message: str,
    ) -> None:
        """Commit exactly *files*, each opened without following a symlink and checked, on the
        open descriptor, to be a regular file inside the staging folder: what is sent is what
        the dry run listed."""
        base = os.path.realpath(self.staging_dir).rstrip("/") + "/"

        def inside(real: str) -> bool:
            return real.startswith(base)

        with ExitStack() as stack:
            operations = []
            for rel in files:
                try:  # a folder on the path swapped for a symlink is caught on the descriptor
                    fd = open_regular_inside(base + rel, inside)
                except OSError as exc:
                    raise PublishError(
                        f"staged file {rel!r} cannot be sent as listed: {exc}"
                    ) from None
                fh = stack.enter_context(os.fdopen(fd, "rb"))
                operations.append(hub.CommitOperationAdd(path_in_repo=rel, path_or_fileobj=fh))
            api.create_commit(
                repo_id=repo_id,
                repo_type=repo_type,
                operations=operations,
                commit_message=commit_message,
            )

    def push_folder(
        self,
        *,
        repo_name: str,
        commit_message: str = DEFAULT_BRAND.commit_message,
        private: bool = False,
        repo_type: str = "model",
    ) -> PublishResult:
        """Upload every regular file under ``staging_dir`` to ``repo_id(repo_name)``.

        Dry run: log the call and return the file list — exactly the files a live push sends.
        A symlink, FIFO, socket or device in the folder is refused (``PublishError``) in both
        modes. Live: create the repo if needed (its visibility is set only on creation) and
        commit those files; a 401/403 becomes ``HFAuthError``, which never quotes the Hub's
        reply. ``hf_url`` is the repo's page.
        """
        repo_id = self.repo_id(repo_name)
        files = self._staged()
        self._calls.append(
            {
                "method": "upload_folder",
                "repo_id": repo_id,
                "folder_path": str(self.staging_dir),
                "commit_message": commit_message,
                "private": private,
                "repo_type": repo_type,
                "files": list(files),
            }
        )
        if self.dry_run:
            return PublishResult(repo_id, tuple(files), dry_run=True, hf_url=None)
        try:
            hub = require("huggingface_hub", "publish", purpose="pushing to the Hugging Face Hub")
        except MissingExtraError as exc:
            raise HFHubNotAvailable(
                "a live push needs huggingface_hub (pip install 'fieldkit[publish]' or "
                "pip install 'huggingface_hub>=0.24'); dry runs do not"
            ) from exc
        api = hub.HfApi(endpoint=self.endpoint, token=self._resolve_token())
        try:
            api.create_repo(repo_id=repo_id, repo_type=repo_type, private=private, exist_ok=True)
            self._upload(api, hub, repo_id, repo_type, files, commit_message)
        except PublishError:
            raise
        except Exception as exc:
            if _is_auth_error(exc):
                # The server's reply is not quoted: a Hub (or proxy) may echo the token in it.
                status = getattr(getattr(exc, "response", None), "status_code", None)
                what = f"HTTP {status}" if status else type(exc).__name__
                raise HFAuthError(
                    f"the Hub refused the push to {repo_id} ({what}: not authorised); set "
                    "HF_TOKEN or pass token= with write access to that namespace"
                ) from PublishError(f"{what} from the Hub (reply withheld: it may echo the token)")
            raise
        base = (self.endpoint or _HUB_URL).rstrip("/")
        url = f"{base}/{_URL_PREFIX.get(repo_type, '')}{repo_id}"
        return PublishResult(repo_id, tuple(files), dry_run=False, hf_url=url)
