"""Settings: flags over ``CERTWARD_*`` environment over ``certward.toml`` in the data dir.

The TOML file holds no secrets in clear. A bad value is a ConfigError naming
the setting, never a traceback.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from certward.errors import ConfigError

__all__ = [
    "CONFIG_FILE_NAME",
    "AcmeSettings",
    "EventsSettings",
    "KdsSettings",
    "KmsSettings",
    "OcspSettings",
    "ProfileSettings",
    "ServerSettings",
    "Settings",
    "WebhookSettings",
    "load_settings",
]

CONFIG_FILE_NAME = "certward.toml"


class ProfileSettings(BaseModel):
    """A user-defined certificate profile (``[profiles.NAME]`` in certward.toml)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base: Literal["server", "client"] = Field(
        description="built-in profile whose key usages and EKUs this one starts from"
    )
    allowed_key_types: list[str] | None = None
    max_days: int | None = Field(default=None, gt=0, le=36500)
    default_days: int | None = Field(default=None, gt=0, le=36500)
    san_required: bool | None = None
    allowed_san_patterns: list[str] | None = Field(
        default=None,
        description="fnmatch patterns over TYPE:value, e.g. 'DNS:*.example.com', 'IP:10.*'",
    )
    extra_ekus: list[str] = Field(default_factory=list, description="dotted OIDs")
    crl_distribution_urls: list[str] = Field(default_factory=list)
    issuing_certificate_urls: list[str] = Field(default_factory=list)


class ServerSettings(BaseModel):
    """The HTTPS service (``[service]`` in certward.toml; env ``CERTWARD_SERVICE__PORT`` etc.)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(default=8443, ge=0, le=65535)
    workers: int = Field(default=1, ge=1, le=64)
    names: list[str] = Field(
        default_factory=list,
        description="extra DNS names or IP addresses for the server certificate",
    )
    root_ca: str = Field(default="root", description="bootstrap root CA name")
    issuing_ca: str = Field(
        default="issuing",
        description="CA that issues the server certificate and principals; its chain is trusted",
    )
    max_body_bytes: int = Field(default=1_048_576, ge=1024, le=64 * 1_048_576)
    rate_limit_per_second: float = Field(
        default=10_000,
        ge=0,
        le=1_000_000,
        description=(
            "requests per second each client certificate (or address without one) may send to "
            "one worker, refilled continuously; 0 turns the limit off (429 rate_limited beyond)"
        ),
    )
    rate_limit_burst: int = Field(
        default=20_000, ge=1, le=10_000_000, description="requests a caller may send at once"
    )
    revocation_poll_seconds: float = Field(default=0.25, gt=0, le=60)
    database_wait_seconds: float = Field(
        default=300,
        ge=0,
        le=86400,
        description="at start, how long to keep retrying a database that does not answer",
    )
    crl_hash_dir: str | None = Field(
        default=None, description="a hash dir whose CRL files (hash.rN) are also applied"
    )
    public_url: str | None = Field(
        default=None,
        description=(
            "base URL relying parties reach this service at, e.g. https://ca.example.com:8443; "
            "when set, issued certificates carry AIA (OCSP, CA issuers) and CRL distribution points"
        ),
        pattern=r"^https?://[^/\s?#]+$",
    )


class KmsSettings(BaseModel):
    """The key management service (``[kms]`` in certward.toml)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_message_bytes: int = Field(
        default=4096,
        ge=64,
        le=1_048_576,
        description="largest message to sign/verify/encrypt in one call; bigger: send a digest",
    )
    max_batch_items: int = Field(default=1000, ge=1, le=100_000)
    default_deletion_days: int = Field(default=30, ge=7, le=30)
    import_token_minutes: int = Field(default=60 * 24, ge=1, le=60 * 24 * 7)
    rotation_check_seconds: float = Field(
        default=60.0, gt=0, le=86400, description="how often due automatic rotations run"
    )


