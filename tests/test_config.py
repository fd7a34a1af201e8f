"""Settings: certward.toml, overridden by CERTWARD_* environment, overridden by flags."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from certward.ca.profiles import ProfileRegistry
from certward.config import CONFIG_FILE_NAME, ProfileSettings, Settings, load_settings
from certward.errors import ConfigError


@pytest.fixture(autouse=True)
def _no_certward_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts without CERTWARD_* variables from the machine it runs on."""
    for name in list(os.environ):
        if name.startswith("CERTWARD_"):
            monkeypatch.delenv(name)


def _config(directory: Path, toml: str) -> Path:
    (directory / CONFIG_FILE_NAME).write_text(toml, encoding="utf-8")
    return directory


# --- sources and precedence -----------------------------------------------------------------


def test_defaults_without_a_config_file(tmp_path: Path) -> None:
    settings = load_settings(tmp_path)

    assert settings.database is None
    assert settings.crl_days == 7
    assert settings.root_ca_days == 3650
    assert settings.intermediate_ca_days == 1825
    assert settings.store_issued_keys is True
    assert settings.profiles == {}


def test_values_come_from_the_toml_file(tmp_path: Path) -> None:
    _config(
        tmp_path,
        'crl_days = 3\nroot_ca_days = 1000\nlog_level = "INFO"\nstore_issued_keys = false\n',
    )

    settings = load_settings(tmp_path)

    assert settings.crl_days == 3
    assert settings.root_ca_days == 1000
    assert settings.log_level == "info"
    assert settings.store_issued_keys is False


def test_environment_overrides_the_toml_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _config(tmp_path, "crl_days = 3\nroot_ca_days = 1000\n")
    monkeypatch.setenv("CERTWARD_CRL_DAYS", "11")

    settings = load_settings(tmp_path)

    assert settings.crl_days == 11
    assert settings.root_ca_days == 1000


def test_explicit_overrides_win_over_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _config(tmp_path, "crl_days = 3\n")
    monkeypatch.setenv("CERTWARD_CRL_DAYS", "11")

    settings = load_settings(tmp_path, crl_days=13)

    assert settings.crl_days == 13


def test_override_of_none_means_not_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _config(tmp_path, "crl_days = 3\n")
    monkeypatch.setenv("CERTWARD_CRL_DAYS", "11")

    settings = load_settings(tmp_path, crl_days=None)

    assert settings.crl_days == 11


def test_database_url_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CERTWARD_DATABASE", "postgresql+psycopg://certward@db/certward")

    settings = load_settings(tmp_path)

    assert settings.database_url(tmp_path) == "postgresql+psycopg://certward@db/certward"


def test_default_database_is_sqlite_in_the_data_dir(tmp_path: Path) -> None:
    url = load_settings(tmp_path).database_url(tmp_path)

    assert url == f"sqlite:///{(tmp_path / 'certward.db').resolve()}"


def test_profiles_come_from_the_toml_file(tmp_path: Path) -> None:
    _config(
        tmp_path,
        "[profiles.web]\n"
        'base = "server"\n'
        'allowed_key_types = ["ec-p256", "ec-p384"]\n'
        "max_days = 90\n"
        'allowed_san_patterns = ["DNS:*.example.com", "IP:10.0.0.0/8"]\n',
    )

    settings = load_settings(tmp_path)

    assert settings.profiles == {
        "web": ProfileSettings(
            base="server",
            allowed_key_types=["ec-p256", "ec-p384"],
            max_days=90,
            allowed_san_patterns=["DNS:*.example.com", "IP:10.0.0.0/8"],
        )
    }
    assert ProfileRegistry(settings.profiles).get("web").max_days == 90


def test_profiles_can_be_given_directly() -> None:
    settings = Settings(profiles={"web": ProfileSettings(base="server", max_days=30)})

    assert ProfileRegistry(settings.profiles).get("web").max_days == 30


# --- refusals -------------------------------------------------------------------------------


def test_malformed_toml_is_a_config_error_naming_the_file(tmp_path: Path) -> None:
    _config(tmp_path, "crl_days = [\n")

    with pytest.raises(ConfigError, match=CONFIG_FILE_NAME):
        load_settings(tmp_path)


def test_non_utf8_config_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / CONFIG_FILE_NAME).write_bytes(b"crl_days = 3 # \xff\xfe\n")

    with pytest.raises(ConfigError):
        load_settings(tmp_path)


def test_unknown_key_is_a_config_error_naming_it(tmp_path: Path) -> None:
    _config(tmp_path, "crl_days = 3\ncrl_dayz = 4\n")

    with pytest.raises(ConfigError, match="crl_dayz"):
        load_settings(tmp_path)


@pytest.mark.parametrize(
    "toml",
    ["crl_days = 0\n", "crl_days = 3651\n", 'crl_days = "weekly"\n', 'log_level = "loud"\n'],
)
def test_out_of_range_or_mistyped_value_is_a_config_error(tmp_path: Path, toml: str) -> None:
    _config(tmp_path, toml)

    with pytest.raises(ConfigError):
        load_settings(tmp_path)


def test_bad_environment_value_is_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CERTWARD_CRL_DAYS", "often")

    with pytest.raises(ConfigError, match="crl_days"):
        load_settings(tmp_path)


def test_bad_override_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        load_settings(tmp_path, root_ca_days=-1)


def test_profile_with_an_unknown_base_is_a_config_error(tmp_path: Path) -> None:
    _config(tmp_path, '[profiles.web]\nbase = "ca"\n')

    with pytest.raises(ConfigError, match="base"):
        load_settings(tmp_path)


def test_profile_without_a_base_is_a_config_error(tmp_path: Path) -> None:
    _config(tmp_path, "[profiles.web]\nmax_days = 30\n")

    with pytest.raises(ConfigError, match="base"):
        load_settings(tmp_path)


def test_profile_with_an_unknown_key_is_a_config_error(tmp_path: Path) -> None:
    _config(tmp_path, '[profiles.web]\nbase = "server"\nmax_dayz = 30\n')

    with pytest.raises(ConfigError, match="max_dayz"):
        load_settings(tmp_path)


def test_profile_with_a_bad_key_type_is_a_config_error(tmp_path: Path) -> None:
    _config(tmp_path, '[profiles.web]\nbase = "server"\nallowed_key_types = ["dsa-1024"]\n')
    settings = load_settings(tmp_path)

    with pytest.raises(ConfigError, match="dsa-1024"):
        ProfileRegistry(settings.profiles)


def test_profile_with_a_zero_maximum_is_a_config_error(tmp_path: Path) -> None:
    _config(tmp_path, '[profiles.web]\nbase = "server"\nmax_days = 0\n')

    with pytest.raises(ConfigError):
        load_settings(tmp_path)
