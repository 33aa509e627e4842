"""Everything about the package is in pyproject.toml; this only records the commit a wheel is built from.

Manifests name the commit of teachkit itself. An editable install reads its checkout's HEAD at run time; a wheel
has no checkout, so the build writes the commit into the package (teachkit/data/build_commit.txt). An sdist carries
the file too, so a wheel built from it (which has no git either) keeps the commit.
"""

import subprocess
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

HERE = Path(__file__).resolve().parent
COMMIT_FILE = Path("teachkit") / "data" / "build_commit.txt"


def checkout_commit() -> str | None:
    try:
        result = subprocess.run(["git", "rev-parse", "HEAD"], cwd=HERE, capture_output=True, text=True, check=False)
    except OSError:
        return None
    return result.stdout.strip() or None if result.returncode == 0 else None


class BuildPyWithCommit(build_py):
    def run(self) -> None:
        super().run()
        commit = checkout_commit()
        if commit and not self.editable_mode:
            (Path(self.build_lib) / COMMIT_FILE).write_text(commit + "\n", encoding="utf-8")


class SdistWithCommit(sdist):
    def make_release_tree(self, base_dir: str, files: list[str]) -> None:
        super().make_release_tree(base_dir, files)
        commit = checkout_commit()
        if commit:
            target = Path(base_dir) / "src" / COMMIT_FILE
            # The release tree is made of hard links to the sources: never write through one.
            target.unlink(missing_ok=True)
            target.write_text(commit + "\n", encoding="utf-8")


setup(cmdclass={"build_py": BuildPyWithCommit, "sdist": SdistWithCommit})
