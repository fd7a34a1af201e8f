"""Long-running parser fuzzing: atheris (coverage-guided) or hypothesis, per parser.

Run: ``.venv/bin/python fuzz/fuzz_parsers.py --minutes 5 [--engine atheris|hypothesis]
[--only NAME]``. See fuzz/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CRASHES = ROOT / "fuzz" / "crashes"


def _one_atheris(index: int) -> None:
    """Child process: fuzz parser ``index`` until libFuzzer's -max_total_time."""
    import atheris

    with atheris.instrument_imports(include=["certward"]):
        from certward.errors import CertwardError
        from tests.security.parsers import PARSERS

    parser = PARSERS[index]

    def test_one_input(data: bytes) -> None:
        try:
            parser.parse(data)
        except CertwardError:
            pass
        except parser.also_allowed:
            pass

    atheris.Setup(sys.argv[:1] + sys.argv[3:], test_one_input)
    atheris.Fuzz()


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower())


def _run_atheris(names: list[int], seconds: float) -> list[dict[str, object]]:
    from tests.security.corpus import seeds
    from tests.security.parsers import PARSERS

    results = []
    CRASHES.mkdir(exist_ok=True)
    for index in names:
        parser = PARSERS[index]
        with tempfile.TemporaryDirectory(prefix="certward-corpus-") as corpus:
            for number, seed in enumerate(parser.seeds(seeds())):
                Path(corpus, f"seed-{number}").write_bytes(seed)
            started = time.monotonic()
            result = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--child",
                    str(index),
                    f"-max_total_time={max(1, int(seconds))}",
                    f"-artifact_prefix={CRASHES}/{_slug(parser.name)}-",
                    "-max_len=8192",
                    "-print_final_stats=1",
                    corpus,
                ],
                capture_output=True,
                text=True,
                check=False,
                cwd=ROOT,
            )
        output = result.stdout + result.stderr
        runs = re.findall(r"stat::number_of_executed_units:\s+(\d+)", output)
        coverage = re.findall(r"cov: (\d+)", output)
        crashed = result.returncode != 0
        results.append(
            {
                "parser": parser.name,
                "inputs": int(runs[-1]) if runs else None,
                "coverage": int(coverage[-1]) if coverage else None,
                "seconds": round(time.monotonic() - started, 1),
                "crash": output[-3000:] if crashed else None,
            }
        )
        print(json.dumps(results[-1]), flush=True)
    return results


def _hypothesis_one(
    parser: Any, seconds: float, inputs: Any, parse_or_typed_error: Any
) -> dict[str, object]:
    from hypothesis import HealthCheck, given, settings

    count = 0
    started = time.monotonic()
    failure = None

    @settings(
        max_examples=10**9, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(data=inputs(parser))
    def run(data: bytes) -> None:
        nonlocal count
        count += 1
        if time.monotonic() - started > seconds:
            raise TimeoutError
        parse_or_typed_error(parser, data)

    try:
        run()
    except TimeoutError:
        pass
    except Exception as exc:
        failure = repr(exc)[:3000]
    return {
        "parser": parser.name,
        "inputs": count,
        "seconds": round(time.monotonic() - started, 1),
        "crash": failure,
    }


def _run_hypothesis(names: list[int], seconds: float) -> list[dict[str, object]]:
    from tests.security.parsers import PARSERS
    from tests.security.test_parsers import inputs, parse_or_typed_error

    results = []
    for index in names:
        results.append(_hypothesis_one(PARSERS[index], seconds, inputs, parse_or_typed_error))
        print(json.dumps(results[-1]), flush=True)
    return results


def main() -> int:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        _one_atheris(int(sys.argv[2]))
        return 0
    from tests.security.parsers import PARSERS

    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--minutes", type=float, default=5.0, help="total time, all parsers")
    options.add_argument("--engine", choices=["atheris", "hypothesis"], default="atheris")
    options.add_argument("--only", help="fuzz the parsers whose name contains this")
    args = options.parse_args()
    chosen = [i for i, p in enumerate(PARSERS) if args.only is None or args.only in p.name]
    seconds = args.minutes * 60 / max(1, len(chosen))
    os.environ.setdefault("CERTWARD_LOG_LEVEL", "error")
    run = _run_atheris if args.engine == "atheris" else _run_hypothesis
    results = run(chosen, seconds)
    total = sum(int(r["inputs"] or 0) for r in results)  # type: ignore[call-overload]
    crashes = [r["parser"] for r in results if r["crash"]]
    print(
        json.dumps(
            {"engine": args.engine, "parsers": len(results), "inputs": total, "crashes": crashes}
        )
    )
    return 1 if crashes else 0


if __name__ == "__main__":
    sys.exit(main())
