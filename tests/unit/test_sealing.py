"""Sealed exports: only the intended recipient opens them, and no altered byte goes unnoticed.

The CLI tests build their own `MellanrumGroup` holding the two commands, exactly as
orchestration/cli/__init__.py registers them, so that a `MellanrumError` becomes exit
status 2 and a `mellanrum: error:` line here too.
"""

import base64
import hashlib
import os
import re
import shutil
import struct
import subprocess

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from hypothesis import given, settings
from hypothesis import strategies as st

from core.keys.passphrase import MIN_PASSPHRASE_CHARS
from core.keys.sealing import (
    FORMAT_VERSION,
    MAGIC,
    MAX_CONTEXT_BYTES,
    NotSealedError,
    SealedFileError,
    TamperedError,
    WrongRecipientError,
    key_fingerprint,
    load_private_key,
    new_recipient_key,
    open_sealed,
    parse_public_key,
    public_key_text,
    read_sealed_header,
    seal,
    write_private_key,
)
from orchestration.cli.errors import MellanrumGroup
from orchestration.cli.recipient_keys import (
    RECIPIENT_PASSPHRASE_ENV,
    decrypt,
    recipient_key,
)
from schemas.errors import ConfigError, KeyringError

PASSPHRASE = "a long enough recipient passphrase"
PERSONNUMMER = "190901019810"  # a Skatteverket test number: rows must not leak through a sealed file
PLAINTEXT = (
    "pseudonym;kommunkod;insats;anvisning;personnummer_i_fel_kolumn\n"
    f"MFRGGZDFMZTWQ2LKNNWG23TPOBYXE43U;1480;arbetsträning;KROM;{PERSONNUMMER}\n"
    "ONXW2ZJAMRQXIYJAMZXXEIDUMVZXI4ZA;1402;praktik;Jobbgarantin för ungdomar;\n"
).encode("utf-8")
CONTEXT = b"af_samplanering for af-goteborg, as of 2026-11-23"

RECIPIENT = new_recipient_key()
OTHER_RECIPIENT = new_recipient_key()
SEALED = seal(PLAINTEXT, RECIPIENT.public_key(), context=CONTEXT)
HEADER_LENGTH = read_sealed_header(SEALED).length


def assert_no_plaintext(text: str) -> None:
    """No row, pseudonym or number of the plaintext in an error message or CLI output."""
    for fragment in ("MFRGGZDFMZTWQ2LK", "ONXW2ZJAMRQXIYJA", PERSONNUMMER, "arbetsträning"):
        assert fragment not in text


# --- sealing and opening -----------------------------------------------------------------


@pytest.mark.parametrize(
    "plaintext", [b"", b"x", PLAINTEXT, os.urandom(1 << 20)], ids=["empty", "1 byte", "rows", "1 MiB"]
)
def test_round_trip(plaintext):
    sealed = seal(plaintext, RECIPIENT.public_key(), context=CONTEXT)
    assert open_sealed(sealed, RECIPIENT) == plaintext


@settings(deadline=None)  # examples: the profile (testkit/pytest_plugin.py)
@given(plaintext=st.binary(max_size=2000), context=st.binary(max_size=300))
def test_round_trip_of_any_plaintext_and_context(plaintext, context):
    sealed = seal(plaintext, RECIPIENT.public_key(), context=context)
    assert open_sealed(sealed, RECIPIENT) == plaintext
    assert read_sealed_header(sealed).context == context


def test_the_header_says_what_the_file_is_and_which_key_it_needs():
    header = read_sealed_header(SEALED)
    assert SEALED.startswith(MAGIC)
    assert header.version == FORMAT_VERSION
    assert header.suite == "DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM"
    assert header.recipient_fingerprint == key_fingerprint(RECIPIENT.public_key())
    assert header.context == CONTEXT
    # header, 32-byte encapsulated key, ciphertext and 16-byte tag: nothing else
    assert header.length == 57 + len(CONTEXT)
    assert len(SEALED) == header.length + 32 + len(PLAINTEXT) + 16


