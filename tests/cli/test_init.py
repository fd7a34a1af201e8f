"""``certward init``: creates a data dir once and is safe to run again."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from tests.cli.runner import Certward, run_certward, snapshot

INIT_KEYS = {"data_dir", "database", "keys_dir", "keystore_fingerprint"}


def test_init_creates_a_private_data_dir_with_both_master_key_files(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"

    result = json.loads(run_certward("init", "--json", data_dir=data_dir).stdout)

    assert set(result) >= INIT_KEYS
    assert Path(result["data_dir"]) == data_dir.resolve()
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    assert (data_dir / "keys" / "kmc.ks").is_file()
    assert (data_dir / "keys" / "StandbyKsf.ks").is_file()


def test_init_run_again_changes_nothing(certward: Certward) -> None:
    before = snapshot(certward.data_dir)

    again = certward.json("init")

    assert set(again) >= INIT_KEYS
    assert snapshot(certward.data_dir) == before


def test_global_json_flag_gives_the_same_document_as_the_command_flag(
    certward: Certward,
) -> None:
    by_command = certward.json("ca", "show", "root")

    by_global = json.loads(certward.run("--json", "ca", "show", "root").stdout)

    assert by_global == by_command


def test_a_command_on_a_data_dir_never_initialised_fails_with_one_error_line(
    tmp_path: Path,
) -> None:
    result = run_certward("ca", "list", data_dir=tmp_path / "absent", check=False)

    assert result.returncode != 0
    assert result.stderr.splitlines()[0].startswith("error:")
    assert len(result.stderr.splitlines()) == 1
    assert "init" in result.stderr
    assert not (tmp_path / "absent").exists()
