"""``certward acme create-eab-key``: a key bound to an existing principal, shown once."""

from __future__ import annotations

import base64

from certward.access.audit import query_events
from certward.access.grants import Grant, Permission
from certward.access.principals import create_principal
from certward.datadir import open_data_dir
from tests.cli.runner import Certward


def test_an_eab_key_is_made_for_an_existing_principal_and_audited(certward: Certward) -> None:
    ctx = open_data_dir(certward.data_dir)
    try:
        create_principal(
            ctx, name="web-team", grants=[Grant(Permission.CA_READ)], ca_name="issuing"
        )

        made = certward.json("acme", "create-eab-key", "--principal", "web-team")

        assert made["principal"] == "web-team" and made["key_id"].startswith("eab-")
        assert len(base64.urlsafe_b64decode(made["hmac_key"] + "==")) == 32
        [event] = query_events(ctx, action="acme.eab_key.create").items
        assert (event.target, event.result) == ("web-team", "ok")
        assert made["hmac_key"] not in str(event)
    finally:
        ctx.database.dispose()


def test_an_eab_key_for_an_unknown_principal_is_refused(certward: Certward) -> None:
    result = certward.run("acme", "create-eab-key", "--principal", "nobody", check=False)
    assert result.returncode == 3
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