def test_sealing_twice_gives_unrelated_files():
    """A fresh ephemeral key per file: equal exports cannot be recognised as equal."""
    first, second = (seal(PLAINTEXT, RECIPIENT.public_key(), context=CONTEXT) for _ in range(2))
    assert first[:HEADER_LENGTH] == second[:HEADER_LENGTH]
    assert first[HEADER_LENGTH:] != second[HEADER_LENGTH:]


def test_the_plaintext_never_appears_in_the_sealed_bytes():
    repetitive = PLAINTEXT * 1000  # repetition would show through a broken mode
    sealed = seal(repetitive, RECIPIENT.public_key(), context=CONTEXT)
    for line in PLAINTEXT.splitlines():
        assert line not in sealed
    assert PERSONNUMMER.encode() not in sealed
    assert b"MFRGGZDF" not in sealed


def test_a_file_sealed_to_another_recipient_names_both_fingerprints():
    with pytest.raises(WrongRecipientError) as refused:
        open_sealed(SEALED, OTHER_RECIPIENT, name="af.sealed")
    message = str(refused.value)
    sealed_to, ours = key_fingerprint(RECIPIENT.public_key()), key_fingerprint(OTHER_RECIPIENT.public_key())
    assert message.startswith("af.sealed: ")
    assert sealed_to in message and ours in message
    assert (refused.value.sealed_to, refused.value.key_fingerprint) == (sealed_to, ours)
    assert_no_plaintext(message)


@settings(deadline=None)  # examples: the profile (testkit/pytest_plugin.py)
@given(data=st.data())
def test_any_single_flipped_byte_is_refused(data):
    position = data.draw(st.integers(0, len(SEALED) - 1), label="position")
    flip = data.draw(st.integers(1, 255), label="xor mask")
    altered = bytearray(SEALED)
    altered[position] ^= flip
    with pytest.raises(SealedFileError) as refused:
        open_sealed(bytes(altered), RECIPIENT)
    assert_no_plaintext(str(refused.value))


def test_a_flipped_bit_in_every_position_is_refused():
    """The exhaustive sweep behind the property test: every byte of the file is covered."""
    for position in range(len(SEALED)):
        altered = bytearray(SEALED)
        altered[position] ^= 0x01
        with pytest.raises(SealedFileError):
            open_sealed(bytes(altered), RECIPIENT)


def test_a_flipped_byte_in_the_body_is_reported_as_altered():
    altered = bytearray(SEALED)
    altered[-1] ^= 0xFF
    with pytest.raises(TamperedError) as refused:
        open_sealed(bytes(altered), RECIPIENT, name="af.sealed")
    assert str(refused.value).startswith("af.sealed: the sealed file was altered or damaged (authentication failed)")


def test_a_truncated_file_is_refused_at_every_length():
    for length in range(len(SEALED)):
        with pytest.raises(SealedFileError):
            open_sealed(SEALED[:length], RECIPIENT)


def test_appended_bytes_are_refused():
    with pytest.raises(TamperedError):
        open_sealed(SEALED + b"\x00", RECIPIENT)


@pytest.mark.parametrize(
    "not_sealed",
    [b"", b"MELLANRUM", PLAINTEXT, b"-----BEGIN ENCRYPTED PRIVATE KEY-----\n", b"\x00" * 200],
    ids=["empty", "short", "csv", "pem", "zeros"],
)
def test_a_file_that_is_not_sealed_is_named_as_such(not_sealed):
    with pytest.raises(NotSealedError, match=r"^export\.csv: not a Mellanrum sealed file") as refused:
        open_sealed(not_sealed, RECIPIENT, name="export.csv")
    assert_no_plaintext(str(refused.value))


