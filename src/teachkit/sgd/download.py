"""`teachkit sgd download`: fetch the DSTC8 Schema-Guided Dialogue dataset and check its layout.

Over HTTP the repository archive is downloaded into `<dest>-<ref>.tar.gz.part` and renamed when complete; an
interrupted download resumes from the bytes already on disk with a Range request (within a run, after a dropped
connection, and across runs). With `--git` the repository is cloned instead (a shallow clone of the ref). Either way
the dataset lands in a staging folder beside `dest` and is renamed into place only once its layout checks out, so
`dest` never holds half a dataset.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from teachkit import __version__
from teachkit.console import Output
from teachkit.errors import InputError, TeachkitError
from teachkit.sgd.reader import SPLITS

CHUNK = 1 << 16
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


@dataclass
class DownloadResult:
    dest: Path
    method: str
    source: str
    already_present: bool = False
    bytes_downloaded: int = 0
    resumed_from: int = 0
    attempts: int = 0
    dialogue_files: dict[str, int] = field(default_factory=dict)


def check_layout(root: Path, splits: tuple[str, ...] = SPLITS) -> dict[str, int]:
    """Dialogue files per split; an InputError listing what is missing when `root` is not an SGD folder."""
    root = Path(root)
    problems: list[str] = []
    counts: dict[str, int] = {}
    for split in splits:
        folder = root / split
        if not (folder / "schema.json").is_file():
            problems.append(f"{split}/schema.json is missing")
        counts[split] = len(list(folder.glob("dialogues_*.json"))) if folder.is_dir() else 0
        if counts[split] == 0:
            problems.append(f"{split}/ has no dialogues_*.json")
    if problems:
        raise InputError(f"{root}: not an SGD dataset folder: {'; '.join(problems)}")
    return counts


def looks_like_dataset(folder: Path) -> bool:
    try:
        check_layout(folder)
    except InputError:
        return False
    return True


def download_dataset(
    dest: Path,
    *,
    ref: str = "master",
    url_template: str,
    git_url: str | None = None,
    use_git: bool = False,
    force: bool = False,
    keep_archive: bool = False,
    attempts: int = 4,
    timeout_s: float = 60.0,
    retry_delay_s: float = 0.5,
    output: Output | None = None,
) -> DownloadResult:
    """Fetch the dataset into `dest` (archive over HTTP, or `git clone` with `use_git`) and check its layout."""
    output = output or Output()
    dest = Path(dest)
    if not re.fullmatch(r"[A-Za-z0-9._/-]+", ref) or ".." in ref:
        raise InputError(f"--ref {ref!r}: expected a branch, tag or commit name")
    source = (git_url or "") if use_git else url_template.replace("{ref}", ref)
    method = "git" if use_git else "http"
    if dest.exists():
        if looks_like_dataset(dest) and not force:
            return DownloadResult(dest, method, source, already_present=True, dialogue_files=check_layout(dest))
        if not force and any(dest.iterdir()):
            raise InputError(
                f"--dest {dest}: exists and is not an SGD dataset folder; choose another --dest or empty it"
            )
        if force and any(dest.iterdir()) and not looks_like_dataset(dest):
            raise InputError(f"--dest {dest}: --force replaces an SGD dataset folder only, and this is not one")
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".staging", dir=dest.parent))
    try:
        result = DownloadResult(dest, method, source)
        if use_git:
            if not git_url:
                raise InputError("--git needs a repository URL (sgd.compile.git_url, or --url)")
            tree = clone(git_url, ref, staging, output)
        else:
            archive = dest.parent / f"{dest.name}-{ref.replace('/', '-')}{archive_suffix(source)}"
            fetch(source, archive, result, attempts=attempts, timeout_s=timeout_s, retry_delay_s=retry_delay_s,
                  output=output)
            tree = extract(archive, staging)
            if not keep_archive:
                archive.unlink()
        result.dialogue_files = check_layout(tree)
        install(tree, dest, staging)
        output.info(f"SGD dataset ready in {dest}")
        return result
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def archive_suffix(url: str) -> str:
    path = urllib.parse.urlparse(url).path
    return ".zip" if path.endswith(".zip") else ".tar.gz"


def fetch(url: str, archive: Path, result: DownloadResult, *, attempts: int, timeout_s: float,
          retry_delay_s: float, output: Output) -> None:
    """Download `url` to `archive` through `<archive>.part`, resuming what a previous attempt or run left."""
    part = archive.with_name(archive.name + ".part")
    if archive.exists():
        # A previous run finished the download but not the extraction.
        output.info(f"{archive}: already downloaded")
        return
    offset = part.stat().st_size if part.exists() else 0
    result.resumed_from = offset
    last_error = ""
    for attempt in range(1, attempts + 1):
        result.attempts = attempt
        if attempt > 1:
            time.sleep(min(8.0, retry_delay_s * 2 ** (attempt - 2)))
        headers = {"User-Agent": f"teachkit/{__version__}"}
        if offset:
            headers["Range"] = f"bytes={offset}-"
            output.info(f"resuming {url} from byte {offset:,}")
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout_s) as response:
                start = resume_offset(response, offset)
                if start == 0 and offset:
                    output.warn(f"{url}: the server ignored the byte range; downloading from the start")
                offset = start
                length = response.headers.get("Content-Length")
                total = offset + int(length) if length and length.isdigit() else None
                with part.open("ab" if offset else "wb") as handle, output.progress(
                    "downloading", total=total, unit="B"
                ) as bar:
                    bar.advance(offset)
                    while chunk := response.read(CHUNK):
                        handle.write(chunk)
                        offset += len(chunk)
                        result.bytes_downloaded += len(chunk)
                        bar.advance(len(chunk))
                if total is not None and offset < total:
                    # http.client returns b"" rather than raising when the server closes early.
                    last_error = f"connection closed at {offset:,} of {total:,} bytes"
                    continue
                os.replace(part, archive)
                return
        except urllib.error.HTTPError as error:
            if error.code == 416 and offset:
                # The range starts past the end: the .part file is stale (another ref, a changed archive).
                part.unlink()
                offset = 0
                last_error = "HTTP 416 for the resumed range; starting again"
                continue
            if error.code in (404, 410):
                raise InputError(f"{url}: not found (HTTP {error.code}); check --ref or --url") from None
            if error.code not in (408, 429) and error.code < 500:
                raise TeachkitError(f"{url}: HTTP {error.code} {error.reason}") from None
            last_error = f"HTTP {error.code} {error.reason}"
        except (urllib.error.URLError, http.client.HTTPException, OSError) as error:
            reason = getattr(error, "reason", None) or error
            last_error = f"{type(error).__name__}: {reason}"
        offset = part.stat().st_size if part.exists() else 0
    raise TeachkitError(
        f"downloading {url} failed after {attempts} attempts ({last_error}); {offset:,} bytes are kept in {part}: "
        "run the same command again to resume"
    )


def resume_offset(response: http.client.HTTPResponse, offset: int) -> int:
    """Where the body of `response` starts in the file: `offset` for a matching 206, else 0 (a full 200)."""
    if offset and response.status == 206:
        match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
        if match and int(match.group(1)) == offset:
            return offset
        raise TeachkitError(
            f"the server answered the range bytes={offset}- with Content-Range "
            f"{response.headers.get('Content-Range')!r}; delete the .part file and run again"
        )
    return 0


def extract(archive: Path, staging: Path) -> Path:
    """Unpack into `staging`; returns the dataset folder (the archive's single top folder, when it has one)."""
    unpacked = staging / "unpacked"
    unpacked.mkdir()
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as bundle:
                bundle.extractall(unpacked)
        else:
            with tarfile.open(archive) as bundle:
                bundle.extractall(unpacked, filter="data")
    except (tarfile.TarError, zipfile.BadZipFile, EOFError) as error:
        archive.unlink()
        raise TeachkitError(
            f"{archive}: not a readable archive ({error}); it was deleted, run the command again"
        ) from None
    entries = list(unpacked.iterdir())
    return entries[0] if len(entries) == 1 and entries[0].is_dir() else unpacked


def clone(url: str, ref: str, staging: Path, output: Output) -> Path:
    git = shutil.which("git")
    if git is None:
        raise InputError("--git needs git on PATH; install git, or drop --git to download the archive over HTTP")
    target = staging / "repository"
    command = [git, "clone", "--depth", "1", "--branch", ref, url, str(target)]
    output.info(f"cloning {url} ({ref})")
    completed = subprocess.run(
        command, stdout=subprocess.DEVNULL, stderr=None if output.shows_progress else subprocess.PIPE, text=True,
        check=False,
    )
    if completed.returncode != 0:
        last = (completed.stderr or "").strip().splitlines()[-1:] or [f"exit status {completed.returncode}"]
        raise TeachkitError(f"git clone {url} --branch {ref} failed: {last[0]}")
    # The history is not part of the dataset; dropping it keeps the folder the same as an archive download.
    shutil.rmtree(target / ".git", ignore_errors=True)
    return target


def install(tree: Path, dest: Path, staging: Path) -> None:
    """Move the checked dataset into `dest`, replacing an old copy only once the new one is in place."""
    old = None
    if dest.exists():
        old = staging / "previous"
        os.replace(dest, old)
    try:
        os.replace(tree, dest)
    except OSError:
        if old is not None:
            with contextlib.suppress(OSError):
                os.replace(old, dest)
        raise
