"""Screenshots of every web console page: ``make screenshots`` writes docs/screenshots/*.png.

Starts ``certward serve`` on a temporary data dir, seeds realistic data through the
HTTPS API as the bootstrap admin, then drives Debian's Chromium (Playwright, the
admin's PKCS#12 as client certificate) over every page of the console's navigation
at desktop width, plus the overview at phone width and one certificate's page.

Each part seeds its own pages' data in its own function below (``seed_ca_data`` for
the CA pages; the functions of the slots, KMS, KDS and principals pages next to it).
"""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from certward.server.console.pages import PAGES  # noqa: E402

OUT = ROOT / "docs" / "screenshots"
CERTWARD = Path(sys.executable).parent / "certward"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def _service(data_dir: Path) -> Iterator[str]:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERTWARD_")}
    log = (data_dir.parent / "serve.log").open("wb")
    process = subprocess.Popen(
        [str(CERTWARD), "-d", str(data_dir), "serve", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )
    url = f"https://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise SystemExit("certward serve exited early; see " + log.name)
            ca = data_dir / "admin" / "ca.crt"
            if ca.exists():
                try:
                    if httpx.get(f"{url}/health", verify=str(ca), timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
            if time.monotonic() > deadline:
                raise SystemExit("certward serve did not start")
            time.sleep(0.1)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=15)
        log.close()


def _admin_client(url: str, data_dir: Path) -> httpx.Client:
    admin = data_dir / "admin"
    context = ssl.create_default_context(cafile=str(admin / "ca.crt"))
    context.load_cert_chain(admin / "admin.crt", admin / "admin.key")
    return httpx.Client(base_url=url, verify=context, timeout=60)


def _ok(response: httpx.Response) -> dict[str, object]:
    if response.status_code >= 300:
        raise SystemExit(f"{response.request.method} {response.request.url}: {response.text}")
    body = response.json() if response.content else {}
    return body if isinstance(body, dict) else {"items": body}


# -- seed data: one function per part of the console ----------------------------------


def seed_ca_data(api: httpx.Client) -> None:
    """CAs, certificates expiring over the next months, revocations, CRLs, audit events."""
    _ok(
        api.post(
            "/v1/cas",
            json={"name": "web-ca", "subject": "/CN=Example Web CA/O=Example", "parent": "root"},
        )
    )
    services = ["www", "api", "shop", "mail", "vpn", "git", "wiki", "grafana", "auth", "cdn"]
    issued = []
    for index in range(60):
        name = f"{services[index % len(services)]}{index // len(services) or ''}.example.com"
        ca = "web-ca" if index % 3 else "issuing"
        body = {
            "ca": ca,
            "profile": "server",
            "common_name": name,
            "sans": [f"DNS:{name}"],
            # Renewals bunch up: a few busy days, many quiet ones.
            "days": 2 + (index * index * 7) % 88,
        }
        issued.append(_ok(api.post("/v1/certificates", json=body)))
    for index in range(6):
        body = {"ca": "issuing", "profile": "client", "common_name": f"device-{index:03d}"}
        issued.append(_ok(api.post("/v1/certificates", json=body)))
    for item, reason in zip(
        issued[:4],
        ["keyCompromise", "superseded", "cessationOfOperation", "superseded"],
        strict=True,
    ):
        _ok(api.post(f"/v1/certificates/{item['serial']}/revoke", json={"reason": reason}))
    _ok(api.post("/v1/cas/web-ca/crl"))


# -- seed data of the slots, KMS, KDS and principals pages (console-b) -------------------


def seed_slots_kms_principals(api: httpx.Client) -> None:
    """Three OpenBMC slots (one pending CSR), KMS keys with some use, principals, a disabled one."""
    import atexit
    import base64
    import shutil

    slots_dir = Path(tempfile.mkdtemp(prefix="certward-screens-slots-"))
    atexit.register(shutil.rmtree, slots_dir, ignore_errors=True)
    for name in ("server/https", "client/ldap", "authority/truststore"):
        body = {"name": name, "directory": str(slots_dir / name.replace("/", "-"))}
        _ok(api.post("/v1/slots", json=body))
    web = _ok(
        api.post(
            "/v1/certificates",
            json={
                "ca": "issuing",
                "profile": "server",
                "common_name": "bmc.example.com",
                "sans": ["DNS:bmc.example.com", "IP:10.0.0.5"],
            },
        )
    )
    _ok(
        api.post(
            "/v1/slots/server/https/certificates",
            json={"certificate_pem": web["chain_pem"], "key_pem": web["private_key_pem"]},
        )
    )
    for ca in ("root", "issuing"):
        pem = api.get(f"/ca/{ca}/ca.crt").text
        _ok(api.post("/v1/slots/authority/truststore/certificates", json={"certificate_pem": pem}))
    csr = {
        "common_name": "ldap-client.example.com",
        "organization": "Example",
        "country": "US",
        "organizational_unit": "IT",
        "city": "Austin",
        "state": "TX",
    }
    _ok(api.post("/v1/slots/client/ldap/csr", json=csr))

    keys = {}
    for alias, spec, usage in (
        ("alias/release-signing", "EC_P256", "SIGN_VERIFY"),
        ("alias/backups", "AES_256", "ENCRYPT_DECRYPT"),
        ("alias/webhooks", "HMAC_256", "GENERATE_VERIFY_MAC"),
        ("alias/legacy-rsa", "RSA_2048", "SIGN_VERIFY"),
    ):
        body = {"spec": spec, "usage": usage, "alias": alias, "description": alias[6:]}
        keys[alias] = _ok(api.post("/v1/kms/keys", json=body))["key_id"]
    _ok(api.post(f"/v1/kms/keys/{keys['alias/release-signing']}/rotate"))
    _ok(api.post(f"/v1/kms/keys/{keys['alias/legacy-rsa']}/disable"))
    message = base64.b64encode(b"release notes 1.4").decode()
    for _ in range(5):
        body = {"message": message, "algorithm": "ECDSA_SHA_256"}
        _ok(api.post("/v1/kms/keys/alias/release-signing/sign", json=body))
    for _ in range(3):
        body = {"plaintext": base64.b64encode(b"nightly dump").decode()}
        _ok(api.post("/v1/kms/keys/alias/backups/encrypt", json=body))

    point = {
        "name": "payments-app",
        "keys": ["alias/release-signing"],
        "operations": ["sign", "verify"],
        "description": "payments service",
    }
    _ok(api.post("/v1/kms/access-points", json=point))
    for name, grants in (
        (
            "ci-runner",
            [{"permission": "ca.issue", "resources": ["issuing"], "profiles": ["client"]}],
        ),
        ("auditor", [{"permission": "audit.read"}, {"permission": "metrics.read"}]),
        ("old-laptop", [{"permission": "certs.manage"}]),
    ):
        _ok(api.post("/v1/principals", json={"name": name, "grants": grants}))
    _ok(api.post("/v1/principals/old-laptop/disable"))


def seed_kds_master_keys(data_dir: Path) -> None:
    """KDS master keys of the last weeks (no API makes them: the CLI on the data dir does)."""
    import base64
    import json
    import secrets

    env = {k: v for k, v in os.environ.items() if not k.startswith("CERTWARD_")}
    week_ms = 7 * 86_400_000
    now_ms = int(time.time() * 1000)
    older = [
        {
            "timestamp": now_ms - weeks * week_ms,
            "key": base64.b64encode(secrets.token_bytes(64)).decode(),
        }
        for weeks in range(8, 0, -1)
    ]
    exported = data_dir.parent / "kds-keys.json"
    exported.write_text(json.dumps(older))
    exported.chmod(0o600)
    for command in (["kds", "import-master-keys", str(exported)], ["kds", "publish-now"]):
        subprocess.run(
            [str(CERTWARD), "-d", str(data_dir), *command], check=True, capture_output=True, env=env
        )
    exported.unlink()


SEEDS = [seed_ca_data, seed_slots_kms_principals]


def _shoot(page: Any, url: str, path: Path) -> None:
    page.goto(url)
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(path), full_page=True)
    print(f"  {path.relative_to(ROOT)}")


