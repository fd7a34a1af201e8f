"""Schemathesis against a running service: every operation, as several identities.

Shared by the CI-sized test (``test_api_fuzz.py``) and the long run
(``fuzz/fuzz_api.py``). Each generated request is sent over mutual TLS; each
response must be no 5xx, carry HSTS and X-Request-ID, render errors in the one
documented shape (``{"error": {"code", "message", "request_id"}}``, the id equal
to the header, no traceback) and conform to the schema for documented statuses.
Failures are collected (not raised), so one run reports every distinct problem.
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import response_schema_conformance

from tests.server.service import Identity, Service

__all__ = ["NOT_FUZZED", "FuzzReport", "fuzz_api"]

# Operations the fuzzer does not call, and why (the access matrix calls each of them).
NOT_FUZZED: dict[tuple[str, str], str] = {
    # An admin creating slots makes directories wherever the fuzzer says, and a slot's
    # reload action is a command certward runs: not something to hand random strings.
    ("POST", "/v1/slots"): "writes to the file system and runs reload commands",
    # An event stream answers forever: every allowed example would wait for its timeout.
    ("GET", "/v1/events"): "a never-ending text/event-stream",
}

_TRACEBACK_MARKERS = ("Traceback", 'File "', "site-packages", '.py", line')


@dataclass
class FuzzReport:
    """What a run sent and what came back."""

    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    operations: int = 0
    failures: dict[str, str] = field(default_factory=dict)  # "METHOD path: problem" -> example
    seconds: float = 0.0

    def fail(self, where: str, problem: str, example: str) -> None:
        self.failures.setdefault(f"{where}: {problem}", example[:500])


def _header(response: Any, name: str) -> str | None:
    # schemathesis' Response keeps every value of a header in a list.
    for key, value in response.headers.items():
        if key.lower() == name:
            return str(value[0] if isinstance(value, list) else value)
    return None


def _problems(response: Any) -> list[str]:
    problems = []
    if response.status_code >= 500:
        problems.append(f"server error {response.status_code}")
    if _header(response, "strict-transport-security") is None:
        problems.append("no HSTS header")
    request_id = _header(response, "x-request-id")
    if not request_id:
        problems.append("no X-Request-ID")
    if response.status_code >= 400:
        if not (_header(response, "content-type") or "").startswith("application/json"):
            problems.append(f"error {response.status_code} is not JSON")
            return problems
        body = response.json()
        error = body.get("error") if isinstance(body, dict) else None
        if (
            set(body) != {"error"}
            or not isinstance(error, dict)
            or set(error) != {"code", "message", "request_id"}
        ):
            problems.append(f"error {response.status_code} not in the documented shape")
        elif error["request_id"] != request_id or not error["code"] or not error["message"]:
            problems.append(f"error {response.status_code}: empty code/message or wrong id")
        if any(marker in response.text for marker in _TRACEBACK_MARKERS):
            problems.append("a traceback in an error body")
    return problems


def _session(service: Service, identity: Identity | None) -> requests.Session:
    session = requests.Session()
    session.verify = str(service.ca_certificate)
    if identity is not None:
        session.cert = (str(identity.certificate), str(identity.key))
    return session


def _call(url: str, session: requests.Session, case: Any) -> Any:
    response = case.call(
        base_url=url, session=session, timeout=60, verify=session.verify, cert=session.cert
    )
    return response


class _TimeUp(Exception):
    """The run's deadline passed in the middle of an operation's examples."""


def _record(
    case: Any,
    response: Any,
    *,
    report: FuzzReport,
    where: str,
    label: str,
    over: Callable[[], bool],
) -> None:
    report.requests += 1
    report.statuses[response.status_code] += 1
    example = f"as {label}: {case.as_curl_command()}"
    for problem in _problems(response):
        report.fail(where, problem, example)
    if response.status_code < 400:
        try:
            case.validate_response(response, checks=[response_schema_conformance])
        except Exception as exc:  # schemathesis' Failure / FailureGroup
            report.fail(where, f"response does not conform: {exc}"[:300], example)
    if over():
        raise _TimeUp


def _runner(
    operation: Any,
    mode: GenerationMode,
    *,
    examples: int,
    derandomize: bool,
    call: Callable[[Any], Any],
    record: Callable[[Any, Any], None],
) -> Callable[[], None]:
    @settings(
        max_examples=examples,
        deadline=None,
        derandomize=derandomize,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        record(case, call(case))

    return run  # type: ignore[no-any-return]


def fuzz_api(
    service: Service,
    document: dict[str, Any],
    identities: dict[str, Identity | None],
    *,
    examples: int,
    deadline: float | None = None,
    derandomize: bool = True,
    skip: frozenset[tuple[str, str]] = frozenset(NOT_FUZZED),
) -> FuzzReport:
    """Fuzz every operation of ``document`` as each identity (None: no certificate).

    ``examples``: generated cases per operation, identity and mode (positive data,
    then negative data). ``deadline``: stop starting new operations after this
    many seconds. ``skip``: (METHOD, path) pairs not to call.
    """
    schema = schemathesis.openapi.from_dict(document)
    report = FuzzReport()
    started = time.monotonic()
    operations = [result.ok() for result in schema.get_all_operations()]
    sessions = {label: _session(service, identity) for label, identity in identities.items()}

    def over() -> bool:
        return deadline is not None and time.monotonic() - started > deadline

    while True:  # one round without a deadline; rounds until it with one
        for label, session in sessions.items():
            for operation in operations:
                where = f"{operation.method.upper()} {operation.path}"
                if (operation.method.upper(), operation.path) in skip or over():
                    continue
                report.operations += 1
                for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                    run = _runner(
                        operation,
                        mode,
                        examples=examples,
                        derandomize=derandomize,
                        call=partial(_call, service.url, session),
                        record=partial(_record, report=report, where=where, label=label, over=over),
                    )
                    # Negative data for an operation with nothing to get wrong (GET /health).
                    with contextlib.suppress(Unsatisfiable, _TimeUp):
                        run()
        if deadline is None or over():
            break
    report.seconds = time.monotonic() - started
    return report