class KdsSettings(BaseModel):
    """The Limax-compatible key distribution service (``[kds]`` in certward.toml).

    ``certward kds serve`` runs it alone; ``certward serve`` runs it beside the API when
    ``enabled`` is true. The passphrase of the key never lives here: prompt, file or env.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = Field(default=8444, ge=0, le=65535)
    cert: str | None = Field(default=None, description="server certificate (PEM, chain after)")
    key: str | None = Field(default=None, description="server private key (PEM/PKCS#8)")
    passphrase_file: str | None = None
    trusts: str | None = Field(
        default=None, description="file or one-level directory: PEM, DER, PKCS#7, PKCS#12"
    )
    revocation_checker_options: list[str] = Field(default_factory=list)
    algorithm: Literal["SHA-1", "SHA-256", "SHA-384", "SHA-512"] = "SHA-256"
    key_lifespan_days: int = Field(default=365, gt=0, le=36500)
    publish_period_days: float = Field(
        default=-1, description="days between new master keys; -1: this node never publishes"
    )
    peers: list[str] = Field(default_factory=list, description="other nodes, host:port")
    heartbeat_seconds: float = Field(default=5.0, gt=0, le=3600)


class OcspSettings(BaseModel):
    """The OCSP responder (``[ocsp]`` in certward.toml)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    response_seconds: int = Field(
        default=3600, ge=60, le=7 * 86400, description="nextUpdate - thisUpdate of a response"
    )
    responder_days: int = Field(
        default=30, ge=1, le=365, description="validity of the delegated responder certificate"
    )
    cache_entries: int = Field(
        default=100_000, ge=0, le=10_000_000, description="pre-signed responses kept per process"
    )


class AcmeSettings(BaseModel):
    """The ACME server (``[acme]`` in certward.toml); off unless ``enabled``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = False
    cas: list[str] = Field(
        default_factory=lambda: ["issuing"], description="CAs that answer at /acme/<ca>/"
    )
    profiles: list[str] = Field(
        default_factory=lambda: ["server"],
        description="profiles selectable as /acme/<ca>/<profile>/directory",
    )
    default_profile: str = Field(
        default="server", description="profile of /acme/<ca>/directory (one of ``profiles``)"
    )
    require_eab: bool = Field(
        default=False, description="new accounts need an External Account Binding"
    )
    http01_port: int = Field(default=80, ge=1, le=65535)
    tls_alpn01_port: int = Field(default=443, ge=1, le=65535)
    dns_resolver: str | None = Field(
        default=None, description="nameserver for dns-01 as host or host:port; default: system"
    )
    resolve: dict[str, str] = Field(
        default_factory=dict,
        description="name (or *.suffix) → IP address for http-01 / tls-alpn-01 instead of DNS",
    )
    validation_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    orders_per_hour: int = Field(default=300, ge=1, le=1_000_000, description="per account")
    accounts_per_hour: int = Field(
        default=100, ge=1, le=1_000_000, description="new accounts per client address"
    )
    order_hours: int = Field(default=24, ge=1, le=24 * 30, description="order lifetime")
    nonce_seconds: int = Field(default=3600, ge=10, le=86400)


# -- change notifications (issue 5, helper REDFISH) -------------------------------------


class WebhookSettings(BaseModel):
    """One receiver of change events: signed POSTs (``X-Certward-Signature: sha256=<hex>``)."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(pattern=r"^https?://", description="where the events are POSTed")
    secret_file: str = Field(description="file holding the HMAC-SHA256 key (0600/0400, ours)")
    kinds: list[Literal["installed", "replaced", "deleted", "expiring", "crl_updated"]] | None = (
        Field(default=None, description="event kinds to send; default: every kind")
    )
    ca_file: str | None = Field(default=None, description="CA bundle verifying an https URL")
    timeout_seconds: float = Field(default=5.0, gt=0, le=120)
    max_attempts: int = Field(default=5, ge=1, le=50, description="per event, with backoff")


class EventsSettings(BaseModel):
    """Change events of the certificate manager: SSE, webhooks, the expiry scan."""

    model_config = ConfigDict(extra="forbid")

    webhooks: list[WebhookSettings] = Field(default_factory=list)
    expiring_days: list[int] = Field(
        default_factory=lambda: [30, 7, 1],
        description="an 'expiring' event when a slot certificate has this many days left",
    )
    expiry_scan_seconds: float = Field(default=3600.0, gt=0, le=86400)
    poll_seconds: float = Field(default=0.5, gt=0, le=60, description="SSE/webhook DB polling")
    keepalive_seconds: float = Field(default=15.0, gt=0, le=3600, description="SSE comments")
    queue_size: int = Field(default=1000, ge=1, le=1_000_000, description="per webhook")
    retry_backoff_seconds: float = Field(
        default=1.0, gt=0, le=600, description="first retry delay; doubles up to 60 s"
    )


_BOTH_KEY_TYPES: list[Literal["RSA", "EC"]] = ["RSA", "EC"]