def main() -> None:
    from playwright.sync_api import sync_playwright

    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="certward-screens-") as temp:
        data_dir = Path(temp) / "data"
        with _service(data_dir) as url, _admin_client(url, data_dir) as api:
            for seed in SEEDS:
                seed(api)
            seed_kds_master_keys(data_dir)  # console-b: the KDS page's data
            search = {"search": "www.example.com", "limit": 1}
            first = _ok(api.get("/v1/certificates", params=search))
            serial = first["items"][0]["serial"]  # type: ignore[index]
            admin = data_dir / "admin"
            certificate = {
                "origin": url,
                "pfxPath": str(admin / "admin.p12"),
                "passphrase": (admin / "admin.p12.pass").read_text().strip(),
            }
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                for viewport, shots in (
                    (
                        DESKTOP,
                        [(page.name, page.path) for page in PAGES]
                        + [("certificate", f"/certificates/{serial}")],
                    ),
                    (PHONE, [("overview-phone", "/")]),
                ):
                    context = browser.new_context(
                        viewport=viewport,
                        ignore_https_errors=True,
                        client_certificates=[certificate],
                    )
                    tab = context.new_page()
                    for name, path in shots:
                        _shoot(tab, f"{url}/ui{path}", OUT / f"{name}.png")
                    context.close()
                browser.close()


if __name__ == "__main__":
    main()