def test_a_newer_format_version_or_an_unknown_suite_is_named():
    newer = bytearray(SEALED)
    newer[len(MAGIC)] = FORMAT_VERSION + 1
    with pytest.raises(NotSealedError, match="format version 2; this Mellanrum reads version 1"):
        open_sealed(bytes(newer), RECIPIENT)
    chacha = bytearray(SEALED)
    struct.pack_into(">H", chacha, len(MAGIC) + 5, 0x0003)  # AEAD id of ChaCha20-Poly1305
    with pytest.raises(NotSealedError, match="AEAD 0x0003; this Mellanrum opens only"):
        open_sealed(bytes(chacha), RECIPIENT)


def test_a_header_cannot_be_moved_onto_another_files_body():
    """The header is HPKE's info: one file's body under another's context is refused."""
    yesterday = seal(b"yesterday's rows", RECIPIENT.public_key(), context=b"af_samplanering 2026-11-22")
    today = seal(PLAINTEXT, RECIPIENT.public_key(), context=b"af_samplanering 2026-11-23")
    length = read_sealed_header(today).length
    assert read_sealed_header(yesterday).length == length
    with pytest.raises(TamperedError):
        open_sealed(yesterday[:length] + today[length:], RECIPIENT)


def test_relabelling_the_recipient_fingerprint_does_not_help_another_key():
    """The fingerprint check only gives a clear message; authentication does not rely on it."""
    relabelled = bytearray(SEALED)
    fingerprint_at = len(MAGIC) + 7
    relabelled[fingerprint_at : fingerprint_at + 32] = bytes.fromhex(key_fingerprint(OTHER_RECIPIENT.public_key()))
    with pytest.raises(TamperedError):
        open_sealed(bytes(relabelled), OTHER_RECIPIENT)


def test_the_context_is_limited_to_what_the_header_can_hold():
    assert read_sealed_header(seal(b"x", RECIPIENT.public_key(), context=b"c" * MAX_CONTEXT_BYTES)).context
    with pytest.raises(ValueError, match="at most 65535"):
        seal(b"x", RECIPIENT.public_key(), context=b"c" * (MAX_CONTEXT_BYTES + 1))


def test_sealing_needs_a_parsed_public_key():
    with pytest.raises(TypeError, match="parse_public_key"):
        seal(b"x", public_key_text(RECIPIENT.public_key()), context=b"")


# --- the public key text ------------------------------------------------------------------


def test_the_public_key_text_parses_back_to_the_same_key():
    text = public_key_text(RECIPIENT.public_key())
    assert re.fullmatch(r"mellanrum-x25519:[A-Za-z0-9_-]{43}", text)
    parsed = parse_public_key(text)
    raw = serialization.Encoding.Raw, serialization.PublicFormat.Raw
    assert parsed.public_bytes(*raw) == RECIPIENT.public_key().public_bytes(*raw)
    assert open_sealed(seal(PLAINTEXT, parsed, context=b""), RECIPIENT) == PLAINTEXT
    # as it may come out of YAML: a block scalar ends with a newline
    assert key_fingerprint(parse_public_key(f"  {text}\n")) == key_fingerprint(RECIPIENT.public_key())


def test_the_fingerprint_is_the_sha256_of_the_public_key_line():
    text = public_key_text(RECIPIENT.public_key())
    assert key_fingerprint(RECIPIENT.public_key()) == hashlib.sha256(text.encode("ascii")).hexdigest()
    assert key_fingerprint(RECIPIENT.public_key()) != key_fingerprint(OTHER_RECIPIENT.public_key())


def test_a_pem_public_key_from_openssl_is_accepted_too():
    pem = RECIPIENT.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert key_fingerprint(parse_public_key(pem.decode())) == key_fingerprint(RECIPIENT.public_key())


