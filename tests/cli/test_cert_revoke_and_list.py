"""``certward cert revoke`` with a reason, and ``cert list`` filters and pages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest

from tests.cli.runner import Certward

SUMMARY_KEYS = {
    "serial",
    "ca",
    "profile",
    "subject",
    "common_name",
    "sans",
    "not_before",
    "not_after",
    "status",
    "revoked_at",
    "revocation_reason",
    "is_ca",
}


@dataclass(frozen=True)
class Inventory:
    """root → issuing, and from issuing: alice (10 days), bob (server), carol (revoked)."""

    certward: Certward
    serials: dict[str, str]
    revocation: dict[str, Any]


@pytest.fixture(scope="module")
def inventory(pki_template: Certward, tmp_path_factory: pytest.TempPathFactory) -> Inventory:
    workspace = tmp_path_factory.mktemp("inventory")
    certward = pki_template.copy(workspace / "data")
    out = workspace / "out"
    serials = {
        "alice": certward.issue("alice", out=out, extra=("--days", "10"))["serial"],
        "bob": certward.issue(
            "bob", out=out, profile="server", extra=("--san", "DNS:bob.example.com")
        )["serial"],
        "carol": certward.issue("carol", out=out)["serial"],
    }
    revocation = certward.json("cert", "revoke", serials["carol"], "--reason", "keyCompromise")
    return Inventory(certward, serials, revocation)


def _common_names(page: dict[str, Any]) -> list[str]:
    return [item["common_name"] for item in page["items"]]


def test_revoke_json_names_the_certificate_its_ca_and_reason(inventory: Inventory) -> None:
    revocation = inventory.revocation

    assert revocation["serial"] == inventory.serials["carol"]
    assert revocation["ca_name"] == "issuing"
    assert revocation["reason"] == "keyCompromise"
    datetime.fromisoformat(revocation["revoked_at"])


def test_list_json_items_have_the_documented_keys(inventory: Inventory) -> None:
    page = inventory.certward.json("cert", "list")

    assert set(page) == {"items", "next_cursor"}
    assert page["items"]
    assert all(set(item) == SUMMARY_KEYS for item in page["items"])


def test_list_by_ca_shows_only_that_cas_certificates(inventory: Inventory) -> None:
    page = inventory.certward.json("cert", "list", "--ca", "issuing")

    assert _common_names(page) == ["carol", "bob", "alice"]
    assert {item["ca"] for item in page["items"]} == {"issuing"}


def test_list_revoked_shows_the_reason(inventory: Inventory) -> None:
    page = inventory.certward.json("cert", "list", "--status", "revoked")

    assert _common_names(page) == ["carol"]
    assert page["items"][0]["status"] == "revoked"
    assert page["items"][0]["revocation_reason"] == "keyCompromise"


def test_list_valid_leaves_out_the_revoked(inventory: Inventory) -> None:
    page = inventory.certward.json("cert", "list", "--ca", "issuing", "--status", "valid")

    assert _common_names(page) == ["bob", "alice"]


def test_list_expiring_within_30d_finds_the_short_lived_one(inventory: Inventory) -> None:
    page = inventory.certward.json("cert", "list", "--expiring-within", "30d")

    assert _common_names(page) == ["alice"]


def test_list_search_matches_a_san(inventory: Inventory) -> None:
    page = inventory.certward.json("cert", "list", "--search", "BOB.example")

    assert [item["serial"] for item in page["items"]] == [inventory.serials["bob"]]
    assert page["items"][0]["sans"] == ["DNS:bob.example.com"]


def test_list_pages_with_limit_and_cursor_cover_everything_once(inventory: Inventory) -> None:
    first = inventory.certward.json("cert", "list", "--limit", "2")
    rest = inventory.certward.json("cert", "list", "--limit", "2", "--cursor", first["next_cursor"])
    last = inventory.certward.json("cert", "list", "--limit", "2", "--cursor", rest["next_cursor"])

    # Five certificates: root and issuing (CA certificates), alice, bob, carol.
    assert _common_names(first) == ["carol", "bob"]
    assert _common_names(rest) == ["alice", "certward CLI test issuing"]
    assert _common_names(last) == ["certward CLI test root"]
    assert last["next_cursor"] is None


def test_show_json_gives_the_summary_and_the_pem(inventory: Inventory) -> None:
    shown = inventory.certward.json("cert", "show", inventory.serials["bob"])

    assert set(shown) == SUMMARY_KEYS | {"certificate_pem"}
    assert shown["common_name"] == "bob"
    assert shown["certificate_pem"].startswith("-----BEGIN CERTIFICATE-----")
