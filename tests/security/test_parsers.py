"""Parser fuzzing (CI-sized) and round-trip properties, with hypothesis.

Every parser of outside bytes (``parsers.PARSERS``) gets mutations of a valid
input and random bytes: it returns or raises a typed CertwardError, nothing else.
Round trips: KeyIdent, KMS ciphertext headers, sealed envelopes, PEM/DER/PKCS#12
export and import. ``FUZZ_EXAMPLES`` is the CI budget; ``fuzz/`` runs the same
table for minutes.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from certward.crypto.formats import export_pkcs12, load_certificates, load_pkcs12
from certward.crypto.keys import load_private_key, private_key_to_pkcs8
from certward.errors import CertwardError, DecryptionFailed, KmsInvalidCiphertext
from certward.kds.ident import KeyIdent
from certward.keystore import Keystore
from certward.kms.ciphertext import Ciphertext, parse_ciphertext
from certward.kms.specs import EncryptionAlgorithm
from tests.security.corpus import seeds
from tests.security.parsers import PARSERS, Parser

FUZZ_EXAMPLES = int(os.environ.get("CERTWARD_FUZZ_EXAMPLES", "200"))
CI = settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@st.composite
def mutated(draw: st.DrawFn, seed: bytes) -> bytes:
    """``seed`` with a few bit flips, cuts, insertions or repeats; sometimes random bytes."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=512))
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 4))):
        action = draw(st.sampled_from(["flip", "set", "cut", "insert", "repeat", "delete"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if action == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif action == "set" and data:
            data[at] = draw(st.sampled_from([0x00, 0x7F, 0x80, 0x81, 0xFF, 0x30, 0x02]))
        elif action == "cut":
            del data[at:]
        elif action == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif action == "repeat":
            data[at:at] = data[at : at + draw(st.integers(1, 64))]
        elif action == "delete":
            del data[at : at + draw(st.integers(1, 8))]
    return bytes(data)


def inputs(parser: Parser) -> st.SearchStrategy[bytes]:
    return st.sampled_from(parser.seeds(seeds())).flatmap(mutated)


def parse_or_typed_error(parser: Parser, data: bytes) -> None:
    try:
        parser.parse(data)
    except CertwardError:
        pass
    except parser.also_allowed:
        pass


@pytest.mark.parametrize("parser", PARSERS, ids=[p.name for p in PARSERS])
def test_parser_raises_only_typed_errors(parser: Parser) -> None:
    @CI
    @given(data=inputs(parser))
    def run(data: bytes) -> None:
        parse_or_typed_error(parser, data)

    run()


@pytest.mark.parametrize("parser", PARSERS, ids=[p.name for p in PARSERS])
def test_parser_accepts_its_own_seed(parser: Parser) -> None:
    # The seeds are valid inputs: a parser that refused them would make the fuzzing hollow.
    for data in parser.seeds(seeds()):
        parse_or_typed_error(parser, data)


# -- round trips ---------------------------------------------------------------------

LONG = st.integers(-(2**63), 2**63 - 1)


@CI
@given(timestamp=LONG, nonce=LONG, group=st.text(max_size=200))
def test_key_ident_round_trips(timestamp: int, nonce: int, group: str) -> None:
    ident = KeyIdent(timestamp, nonce, group)

    assert KeyIdent.decode(ident.encode()) == ident


@CI
@given(data=st.binary(max_size=64), extra=st.binary(min_size=1, max_size=8))
def test_key_ident_refuses_trailing_bytes_and_cuts(data: bytes, extra: bytes) -> None:
    encoded = KeyIdent(1, 2, data.decode("latin-1")).encode()

    for bad in (encoded + extra, encoded[: -len(extra)]):
        with pytest.raises(CertwardError):
            KeyIdent.decode(bad)


@CI
@given(
    algorithm=st.sampled_from(list(EncryptionAlgorithm)),
    key_id=st.text(alphabet="abcdef0123456789-", min_size=1, max_size=64),
    version=st.integers(1, 2**32 - 1),
    payload=st.binary(min_size=28, max_size=300),
)
def test_ciphertext_blob_round_trips(
    algorithm: EncryptionAlgorithm, key_id: str, version: int, payload: bytes
) -> None:
    header = Ciphertext.header_for(algorithm, key_id, version)
    parsed = parse_ciphertext(header + payload)

    assert (parsed.algorithm, parsed.key_id, parsed.version) == (algorithm, key_id, version)
    assert parsed.to_bytes() == header + payload
    with pytest.raises(KmsInvalidCiphertext):
        parse_ciphertext((header + payload)[: len(header) - 1])


@pytest.fixture(scope="module")
def keystore(tmp_path_factory: pytest.TempPathFactory) -> Keystore:
    keys = tmp_path_factory.mktemp("keys")
    keys.chmod(0o700)
    return Keystore.load(keys, create=True)


@CI
@given(
    plaintext=st.binary(max_size=2048),
    record=st.text(min_size=1, max_size=80),
    flip=st.integers(min_value=0),
)
def test_envelope_encryption_round_trips_and_detects_tampering(
    keystore: Keystore, plaintext: bytes, record: str, flip: int
) -> None:
    blob = keystore.seal(plaintext, record_id=record)

    assert keystore.open(blob, record_id=record) == plaintext
    damaged = bytearray(blob)
    damaged[flip % len(damaged)] ^= 0x01
    with pytest.raises(DecryptionFailed):
        keystore.open(bytes(damaged), record_id=record)
    with pytest.raises(DecryptionFailed):
        keystore.open(blob, record_id=record + "x")


@settings(CI, max_examples=min(FUZZ_EXAMPLES, 20))
@given(password=st.one_of(st.none(), st.text(min_size=1, max_size=40)))
def test_pem_pkcs8_and_pkcs12_export_import_round_trip(password: str | None) -> None:
    certificate = load_certificates(seeds().certificate_pem)[0]
    key = load_private_key(seeds().key_pem)
    secret = password.encode() if password else None

    pem = private_key_to_pkcs8(key, password=secret)
    bundle = export_pkcs12(
        name="rt", key=key, certificate=certificate, chain=[certificate], password=secret
    )
    loaded_key, loaded_certificate, extra = load_pkcs12(bundle, password=secret)

    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    for other in (load_private_key(pem, password=secret), loaded_key):
        assert other is not None
        assert (
            other.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            == public
        )
    assert loaded_certificate == certificate
    assert extra == [certificate]
    assert load_certificates(certificate.public_bytes(serialization.Encoding.PEM) * 2) == [
        certificate,
        certificate,
    ]


def test_the_table_names_every_parser_module() -> None:
    # A reminder with teeth: new parsers of outside bytes belong in parsers.PARSERS.
    names = {parser.name for parser in PARSERS}
    assert len(names) == len(PARSERS) >= 19
    assert Path(__file__).with_name("parsers.py").exists()


REGRESSIONS = sorted((Path(__file__).parent / "regressions").glob("*.bin"))


@pytest.mark.parametrize("path", REGRESSIONS, ids=[p.stem for p in REGRESSIONS])
def test_inputs_the_long_fuzz_runs_crashed_on_now_fail_typed(path: Path) -> None:
    # Found by fuzz/fuzz_parsers.py (atheris): names with a BIT STRING attribute value made
    # cryptography raise TypeError out of every certificate, CSR and CRL loader.
    data = path.read_bytes()
    for parser in PARSERS:
        parse_or_typed_error(parser, data)
    assert len(REGRESSIONS) >= 4
