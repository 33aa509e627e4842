"""teachkit: turn a large teacher model into training signal for a small student model."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("teachkit")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+local"
