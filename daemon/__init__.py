"""gatecam: an edge licence-plate reading daemon for parking gates."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("gatecam")
    """The installed release (``gatecam --version``, /healthz, ``gatecam_build_info``)."""
except PackageNotFoundError:  # a bare checkout on sys.path, never installed
    __version__ = "0+unknown"
