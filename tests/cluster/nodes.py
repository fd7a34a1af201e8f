"""Helpers of the cluster tests: making the data dir of a node that joins a cluster."""

from __future__ import annotations

import shutil
from pathlib import Path


def join_dir(first: Path, target: Path) -> Path:
    """A data dir for a new node: a copy of the first node's keys and config.

    The admin bundle is copied too, only so that the test helpers find the CA
    certificate and the admin identity where they look for them.
    """
    target.mkdir(mode=0o700)
    shutil.copytree(first / "keys", target / "keys")
    shutil.copy2(first / "certward.toml", target / "certward.toml")
    shutil.copytree(first / "admin", target / "admin")
    return target
