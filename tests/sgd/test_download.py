"""`teachkit sgd download` against a loopback HTTP server serving an archive built here, and a local git repo."""

from __future__ import annotations

import io
import shutil
import subprocess
import tarfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from typer.testing import CliRunner

from teachkit.cli.main import app
from teachkit.data import example_sgd_root
from teachkit.errors import InputError, TeachkitError
from teachkit.sgd.download import check_layout, download_dataset

EXAMPLES = example_sgd_root()
MAKE_CORPUS = Path(__file__).resolve().parents[2] / "examples" / "sgd" / "make_corpus.py"
TOP = "dstc8-schema-guided-dialogue-master"


def build_archive(splits: tuple[str, ...] = ("train", "dev", "test")) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        archive.add(MAKE_CORPUS, arcname=f"{TOP}/README.md")
        for split in splits:
            for path in sorted((EXAMPLES / split).glob("*.json")):
                archive.add(path, arcname=f"{TOP}/{split}/{path.name}")
    return buffer.getvalue()


@dataclass
class ArchiveServer:
    """Serves one archive at /archive/<ref>.tar.gz with byte ranges; `cuts` drop connections mid-body."""

    archive: bytes
    cuts: list[int | None] = field(default_factory=list)
    honour_range: bool = True
    ranges: list[str | None] = field(default_factory=list)
    url: str = ""


@pytest.fixture
def archive_server() -> Iterator[ArchiveServer]:
    state = ArchiveServer(build_archive())

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802 - the http.server interface
            if self.path != "/archive/master.tar.gz":
                body = b"Not Found"
                self.send_response(404)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            requested = self.headers.get("Range")
            state.ranges.append(requested)
            start = 0
            if requested and state.honour_range:
                start = int(requested.removeprefix("bytes=").rstrip("-"))
                if start >= len(state.archive):
                    self.send_response(416)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(state.archive) - 1}/{len(state.archive)}")
            else:
                self.send_response(200)
            body = state.archive[start:]
            self.send_header("Content-Type", "application/gzip")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            cut = state.cuts.pop(0) if state.cuts else None
            if cut is None:
                self.wfile.write(body)
                return
            # Announce the whole body, send part of it, and hang up: a dropped connection.
            self.wfile.write(body[:cut])
            self.wfile.flush()
            self.close_connection = True

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/archive/{{ref}}.tar.gz"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def same_tree(left: Path, right: Path, split: str) -> bool:
    return all((left / split / p.name).read_bytes() == p.read_bytes() for p in (right / split).glob("*.json"))


def test_downloads_extracts_and_checks_the_layout(tmp_path: Path, archive_server: ArchiveServer) -> None:
    dest = tmp_path / "data" / "sgd"
    result = download_dataset(dest, url_template=archive_server.url)
    assert result.dialogue_files == {"train": 2, "dev": 1, "test": 1}
    assert result.bytes_downloaded == len(archive_server.archive) and result.resumed_from == 0
    assert same_tree(dest, EXAMPLES, "train") and (dest / "README.md").is_file()
    # Only the dataset is left: no archive, no .part, no staging folder.
    assert sorted(p.name for p in dest.parent.iterdir()) == ["sgd"]

    again = download_dataset(dest, url_template=archive_server.url)
    assert again.already_present and archive_server.ranges == [None]


def test_a_dropped_connection_resumes_with_a_range_request(tmp_path: Path, archive_server: ArchiveServer) -> None:
    archive_server.cuts = [20_000, 15_000]
    dest = tmp_path / "sgd"
    result = download_dataset(dest, url_template=archive_server.url, retry_delay_s=0)
    assert archive_server.ranges == [None, "bytes=20000-", "bytes=35000-"]
    assert result.bytes_downloaded == len(archive_server.archive) and result.attempts == 3
    assert same_tree(dest, EXAMPLES, "dev")


