"""Where a served request's CPU goes: py-spy on ``certward serve`` under the benchmark's load.

Run: ``.venv/bin/python bench/profile_server.py issuance [--seconds 15] [--out FILE]``
(workloads: health, issuance, kms-sign, ocsp, or ``all``; ``make profile`` writes all of
them to docs/benchmarks/profiles.md; py-spy is in the dev extra).

One worker pinned to core 0, the load generator (bench/loadgen.py, keep-alive mTLS)
on core 1, as in the benchmarks. py-spy samples the worker with ``--gil``: only the
thread holding the GIL is counted, which is the one core a worker can use for
Python. Each sample's frames are put in the first layer that matches, from the leaf
up, so the shares add up to 100%:

- crypto (cryptography, ssl objects' own work: encrypting, signing),
- database (SQLAlchemy, sqlite3, psycopg),
- validation and JSON (pydantic, json),
- HTTP and ASGI (uvicorn, starlette, fastapi, httptools, h11),
- event loop and TLS records (asyncio, selectors, sslproto),
- certward (everything under ``certward/`` not above),
- other.

The report lists those shares and the heaviest functions (inclusive). The benchmark
numbers say how fast; this says why, and the closing notes quote it.
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_server import (
    QUICK,
    Material,
    certward_command,
    csr_pems,
    free_port,
    mtls_load,
    prepare_material,
    server_process,
)
from bench.loadgen import LoadSpec, run_load

# Checked from the leaf up: the first layer whose pattern matches a frame takes the sample.
LAYERS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("crypto", re.compile(r"cryptography/|\(ssl\.py\)|ssl\.py:")),
    ("database", re.compile(r"sqlalchemy/|sqlite3/|psycopg")),
    ("validation and JSON", re.compile(r"pydantic|/json/|orjson")),
    ("HTTP and ASGI", re.compile(r"uvicorn/|starlette/|fastapi/|httptools|h11/")),
    ("event loop and TLS records", re.compile(r"asyncio/|selectors\.py|sslproto")),
    ("certward", re.compile(r"certward/")),
)


@dataclass(frozen=True)
class Profile:
    """Samples per layer and per function (inclusive) of one run."""

    samples: int
    layers: dict[str, int]
    functions: list[tuple[str, int]]
    per_second: float


def _frame(raw: str) -> str:
    return re.sub(r":\d+\)$", ")", raw)


def summarise(raw_file: Path, *, per_second: float, top: int = 25) -> Profile:
    """py-spy's raw (collapsed) output → layer shares and the heaviest functions."""
    layers: collections.Counter[str] = collections.Counter()
    functions: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw_file.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_frame(frame) for frame in stack.split(";")]
        total += count
        layer = next(
            (
                name
                for frame in reversed(frames)
                for name, pattern in LAYERS
                if pattern.search(frame)
            ),
            "other",
        )
        layers[layer] += count
        for frame in dict.fromkeys(frames):
            functions[frame] += count
    # The frames every sample passes through (start-up, thread and loop plumbing) say nothing.
    plumbing = re.compile(
        r"typer/|_click/|cli/main\.py|uvicorn/server\.py|uvicorn/_compat|threading\.py|"
        r"asyncio/(base_events|events|runners)\.py|^<module>"
    )
    heaviest = [
        (name, count) for name, count in functions.most_common() if not plumbing.search(name)
    ]
    return Profile(total, dict(layers), heaviest[:top], per_second)


def report(name: str, profile: Profile) -> str:
    """The profile as markdown."""
    lines = [
        f"## Profile: {name}",
        "",
        f"{profile.per_second:,.0f} requests/s while sampled; {profile.samples:,} samples of "
        "the thread holding the GIL (py-spy --gil).",
        "",
        "| layer | share of samples |",
        "|---|---:|",
    ]
    for layer, _ in (*LAYERS, ("other", None)):
        share = profile.layers.get(layer, 0) / max(profile.samples, 1)
        lines.append(f"| {layer} | {share:.0%} |")
    lines += ["", "| function (inclusive) | share |", "|---|---:|"]
    for function, count in profile.functions:
        lines.append(f"| `{function[:110]}` | {count / max(profile.samples, 1):.0%} |")
    return "\n".join(lines) + "\n"


def _issuance(material: Material, url: str) -> LoadSpec:
    bodies = tuple(
        json.dumps({"ca": "issuing", "profile": "server", "csr_pem": pem}).encode()
        for pem in csr_pems(64)
    )
    return mtls_load(
        f"{url}/v1/certificates/sign", material, mode="post", connections=16, scale=QUICK,
        bodies=bodies,
    )  # fmt: skip


def _health(material: Material, url: str) -> LoadSpec:
    return mtls_load(f"{url}/health", material, mode="keepalive", connections=8, scale=QUICK)


def _kms_sign(material: Material, url: str) -> LoadSpec:
    from bench.bench_kms import create_keys, sign_bodies

    keys = create_keys(material)
    return mtls_load(
        f"{url}/v1/kms/keys/{keys.ecdsa}/sign", material, mode="post", connections=8,
        scale=QUICK, bodies=sign_bodies("ECDSA_SHA_256"),
    )  # fmt: skip


def _ocsp(material: Material, url: str) -> LoadSpec:
    from bench.bench_ocsp import ocsp_get_path

    return mtls_load(
        f"{url}{ocsp_get_path(material)}", material, mode="keepalive", connections=8, scale=QUICK
    )


WORKLOADS: dict[str, Callable[[Material, str], LoadSpec]] = {
    "health": _health,
    "issuance": _issuance,
    "kms-sign": _kms_sign,
    "ocsp": _ocsp,
}


def profile(workload: str, *, seconds: float) -> Profile:
    """Serve, load and sample ``workload`` for ``seconds``."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    with tempfile.TemporaryDirectory(prefix="certward-profile-") as tmp:
        work = Path(tmp)
        material = prepare_material(work / "material", revoked=0)
        port = free_port()
        # Loads that need setup (KMS keys) make it before the server starts.
        spec_for = WORKLOADS[workload]
        spec = spec_for(material, f"https://127.0.0.1:{port}")
        spec = replace(spec, duration=seconds + 3)
        with server_process(
            "certward", certward_command(material, port), port=port, logs=work
        ) as target:
            run_load(replace(spec, duration=1.0))  # warm up
            pids = subprocess.run(
                ["pgrep", "-g", str(target.process_group)],
                check=False,
                capture_output=True,
                text=True,
            ).stdout.split()
            raw = work / "samples.raw"
            sampler = subprocess.Popen(
                [py_spy, "record", "--gil", "-r", "250", "-d", str(int(seconds)), "-f", "raw",
                 "-o", str(raw), "--pid", pids[-1]],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            result = run_load(spec)
            sampler.wait(timeout=seconds + 60)
            return summarise(raw, per_second=result.per_second)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("workload", choices=[*sorted(WORKLOADS), "all"])
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--out", type=Path, help="write the markdown here (default: print)")
    args = parser.parse_args()
    names = sorted(WORKLOADS) if args.workload == "all" else [args.workload]
    text = "# Profiles\n\nWritten by `make profile` (bench/profile_server.py); see its docstring.\n"
    for name in names:
        text += "\n" + report(name, profile(name, seconds=args.seconds))
    if args.out:
        args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
