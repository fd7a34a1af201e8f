"""One ACME directory: the CA and profile it issues with, and the URLs of its resources."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

__all__ = ["AcmeDirectory", "new_public_id"]


def new_public_id() -> str:
    """A random id for a resource URL (128 bits, base64url): URLs cannot be guessed."""
    return secrets.token_urlsafe(16)


@dataclass(frozen=True)
class AcmeDirectory:
    """The directory at ``base`` (e.g. ``https://host:8443/acme/issuing``)."""

    ca_name: str
    profile: str
    base: str

    def url(self, *parts: str) -> str:
        """The absolute URL of a resource below the directory."""
        return "/".join((self.base, *parts))

    def account_url(self, public_id: str) -> str:
        return self.url("acct", public_id)

    def order_url(self, public_id: str) -> str:
        return self.url("order", public_id)

    def authorization_url(self, public_id: str) -> str:
        return self.url("authz", public_id)

    def challenge_url(self, public_id: str) -> str:
        return self.url("chall", public_id)

    def certificate_url(self, serial: str) -> str:
        return self.url("cert", serial)