def test_an_interrupted_run_keeps_its_part_file_and_the_next_run_resumes(
    tmp_path: Path, archive_server: ArchiveServer
) -> None:
    archive_server.cuts = [25_000]
    dest = tmp_path / "sgd"
    with pytest.raises(TeachkitError, match=r"25,000 bytes are kept in .*sgd-master.tar.gz.part: run the same "
                                            r"command again to resume"):
        download_dataset(dest, url_template=archive_server.url, attempts=1)
    part = tmp_path / "sgd-master.tar.gz.part"
    assert part.stat().st_size == 25_000 and not dest.exists()

    result = CliRunner().invoke(app, ["--json", "sgd", "download", "--dest", str(dest), "--url", archive_server.url])
    assert result.exit_code == 0, result.output
    assert archive_server.ranges == [None, "bytes=25000-"]
    assert '"resumed_from_byte": 25000' in result.stdout
    assert not part.exists() and check_layout(dest) == {"train": 2, "dev": 1, "test": 1}


def test_a_server_that_ignores_ranges_gets_a_fresh_download(tmp_path: Path, archive_server: ArchiveServer) -> None:
    archive_server.honour_range = False
    (tmp_path / "sgd-master.tar.gz.part").write_bytes(b"\x00" * 1000)
    download_dataset(tmp_path / "sgd", url_template=archive_server.url)
    assert archive_server.ranges == ["bytes=1000-"]
    assert same_tree(tmp_path / "sgd", EXAMPLES, "test")


def test_a_stale_part_file_past_the_end_starts_over(tmp_path: Path, archive_server: ArchiveServer) -> None:
    (tmp_path / "sgd-master.tar.gz.part").write_bytes(b"\x00" * (len(archive_server.archive) + 10))
    download_dataset(tmp_path / "sgd", url_template=archive_server.url, retry_delay_s=0)
    assert archive_server.ranges == [f"bytes={len(archive_server.archive) + 10}-", None]
    assert same_tree(tmp_path / "sgd", EXAMPLES, "train")


def test_an_unknown_ref_exits_2(tmp_path: Path, archive_server: ArchiveServer) -> None:
    result = CliRunner().invoke(app, ["sgd", "download", "--dest", "sgd", "--ref", "nope", "--url",
                                      archive_server.url])
    assert result.exit_code == 2
    assert "not found (HTTP 404); check --ref or --url" in result.output
    assert not (tmp_path / "sgd").exists()


def test_an_archive_without_the_dataset_layout_is_refused(tmp_path: Path, archive_server: ArchiveServer) -> None:
    archive_server.archive = build_archive(("train", "test"))
    with pytest.raises(InputError, match=r"not an SGD dataset folder: dev/schema.json is missing"):
        download_dataset(tmp_path / "sgd", url_template=archive_server.url)
    assert not (tmp_path / "sgd").exists()
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("xdg")) == []


def test_a_folder_that_is_not_the_dataset_is_never_overwritten(tmp_path: Path, archive_server: ArchiveServer) -> None:
    dest = tmp_path / "mine"
    dest.mkdir()
    (dest / "notes.txt").write_text("keep me")
    for force in (False, True):
        with pytest.raises(InputError, match="--dest .*mine"):
            download_dataset(dest, url_template=archive_server.url, force=force)
    assert (dest / "notes.txt").read_text() == "keep me" and archive_server.ranges == []


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_git_clones_a_branch(tmp_path: Path) -> None:
    repository = tmp_path / "origin"
    for split in ("train", "dev", "test"):
        shutil.copytree(EXAMPLES / split, repository / split)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-C", str(repository)]
    subprocess.run(["git", "init", "-q", "-b", "main", str(repository)], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "corpus"], check=True)
    result = CliRunner().invoke(app, ["--json", "sgd", "download", "--git", "--url", repository.as_uri(),
                                      "--ref", "main", "--dest", "cloned"])
    assert result.exit_code == 0, result.output
    assert '"method": "git"' in result.stdout
    assert check_layout(tmp_path / "cloned") == {"train": 2, "dev": 1, "test": 1}
    assert not (tmp_path / "cloned" / ".git").exists()
    bad = CliRunner().invoke(app, ["sgd", "download", "--git", "--url", repository.as_uri(), "--ref", "nope",
                                   "--dest", "other"])
    assert bad.exit_code == 1 and "git clone" in bad.output and "nope" in bad.output