_GOOD = public_key_text(RECIPIENT.public_key())
# The last of 43 base64 characters carries 4 key bits and 2 spare bits that must be zero;
# setting one gives the same key under a second spelling.
_BASE64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_SPARE_BITS_SET = _BASE64URL[_BASE64URL.index(_GOOD[-1]) + 1]
_ED25519_PEM = (
    ed25519.Ed25519PrivateKey.generate()
    .public_key()
    .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    .decode()
)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "is not a recipient public key"),
        (_GOOD.removeprefix("mellanrum-"), "is not a recipient public key"),
        ("mellanrum-x25519:" + "A" * 42, "holds 31 bytes"),
        ("mellanrum-x25519:" + "A" * 44, "holds 33 bytes"),
        ("mellanrum-x25519:" + "A" * 41, "not base64url"),
        (_GOOD[:30] + "?" + _GOOD[30:], "not base64url"),
        (_GOOD + "=", "not in canonical form"),
        (_GOOD[:-1] + _SPARE_BITS_SET, "not in canonical form"),
        ("mellanrum-x25519:" + base64.urlsafe_b64encode(bytes(32)).decode().rstrip("="), "degenerate"),
        (_ED25519_PEM, "holds a Ed25519PublicKey, an X25519 key is needed"),
        ("-----BEGIN PUBLIC KEY-----\nbroken\n-----END PUBLIC KEY-----\n", "not a readable public key"),
    ],
    ids=[
        "empty", "no prefix", "short", "long", "bad base64", "stray char", "padding", "spare bits", "all zeros",
        "ed25519", "bad pem",
    ],  # fmt: skip
)
def test_a_bad_public_key_text_is_a_config_error_naming_where(text, reason):
    with pytest.raises(ConfigError, match=r"^recipients\.yaml: recipients\.af-goteborg\.public_key: ") as refused:
        parse_public_key(text, where="recipients.yaml: recipients.af-goteborg.public_key")
    assert reason in str(refused.value)


def test_a_public_key_that_is_not_text_is_a_config_error():
    with pytest.raises(ConfigError, match="expected the public key as text, got int"):
        parse_public_key(12345, where="recipients.yaml: recipients.x.public_key")


# --- the private key file ---------------------------------------------------------------


def test_the_private_key_file_is_owner_only_and_loads_back(tmp_path):
    path = tmp_path / "keys" / "recipient.key"
    write_private_key(path, RECIPIENT, PASSPHRASE)
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    loaded = load_private_key(path, PASSPHRASE)
    assert open_sealed(SEALED, loaded) == PLAINTEXT
    assert [p.name for p in path.parent.iterdir()] == ["recipient.key"]  # no temporary left behind


def test_a_wrong_passphrase_is_a_clear_error(tmp_path):
    path = tmp_path / "recipient.key"
    write_private_key(path, RECIPIENT, PASSPHRASE)
    with pytest.raises(KeyringError, match=rf"^{re.escape(str(path))}: wrong passphrase for this private key"):
        load_private_key(path, PASSPHRASE + " but wrong")


def test_a_short_passphrase_is_refused_before_anything_is_written(tmp_path):
    path = tmp_path / "recipient.key"
    with pytest.raises(KeyringError, match=f"at least {MIN_PASSPHRASE_CHARS} characters"):
        write_private_key(path, RECIPIENT, "x" * (MIN_PASSPHRASE_CHARS - 1))
    assert not path.exists()


def test_an_existing_private_key_is_replaced_only_when_asked(tmp_path):
    path = tmp_path / "recipient.key"
    write_private_key(path, RECIPIENT, PASSPHRASE)
    before = path.read_bytes()
    with pytest.raises(KeyringError, match="already exists; replacing it would lose that key"):
        write_private_key(path, OTHER_RECIPIENT, PASSPHRASE)
    assert path.read_bytes() == before
    write_private_key(path, OTHER_RECIPIENT, PASSPHRASE, overwrite=True)
    replacement = load_private_key(path, PASSPHRASE).public_key()
    assert key_fingerprint(replacement) == key_fingerprint(OTHER_RECIPIENT.public_key())


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (
            RECIPIENT.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ),
            "not passphrase-protected",
        ),
        (b"not a key at all\n", "not a PEM private key file"),
        (
            ed25519.Ed25519PrivateKey.generate().private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.BestAvailableEncryption(PASSPHRASE.encode()),
            ),
            "a recipient key is X25519",
        ),
    ],
    ids=["unencrypted", "garbage", "ed25519"],
)
def test_a_private_key_file_that_is_not_a_recipient_key_is_refused(tmp_path, content, reason):
    path = tmp_path / "recipient.key"
    path.write_bytes(content)
    with pytest.raises(KeyringError, match=reason):
        load_private_key(path, PASSPHRASE)


