"""Reload actions run after every change; a failing one puts files and records back."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from certward.ca.context import CAContext
from certward.certs.events import events_after
from certward.certs.manager import delete_certificate, install_certificate, replace_certificate
from certward.errors import ReloadFailed
from tests.certs.conftest import MakeSlot, database_state, directory_state
from tests.certs.factory import TestCA
from tests.certs.standin import running_standin, wait_for_content


@pytest.fixture
def service_process(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """A child process that re-reads ``svc-slot/cert.pem`` into a marker on SIGHUP."""
    with running_standin(tmp_path, tmp_path / "svc-slot") as handles:
        yield handles


def test_a_signal_reload_reaches_the_running_service(
    ca_context: CAContext,
    make_slot: MakeSlot,
    ca: TestCA,
    service_process: tuple[Path, Path],
    tmp_path: Path,
) -> None:
    pid_file, marker = service_process
    make_slot(
        "server/https", directory=str(tmp_path / "svc-slot"), reload={"pid_file": str(pid_file)}
    )
    first = ca.issue("one.example.test")

    installed = install_certificate(ca_context, "server/https", first.bundle_pem, actor="t")
    wait_for_content(marker, first.chain_pem)

    second = ca.issue("two.example.test")
    replace_certificate(ca_context, "server/https", installed.id, second.bundle_pem, actor="t")
    wait_for_content(marker, second.chain_pem)


def test_a_command_reload_runs_with_the_slot_in_its_environment(
    ca_context: CAContext, make_slot: MakeSlot, ca: TestCA, tmp_path: Path
) -> None:
    marker = tmp_path / "ran"
    script = f'echo "$CERTWARD_SLOT $CERTWARD_CHANGE" >> {marker}'
    make_slot("client/ldap", reload={"command": ["/bin/sh", "-c", script]})

    installed = install_certificate(
        ca_context, "client/ldap", ca.issue("c", client=True).bundle_pem, actor="t"
    )
    delete_certificate(ca_context, "client/ldap", installed.id, actor="t")

    assert marker.read_text().splitlines() == ["client/ldap installed", "client/ldap deleted"]


def test_a_failing_reload_puts_files_and_records_back_byte_for_byte(
    ca_context: CAContext, make_slot: MakeSlot, ca: TestCA, tmp_path: Path
) -> None:
    switch = tmp_path / "fail"
    script = f"test ! -e {switch}"
    spec = make_slot("server/https", reload={"command": ["/bin/sh", "-c", script]})
    installed = install_certificate(ca_context, "server/https", ca.issue().bundle_pem, actor="t")
    files_before = directory_state(spec.directory)
    records_before = database_state(ca_context, "server/https")
    switch.touch()

    with pytest.raises(ReloadFailed, match="exited with status 1") as raised:
        replace_certificate(
            ca_context, "server/https", installed.id, ca.issue("x").bundle_pem, actor="t"
        )
    with pytest.raises(ReloadFailed):
        delete_certificate(ca_context, "server/https", installed.id, actor="t")

    assert raised.value.code == "slot.reload_failed"
    assert directory_state(spec.directory) == files_before
    assert database_state(ca_context, "server/https") == records_before


def test_a_reload_that_hangs_is_cut_off_and_rolled_back(
    ca_context: CAContext, make_slot: MakeSlot, ca: TestCA
) -> None:
    spec = make_slot(
        "client/slow", reload={"command": ["/bin/sleep", "30"], "timeout_seconds": 0.5}
    )

    with pytest.raises(ReloadFailed, match="did not finish"):
        install_certificate(ca_context, "client/slow", ca.issue().bundle_pem, actor="t")

    assert directory_state(spec.directory) == {}
    assert database_state(ca_context, "client/slow")[0] == []


class _Hook(http.server.BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, str]]] = []
    status = 204

    def do_POST(self) -> None:
        length = int(self.headers["content-length"])
        type(self).received.append(json.loads(self.rfile.read(length)))
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def webhook() -> Iterator[tuple[str, type[_Hook]]]:
    handler = type("Hook", (_Hook,), {"received": [], "status": 204})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/reload", handler
    finally:
        server.shutdown()
        server.server_close()


def test_a_webhook_reload_is_posted_and_a_refusal_rolls_back(
    ca_context: CAContext, make_slot: MakeSlot, ca: TestCA, webhook: tuple[str, type[_Hook]]
) -> None:
    url, hook = webhook
    spec = make_slot("server/hooked", reload={"url": url})
    install_certificate(ca_context, "server/hooked", ca.issue().bundle_pem, actor="t")
    assert hook.received == [{"slot": "server/hooked", "change": "installed"}]
    before = directory_state(spec.directory)
    events_before = events_after(ca_context, 0)
    hook.status = 500

    with pytest.raises(ReloadFailed, match="answered 500"):
        replace_certificate(
            ca_context,
            "server/hooked",
            events_before[-1].certificate_id or "",
            ca.issue("y").bundle_pem,
            actor="t",
        )

    assert directory_state(spec.directory) == before
    assert events_after(ca_context, 0) == events_before
