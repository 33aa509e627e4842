"""Files teachkit ships inside its package, found through importlib.resources so that a wheel install finds them
as a checkout does.

    sgd_example/{train,dev,test}/   the example corpus in the SGD format (written by examples/sgd/make_corpus.py)
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from teachkit.errors import TeachkitError


def example_sgd_root() -> Path:
    """The folder of the example SGD corpus, to pass as `--sgd-root`."""
    root = resources.files(__name__) / "sgd_example"
    # The SGD reader walks folders; a package imported from a zip file has none to walk.
    if not isinstance(root, Path) or not root.is_dir():
        raise TeachkitError(f"{root}: the example SGD corpus is missing from the installed teachkit; reinstall it")
    return root
