"""The keyring: the pipeline's keys, encrypted at rest, and the key packages for partners.

A keyring file holds 256-bit random keys (never derived from a passphrase), each with an
id, a role and a validity window:

- role ``linkage`` (K1): shared with the partners, who compute level-1 pseudonyms with it
  at source. Exported to a partner as a key package encrypted under a passphrase agreed
  out of band; imported on the other side.
- role ``pipeline`` (K2): the pipeline's own level-2 key, which no partner holds and which
  is never exported. Each pipeline key after the first is chained from its predecessor
  (see `core.keys.pseudonyms`), so a rotation re-keys stored pseudonyms without numbers.

At rest the key list is JSON encrypted with AES-256-GCM under a key derived with Scrypt
from a passphrase read from an environment variable. The header (format, KDF parameters,
salt) is authenticated as associated data, so it cannot be altered unnoticed either.
A wrong passphrase, a missing or expired key: always a `KeyringError`, never a fallback.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import secrets
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from core.files import replaced_atomically
from core.keys.passphrase import check_passphrase_strength, missing_passphrase
from core.keys.pseudonyms import key_check_value
from schemas.errors import KeyringError

Role = Literal["linkage", "pipeline"]
ROLES: tuple[Role, ...] = ("linkage", "pipeline")
KEY_BYTES = 32


_KEYRING_FORMAT = "mellanrum-keyring/1"
_PACKAGE_FORMAT = "mellanrum-key-package/1"
# Scrypt cost: n=2^15, r=8 takes ~32 MiB and ~0.1 s here, OWASP's floor for Scrypt.
_SCRYPT = {"n": 2**15, "r": 8, "p": 1}


@dataclass(frozen=True)
class Key:
    id: str
    role: Role
    secret: bytes = field(repr=False)
    valid_from: dt.date
    valid_until: dt.date | None = None
    chained_from: str | None = None  # pipeline keys: the key this one was rotated from
    created: str = ""

    def status(self, on: dt.date) -> str:
        if on < self.valid_from:
            return "not yet valid"
        if self.valid_until is not None and on > self.valid_until:
            return "expired"
        return "valid"

    def is_valid(self, on: dt.date) -> bool:
        return self.status(on) == "valid"

    @property
    def check_value(self) -> str:
        return key_check_value(self.secret)

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "role": self.role,
            "secret": base64.b64encode(self.secret).decode("ascii"),
            "valid_from": self.valid_from.isoformat(),
            "valid_until": self.valid_until.isoformat() if self.valid_until else None,
            "chained_from": self.chained_from,
            "created": self.created,
        }

    @classmethod
    def from_json(cls, data: dict) -> "Key":
        secret = base64.b64decode(data["secret"])
        if len(secret) != KEY_BYTES or data["role"] not in ROLES:
            raise KeyringError(f"key {data.get('id')!r}: malformed entry in the keyring")
        return cls(
            id=data["id"],
            role=data["role"],
            secret=secret,
            valid_from=dt.date.fromisoformat(data["valid_from"]),
            valid_until=dt.date.fromisoformat(data["valid_until"]) if data.get("valid_until") else None,
            chained_from=data.get("chained_from"),
            created=data.get("created", ""),
        )


def new_key_id(role: Role, on: dt.date) -> str:
    """E.g. L1-20261123-3FQA (linkage) or L2-20261123-K7TD (pipeline)."""
    prefix = "L1" if role == "linkage" else "L2"
    suffix = base64.b32encode(secrets.token_bytes(5)).decode("ascii")[:4]
    return f"{prefix}-{on:%Y%m%d}-{suffix}"


@dataclass(frozen=True)
class Keyring:
    path: Path
    keys: tuple[Key, ...] = ()

    # --- reading keys ---------------------------------------------------------------

    def get(self, key_id: str) -> Key:
        for key in self.keys:
            if key.id == key_id:
                return key
        known = ", ".join(k.id for k in self.keys) or "none"
        raise KeyringError(f"{self.path}: no key with id {key_id!r} (keys here: {known})")

    def usable(self, key_id: str, role: Role, on: dt.date) -> Key:
        """The key with this id, checked to have the role and to be valid on `on`."""
        key = self.get(key_id)
        if key.role != role:
            raise KeyringError(f"key {key_id!r} is a {key.role} key, not a {role} key")
        status = key.status(on)
        if status != "valid":
            window = f"{key.valid_from} to {key.valid_until or 'open'}"
            raise KeyringError(f"key {key_id!r} is {status} on {on} (valid {window})")
        return key

    def active(self, role: Role, on: dt.date) -> Key:
        """The newest key of the role that is valid on `on`."""
        candidates = [k for k in self.keys if k.role == role and k.is_valid(on)]
        if not candidates:
            raise KeyringError(
                f"{self.path}: no {role} key is valid on {on}; "
                f"add one with `mellanrum keys new --role {role}` or import a partner's package"
            )
        return max(candidates, key=lambda k: (k.valid_from, k.created, k.id))

    def pipeline_chain(self, key: Key) -> list[Key]:
        """The pipeline keys from the first of the chain to `key` (oldest first)."""
        chain = [key]
        while chain[-1].chained_from is not None:
            if len(chain) > len(self.keys):
                raise KeyringError(f"{self.path}: the pipeline key chain loops")
            chain.append(self.get(chain[-1].chained_from))
        return list(reversed(chain))

    # --- changing keys (each returns a new Keyring; `save` writes it) -----------------

    def with_new_key(
        self,
        role: Role,
        valid_from: dt.date,
        valid_until: dt.date | None = None,
        key_id: str | None = None,
        chained_from: str | None = None,
    ) -> tuple["Keyring", Key]:
        key = Key(
            id=key_id or new_key_id(role, valid_from),
            role=role,
            secret=secrets.token_bytes(KEY_BYTES),
            valid_from=valid_from,
            valid_until=valid_until,
            chained_from=chained_from,
            created=_now(),
        )
        return self.with_key(key), key

    def with_key(self, key: Key) -> "Keyring":
        if any(k.id == key.id for k in self.keys):
            raise KeyringError(f"{self.path}: a key with id {key.id!r} is already in the keyring")
        if key.valid_until is not None and key.valid_until < key.valid_from:
            raise KeyringError(f"key {key.id!r}: valid until {key.valid_until} is before valid from {key.valid_from}")
        return replace(self, keys=(*self.keys, key))

    def rotated(self, role: Role, valid_from: dt.date, overlap_days: int) -> tuple["Keyring", Key, Key]:
        """A new key of the role from `valid_from`; the old one stays valid `overlap_days` more.

        During the overlap both keys are accepted (the rotation window). A new pipeline key
        is chained from the old one.
        """
        old = self.active(role, valid_from)
        ends = valid_from + dt.timedelta(days=overlap_days)
        if old.valid_until is not None and old.valid_until < ends:
            ends = old.valid_until
        ring = replace(self, keys=tuple(replace(k, valid_until=ends) if k.id == old.id else k for k in self.keys))
        ring, new = ring.with_new_key(role, valid_from, chained_from=old.id if role == "pipeline" else None)
        return ring, old, new

    # --- storage ---------------------------------------------------------------------

    @classmethod
    def load(cls, path: Path, passphrase: str) -> "Keyring":
        path = Path(path)
        if not path.exists():
            raise KeyringError(f"no keyring at {path}; create one with `mellanrum keys new`")
        if not passphrase:
            raise KeyringError(missing_passphrase())
        header, plaintext = _open_envelope(path, passphrase, _KEYRING_FORMAT, "keyring")
        keys = tuple(Key.from_json(entry) for entry in json.loads(plaintext)["keys"])
        return cls(path=path, keys=keys)

    def save(self, passphrase: str) -> None:
        check_passphrase_strength(passphrase)
        payload = json.dumps({"keys": [k.to_json() for k in self.keys]}, sort_keys=True).encode()
        _write_private(self.path, _seal_envelope(payload, passphrase, _KEYRING_FORMAT))


# --- key packages for partners ---------------------------------------------------------


def export_package(key: Key, passphrase: str) -> bytes:
    """A linkage key as a package for a partner, encrypted under an agreed passphrase."""
    if key.role != "linkage":
        raise KeyringError(f"key {key.id!r} is the pipeline's own key: it never leaves the pipeline")
    check_passphrase_strength(passphrase)
    payload = json.dumps({"key": key.to_json()}, sort_keys=True).encode()
    return _seal_envelope(payload, passphrase, _PACKAGE_FORMAT, extra={"key_id": key.id})


def import_package(path: Path, passphrase: str) -> Key:
    header, plaintext = _open_envelope(Path(path), passphrase, _PACKAGE_FORMAT, "key package")
    key = Key.from_json(json.loads(plaintext)["key"])
    if key.role != "linkage" or key.id != header.get("key_id"):
        raise KeyringError(f"{path}: not a linkage key package")
    return key


# --- the envelope: Scrypt + AES-GCM ------------------------------------------------------


def _seal_envelope(payload: bytes, passphrase: str, fmt: str, extra: dict | None = None) -> bytes:
    salt = secrets.token_bytes(16)
    nonce = secrets.token_bytes(12)
    header = {"format": fmt, "kdf": {"name": "scrypt", **_SCRYPT, "salt": _b64(salt)}, **(extra or {})}
    aad = _canonical(header)
    ciphertext = AESGCM(_derive(passphrase, header["kdf"])).encrypt(nonce, payload, aad)
    document = {**header, "nonce": _b64(nonce), "ciphertext": _b64(ciphertext)}
    return (json.dumps(document, indent=2, sort_keys=True) + "\n").encode()


def _open_envelope(path: Path, passphrase: str, fmt: str, what: str) -> tuple[dict, bytes]:
    try:
        document = json.loads(path.read_bytes())
        header = {k: v for k, v in document.items() if k not in ("nonce", "ciphertext")}
        nonce = base64.b64decode(document["nonce"])
        ciphertext = base64.b64decode(document["ciphertext"])
        kdf = header["kdf"]
    except (ValueError, KeyError, TypeError):
        raise KeyringError(f"{path}: not a Mellanrum {what} file (unreadable)") from None
    if header.get("format") != fmt:
        raise KeyringError(f"{path}: not a Mellanrum {what} file (format {header.get('format')!r})")
    try:
        plaintext = AESGCM(_derive(passphrase, kdf)).decrypt(nonce, ciphertext, _canonical(header))
    except InvalidTag:
        raise KeyringError(f"{path}: wrong passphrase, or the {what} file was altered") from None
    return header, plaintext


def _derive(passphrase: str, kdf: dict) -> bytes:
    if kdf.get("name") != "scrypt":
        raise KeyringError(f"unsupported key derivation {kdf.get('name')!r}")
    return Scrypt(salt=base64.b64decode(kdf["salt"]), length=32, n=kdf["n"], r=kdf["r"], p=kdf["p"]).derive(
        passphrase.encode("utf-8")
    )


def _write_private(path: Path, content: bytes) -> None:
    """Write atomically, readable by the owner only: a crash never leaves half a keyring."""
    with replaced_atomically(path, private=True) as temporary:
        temporary.write_bytes(content)


def _canonical(header: dict) -> bytes:
    return json.dumps(header, sort_keys=True, separators=(",", ":")).encode()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="microseconds")


# --- the keys a run pseudonymizes with ---------------------------------------------------


@dataclass(frozen=True)
class PseudonymKeys:
    """The linkage key and pipeline key chain in force for one run.

    `key_id` names the pseudonym space of the level-2 pseudonyms made with them
    ("<linkage key id>+<pipeline key id>"): two pseudonyms link only within one space.
    """

    linkage: Key
    pipeline: Key
    chain: tuple[bytes, ...] = field(repr=False)

    @property
    def key_id(self) -> str:
        return pseudonym_key_id(self.linkage.id, self.pipeline.id)


KEY_ID_SEPARATOR = "+"


def pseudonym_key_id(linkage_id: str, pipeline_id: str) -> str:
    return f"{linkage_id}{KEY_ID_SEPARATOR}{pipeline_id}"


def pseudonym_keys(keyring: Keyring, on: dt.date, linkage_id: str | None = None) -> PseudonymKeys:
    """The active keys on `on`; `linkage_id` picks another valid linkage key (rotation window)."""
    linkage = keyring.usable(linkage_id, "linkage", on) if linkage_id else keyring.active("linkage", on)
    pipeline = keyring.active("pipeline", on)
    chain = tuple(key.secret for key in keyring.pipeline_chain(pipeline))
    return PseudonymKeys(linkage=linkage, pipeline=pipeline, chain=chain)
