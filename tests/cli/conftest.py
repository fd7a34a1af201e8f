"""Fixtures for the CLI tests: a PKI made once per worker, copied for each test that changes it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.runner import Certward, shared_pki


@pytest.fixture(scope="session")
def pki_template(tmp_path_factory: pytest.TempPathFactory) -> Certward:
    """A data dir with ``root`` and ``issuing``, made once; tests must not change it."""
    return shared_pki(tmp_path_factory)


@pytest.fixture
def certward(pki_template: Certward, tmp_path: Path) -> Certward:
    """A private copy of the template data dir (root → issuing) for one test."""
    return pki_template.copy(tmp_path / "data")