def test_a_missing_private_key_file_is_named(tmp_path):
    with pytest.raises(KeyringError, match="no such private key file"):
        load_private_key(tmp_path / "absent.key", PASSPHRASE)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")
def test_openssl_reads_the_private_key_file(tmp_path):
    """The key file is plain PKCS#8: a recipient is not locked into Mellanrum's tooling."""
    path = tmp_path / "recipient.key"
    write_private_key(path, RECIPIENT, PASSPHRASE)
    shown = subprocess.run(
        ["openssl", "pkey", "-in", str(path), "-passin", "env:PASS", "-pubout"],
        env={**os.environ, "PASS": PASSPHRASE},
        capture_output=True,
        check=True,
    )
    assert parse_public_key(shown.stdout.decode()).public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    ) == RECIPIENT.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


# --- the commands ---------------------------------------------------------------------------

CLI = MellanrumGroup(name="mellanrum", commands=[recipient_key, decrypt])


def run(args, passphrase: str | None = PASSPHRASE):
    return CliRunner().invoke(CLI, args, env={RECIPIENT_PASSPHRASE_ENV: passphrase}, catch_exceptions=False)


def _public_key_line(output: str) -> str:
    (line,) = [line for line in output.splitlines() if line.startswith("mellanrum-x25519:")]
    return line


@pytest.fixture
def recipient_key_file(tmp_path):
    """A key file made with `recipient-key new`, and the public key line it printed."""
    path = tmp_path / "recipient" / "recipient.key"
    created = run(["recipient-key", "new", "--out", str(path)])
    assert created.exit_code == 0, created.output
    return path, _public_key_line(created.output)


def test_new_then_decrypt_round_trip(tmp_path, recipient_key_file):
    key_path, public_line = recipient_key_file
    assert key_path.stat().st_mode & 0o777 == 0o600
    public_key = parse_public_key(public_line)  # what the operator pastes into the recipients config
    sealed_path = tmp_path / "inbox" / "af_samplanering.sealed"
    sealed_path.parent.mkdir()
    sealed_path.write_bytes(seal(PLAINTEXT, public_key, context=CONTEXT))
    out = tmp_path / "plain" / "af_samplanering.csv"

    result = run(["decrypt", "--key", str(key_path), "--in", str(sealed_path), "--out", str(out)])

    assert result.exit_code == 0, result.output
    assert out.read_bytes() == PLAINTEXT
    assert out.stat().st_mode & 0o777 == 0o600
    assert f"context: {CONTEXT.decode()}" in result.output
    assert_no_plaintext(result.output)


def test_new_prints_the_public_key_and_fingerprint_and_show_prints_them_again(recipient_key_file):
    key_path, public_line = recipient_key_file
    fingerprint = key_fingerprint(parse_public_key(public_line))
    shown = run(["recipient-key", "show", "--key", str(key_path)])
    assert shown.exit_code == 0, shown.output
    assert _public_key_line(shown.output) == public_line
    assert f"fingerprint: {fingerprint}" in shown.output


def test_new_refuses_to_run_without_a_passphrase(tmp_path):
    path = tmp_path / "recipient.key"
    result = run(["recipient-key", "new", "--out", str(path)], passphrase=None)
    assert result.exit_code == 2
    assert result.output.startswith("mellanrum: error: set the passphrase in the environment variable")
    assert RECIPIENT_PASSPHRASE_ENV in result.output
    assert not path.exists()


def test_new_refuses_a_short_passphrase(tmp_path):
    result = run(["recipient-key", "new", "--out", str(tmp_path / "recipient.key")], passphrase="too short")
    assert result.exit_code == 2
    assert "the passphrase is too short" in result.output


