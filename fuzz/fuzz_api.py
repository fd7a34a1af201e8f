"""Long-running API fuzzing: schemathesis against a real ``certward serve`` over mutual TLS.

Run: ``.venv/bin/python fuzz/fuzz_api.py --minutes 5 [--examples 200]``. See fuzz/README.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    from tests.security.api_fuzz import fuzz_api
    from tests.security.test_api_fuzz import LOW_PRIVILEGE_GRANTS
    from tests.server.service import running_service

    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--minutes", type=float, default=5.0)
    options.add_argument(
        "--examples", type=int, default=200, help="cases per operation, identity and mode"
    )
    args = options.parse_args()
    with tempfile.TemporaryDirectory(prefix="certward-fuzz-api-") as tmp:
        base = Path(tmp)
        with running_service(base / "data", log=base / "serve.log") as service:
            with service.client(None) as anonymous:
                document = anonymous.get("/openapi.json").json()
            identities = {
                "admin": service.create_principal(
                    base / "ids", name="fuzz-admin", grants=[{"permission": "admin"}]
                ),
                "low-privilege": service.create_principal(
                    base / "ids", name="fuzz-low", grants=LOW_PRIVILEGE_GRANTS
                ),
                "no certificate": None,
            }
            # Each identity gets a third of the time; operations share it in order.
            report = fuzz_api(
                service,
                document,
                identities,
                examples=args.examples,
                deadline=args.minutes * 60,
                derandomize=False,
            )
            tracebacks = service.output().count("Traceback")
    print(
        json.dumps(
            {
                "requests": report.requests,
                "operation_identity_pairs": report.operations,
                "seconds": round(report.seconds, 1),
                "statuses": dict(sorted(report.statuses.items())),
                "server_tracebacks": tracebacks,
                "problems": report.failures,
            },
            indent=1,
        )
    )
    return 1 if report.failures or tracebacks else 0


if __name__ == "__main__":
    sys.exit(main())