class SlotReloadSettings(BaseModel):
    """How a slot's service picks up new files (``[slots."NAME".reload]``): one of the three."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    command: list[str] | None = Field(
        default=None, description="argv run after every change (no shell); exit 0 = reloaded"
    )
    pid_file: str | None = Field(default=None, description="send ``signal`` to the pid in it")
    signal: str = Field(default="SIGHUP", pattern=r"^SIG[A-Z0-9]+$")
    url: str | None = Field(
        default=None, description="POST a JSON notice here; 2xx = reloaded", pattern=r"^https?://"
    )
    timeout_seconds: float = Field(default=30.0, gt=0, le=3600)


class SlotSettings(BaseModel):
    """A certificate slot of a service (``[slots."server/https"]`` in certward.toml)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    directory: str = Field(description="where the slot's files live (created 0700 if absent)")
    cert_file: str = "cert.pem"
    key_file: str = "key.pem"
    mode_dir: int = Field(default=0o700, ge=0, le=0o777)
    mode_file: int = Field(default=0o400, ge=0, le=0o777)
    owner: str | None = Field(default=None, description="user (or user:group) of the files")
    key_types: list[Literal["RSA", "EC"]] = Field(default_factory=_BOTH_KEY_TYPES.copy)
    max_certificates: int = Field(default=10, ge=1, le=1000, description="authority slots")
    lookup_hash_directory: bool = Field(
        default=False, description="authority slots: lay the directory out as an OpenSSL CApath"
    )
    crl_enabled: bool = Field(default=False, description="accept CRLs (hash.rN); needs a hash dir")
    host_name: str | None = Field(
        default=None, description="CN of the self-signed fallback of a server slot"
    )
    truststore: str | None = Field(
        default=None, description="authority slot whose certificates uploads must chain to"
    )
    reload: SlotReloadSettings = Field(default_factory=SlotReloadSettings)

    @field_validator("mode_dir", "mode_file", mode="before")
    @classmethod
    def _octal(cls, value: Any) -> Any:
        # "0700" in TOML is a string; 0o700 is an integer already.
        return int(value, 8) if isinstance(value, str) else value


class Settings(BaseSettings):
    """Everything certward can be configured with."""

    model_config = SettingsConfigDict(
        env_prefix="CERTWARD_", env_nested_delimiter="__", extra="forbid"
    )

    database: str | None = Field(
        default=None, description="SQLAlchemy URL; default: SQLite certward.db in the data dir"
    )
    log_level: Literal["debug", "info", "warning", "error"] = "warning"
    log_format: Literal["json", "console"] = "json"
    crl_days: int = Field(default=7, gt=0, le=3650, description="validity of published CRLs")
    root_ca_days: int = Field(default=3650, gt=0, le=36500)
    intermediate_ca_days: int = Field(default=1825, gt=0, le=36500)
    store_issued_keys: bool = Field(
        default=True,
        description="keep server-generated private keys (sealed) so they can be exported again",
    )
    profiles: dict[str, ProfileSettings] = Field(default_factory=dict)
    # Not "server": CERTWARD_SERVER names the URL a remote CLI talks to.
    service: ServerSettings = Field(default_factory=ServerSettings)
    kms: KmsSettings = Field(default_factory=KmsSettings)
    kds: KdsSettings = Field(default_factory=KdsSettings)
    ocsp: OcspSettings = Field(default_factory=OcspSettings)
    acme: AcmeSettings = Field(default_factory=AcmeSettings)
    slots: dict[str, SlotSettings] = Field(
        default_factory=dict, description='certificate slots, e.g. [slots."server/https"]'
    )
    events: EventsSettings = Field(default_factory=EventsSettings)

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))

    def database_url(self, data_dir: Path) -> str:
        """The configured database URL, or the embedded SQLite file of ``data_dir``."""
        if self.database:
            return self.database
        return f"sqlite:///{(Path(data_dir) / 'certward.db').resolve()}"


def load_settings(data_dir: Path, **overrides: Any) -> Settings:
    """Settings for ``data_dir``: ``overrides`` (flags) win over env, env over the TOML file."""
    path = Path(data_dir) / CONFIG_FILE_NAME
    if path.exists():
        try:
            # Bytes as the settings source reads them: read_text() would turn a lone CR
            # into a newline and let a file pass here that the source then refuses.
            tomllib.loads(path.read_bytes().decode("utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    bound = type(
        "BoundSettings",
        (Settings,),
        {"model_config": SettingsConfigDict(**{**Settings.model_config, "toml_file": path})},
    )
    given = {key: value for key, value in overrides.items() if value is not None}
    try:
        settings: Settings = bound(**given)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "settings"
        raise ConfigError(f"{path}: {where}: {first['msg']}") from None
    return settings