def test_new_replaces_an_existing_key_only_with_force(recipient_key_file):
    key_path, public_line = recipient_key_file
    before = key_path.read_bytes()
    refused = run(["recipient-key", "new", "--out", str(key_path)])
    assert refused.exit_code == 2
    assert "already exists" in refused.output and "--force" in refused.output
    assert key_path.read_bytes() == before
    replaced = run(["recipient-key", "new", "--out", str(key_path), "--force"])
    assert replaced.exit_code == 0, replaced.output
    assert _public_key_line(replaced.output) != public_line


@pytest.fixture
def sealed_file(tmp_path, recipient_key_file):
    key_path, public_line = recipient_key_file
    path = tmp_path / "af_samplanering.sealed"
    path.write_bytes(seal(PLAINTEXT, parse_public_key(public_line), context=CONTEXT))
    return path


def _flip_last_byte(path):
    content = bytearray(path.read_bytes())
    content[-1] ^= 0x01
    path.write_bytes(bytes(content))


@pytest.mark.parametrize(
    ("spoil", "expected"),
    [
        ("other key", "sealed to the key with fingerprint"),
        ("tampered", "altered or damaged (authentication failed)"),
        ("not sealed", "not a Mellanrum sealed file"),
        ("wrong passphrase", "wrong passphrase for this private key"),
        ("no passphrase", f"set the passphrase in the environment variable {RECIPIENT_PASSPHRASE_ENV}"),
        ("out exists", "already exists; choose another --out, or pass --force"),
        ("out is in", "would overwrite the sealed file"),
    ],
)
def test_decrypt_refuses_with_exit_2_and_a_clear_message(tmp_path, recipient_key_file, sealed_file, spoil, expected):
    key_path, _ = recipient_key_file
    out = tmp_path / "plain.csv"
    passphrase = PASSPHRASE
    if spoil == "other key":
        key_path = tmp_path / "other.key"
        write_private_key(key_path, OTHER_RECIPIENT, PASSPHRASE)
    elif spoil == "tampered":
        _flip_last_byte(sealed_file)
    elif spoil == "not sealed":
        sealed_file.write_bytes(PLAINTEXT)
    elif spoil == "wrong passphrase":
        passphrase = "another long enough passphrase"
    elif spoil == "no passphrase":
        passphrase = None
    elif spoil == "out exists":
        out.write_bytes(b"yesterday's file")
    elif spoil == "out is in":
        out = sealed_file
    before = out.read_bytes() if out.exists() else None

    result = run(["decrypt", "--key", str(key_path), "--in", str(sealed_file), "--out", str(out)], passphrase)

    assert result.exit_code == 2
    assert result.output.startswith("mellanrum: error: ")
    assert expected in result.output
    assert_no_plaintext(result.output)
    assert (out.read_bytes() if out.exists() else None) == before  # nothing written or replaced
    if spoil == "other key":
        assert key_fingerprint(OTHER_RECIPIENT.public_key()) in result.output


def test_decrypt_replaces_an_existing_output_with_force(tmp_path, recipient_key_file, sealed_file):
    key_path, _ = recipient_key_file
    out = tmp_path / "plain.csv"
    out.write_bytes(b"yesterday's file")
    result = run(["decrypt", "--key", str(key_path), "--in", str(sealed_file), "--out", str(out), "--force"])
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == PLAINTEXT


@pytest.mark.parametrize(
    "args",
    [
        ["recipient-key", "--help"],
        ["recipient-key", "new", "--help"],
        ["recipient-key", "show", "--help"],
        ["decrypt", "--help"],
    ],
    ids=["group", "new", "show", "decrypt"],
)
def test_help_explains_with_an_example(args):
    result = run(args, passphrase=None)
    assert result.exit_code == 0, result.output
    assert RECIPIENT_PASSPHRASE_ENV in result.output
    assert "mellanrum " in result.output  # an example command line
