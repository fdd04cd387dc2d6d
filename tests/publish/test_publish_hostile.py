"""A push sends exactly what the dry run lists, never a symlink's target, never a FIFO, and an
auth refusal never repeats a server reply that quotes the token (real loopback Hub)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from fieldkit.publish import HFAuthError, HFHubAdapter, PublishError, publish_quant
from tests.publish._fakehub import FakeHub
from tests.publish.test_hub_publish import _report

SECRET = "root:hunter2-do-not-upload"


@pytest.fixture
def online(monkeypatch: pytest.MonkeyPatch) -> None:
    """The real ``huggingface_hub`` client may talk to the loopback Hub (tests run offline)."""
    import huggingface_hub.constants as hub_constants

    monkeypatch.setattr(hub_constants, "is_offline_mode", lambda: False)


@pytest.fixture
def fake_hub(online: None) -> Iterator[FakeHub]:
    hub = FakeHub()
    try:
        yield hub
    finally:
        hub.close()


def _adapter(tmp_path: Path, hub: FakeHub | None = None) -> HFHubAdapter:
    return HFHubAdapter(
        staging_dir=tmp_path / "stage",
        dry_run=hub is None,
        token="hf_secret_token_123",
        org="acme",
        endpoint=None if hub is None else hub.url,
    )


def _secret(tmp_path: Path) -> Path:
    path = tmp_path / "shadow"
    path.write_text(SECRET)
    return path


def test_a_symlinked_file_is_refused_by_dry_run_and_live_push(
    tmp_path: Path, fake_hub: FakeHub
) -> None:
    for hub in (None, fake_hub):
        a = _adapter(tmp_path, hub)
        a.stage_text("# card", "README.md")
        link = a.staging_dir / "notes.txt"
        link.unlink(missing_ok=True)
        os.symlink(_secret(tmp_path), link)
        with pytest.raises(PublishError, match=r"notes\.txt \(symlink\)"):
            a.push_folder(repo_name="m")
    assert fake_hub.files == {}  # nothing was sent


def test_a_symlinked_folder_and_a_fifo_are_refused(tmp_path: Path) -> None:
    a = _adapter(tmp_path)
    a.stage_text("# card", "README.md")
    outside = tmp_path / "etc"
    outside.mkdir()
    (outside / "passwd").write_text(SECRET)
    os.symlink(outside, a.staging_dir / "config")
    os.mkfifo(a.staging_dir / "pipe")
    with pytest.raises(PublishError) as info:
        a.push_folder(repo_name="m")
    msg = str(info.value)
    assert "config (symlink)" in msg and "pipe (not a regular file)" in msg


def test_publish_quant_refuses_a_symlink_in_the_staging_folder(tmp_path: Path) -> None:
    stage = tmp_path / "stage"
    stage.mkdir()
    os.symlink(_secret(tmp_path), stage / "model-Q4_K_M.gguf.bak")
    with pytest.raises(PublishError, match="symlink"):
        publish_quant(
            quant_report=_report(tmp_path), base_model="b", repo_name="R-GGUF", staging_dir=stage
        )
    assert not (stage / "README.md").exists()


def test_the_dry_run_lists_exactly_what_a_live_push_sends(
    tmp_path: Path, fake_hub: FakeHub
) -> None:
    dry = _adapter(tmp_path)
    dry.stage_text("# card", "README.md")
    dry.stage_text("x", "sub/deep/model.gguf")
    dry.stage_text("attrs", ".gitattributes")
    listed = dry.push_folder(repo_name="m").files_uploaded
    live = _adapter(tmp_path, fake_hub).push_folder(repo_name="m")
    assert live.files_uploaded == listed
    assert sorted(fake_hub.files) == sorted(listed)
    assert fake_hub.files["sub/deep/model.gguf"] == b"x"
    dry.stage_text("[core]", ".git/config")  # a folder upload would silently leave this out
    with pytest.raises(PublishError, match=r"\.git/config \(the Hub accepts no files"):
        dry.push_folder(repo_name="m")


def test_an_auth_error_never_quotes_a_reply_that_echoes_the_token(
    tmp_path: Path, online: None
) -> None:
    hub = FakeHub(status=401, echo_auth=True)
    try:
        a = _adapter(tmp_path, hub)
        a.stage_text("# card", "README.md")
        with pytest.raises(HFAuthError) as info:
            a.push_folder(repo_name="m")
    finally:
        hub.close()
    err = info.value
    assert "acme/m" in str(err) and "401" in str(err) and "HF_TOKEN" in str(err)
    seen = str(err) + repr(err) + str(err.__cause__) + repr(err.__cause__)
    assert "hf_secret_token_123" not in seen
    assert err.__cause__ is not None and err.__cause__.__cause__ is None


def test_a_folder_swapped_for_a_symlink_after_the_listing_sends_nothing(
    tmp_path: Path, fake_hub: FakeHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The staged folder is listed, then (while the repo is created) a listed folder becomes a
    symlink to one holding a file of the same name: the push refuses instead of sending it."""
    import huggingface_hub

    a = _adapter(tmp_path, fake_hub)
    a.stage_text("fine", "sub/notes.txt")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "notes.txt").write_text(SECRET)
    create = huggingface_hub.HfApi.create_repo

    def create_then_swap(self: huggingface_hub.HfApi, **kwargs: object) -> object:
        made = create(self, **kwargs)  # type: ignore[arg-type]
        os.rename(a.staging_dir / "sub", tmp_path / "sub.old")
        os.symlink(outside, a.staging_dir / "sub")
        return made

    monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", create_then_swap)
    with pytest.raises(PublishError, match="cannot be sent as listed"):
        a.push_folder(repo_name="m")
    assert fake_hub.files == {}


def test_a_file_removed_while_the_folder_is_listed_is_left_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = _adapter(tmp_path)
    a.stage_text("# card", "README.md")
    a.stage_text("x", "gone.txt")
    listed = os.walk

    def walk_then_remove(top: str | os.PathLike[str], **kwargs: bool) -> Iterator[object]:
        for entry in listed(top, **kwargs):
            (a.staging_dir / "gone.txt").unlink(missing_ok=True)  # removed mid-listing
            yield entry

    monkeypatch.setattr(os, "walk", walk_then_remove)
    assert a.push_folder(repo_name="m").files_uploaded == ("README.md",)
