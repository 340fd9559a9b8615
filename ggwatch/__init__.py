"""ggwatch: a compliance daemon for AWS IoT Greengrass V2 fleets."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("ggwatch")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"
