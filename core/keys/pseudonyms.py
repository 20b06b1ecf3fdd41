"""Keyed pseudonyms: pure functions over pandas Series, keys passed in as bytes.

The scheme (../shared/DESIGN.md, "Keys and pseudonyms"; EDPB Guidelines 01/2025 §128):

- level 1, computable by every party at source with the shared linkage key K1:
  ``p1 = HMAC-SHA256(K1, canonical 12-digit personnummer as ASCII)``
- level 2, only the pipeline holds its key K2:
  ``p2 = HMAC-SHA256(K2, p1)`` over the 32 raw bytes of p1. After a rotation of the
  pipeline key the chain grows by one link, ``p2' = HMAC-SHA256(K2', p2)``, so stored
  pseudonyms are re-keyed without ever going back to the numbers and fresh input is
  carried along the same chain (`level2_pseudonyms`).
- recipient pseudonyms, for a published dataset that must carry one at all:
  ``pr = HMAC-SHA256(HKDF-SHA256(K2, info="mellanrum/recipient/<recipient>/<epoch>"), p2)``
  so that two recipients' datasets cannot be joined on it.

Every digest is written as unpadded RFC 4648 base32 (A–Z, 2–7; 52 characters for 256
bits): never digits, so a leak scanner can tell a pseudonym from an identity number.

Speed: one pre-keyed `cryptography` HMAC object is `.copy()`d per value (about 1 µs per
value on one core here) and only distinct values are hashed. Base32 is done with numpy
over the whole column, not per value.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

DIGEST_BYTES = 32
PSEUDONYM_CHARS = 52  # ceil(256 / 5)
CANONICAL_CHARS = 12
_ALPHABET = np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", dtype=np.uint8)
_DECODE = np.full(256, 255, dtype=np.uint8)
_DECODE[_ALPHABET] = np.arange(32, dtype=np.uint8)
_KCV_LABEL = b"mellanrum key check value v1"


# --- HMAC over many values ------------------------------------------------------------


def hmac_fixed_width(keys: Sequence[bytes], messages: bytes, width: int) -> bytes:
    """HMAC-SHA256 chained through `keys` of each `width`-byte slice of `messages`.

    For keys (k1, k2) a value v gives HMAC(k2, HMAC(k1, v)). One pass applies the whole
    chain, so the per-value Python overhead is paid once. Returns the digests concatenated.
    """
    if len(messages) % width:
        raise ValueError("messages is not a whole number of fixed-width values")
    first, *rest = [hmac.HMAC(key, hashes.SHA256()) for key in keys]
    digests = []
    append = digests.append
    for start in range(0, len(messages), width):
        link = first.copy()
        link.update(messages[start : start + width])
        digest = link.finalize()
        for keyed in rest:
            link = keyed.copy()
            link.update(digest)
            digest = link.finalize()
        append(digest)
    return b"".join(digests)


def _fixed_width_bytes(values: pd.Series, width: int) -> bytes:
    """The concatenated UTF-8 bytes of a column whose values are all `width` ASCII chars."""
    array = pa.array(values, type=pa.string(), from_pandas=True)
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if array.null_count:
        raise ValueError("values must not be missing")
    lengths = np.asarray(pa.compute.binary_length(array))
    if len(array) and not (lengths == width).all():
        raise ValueError(f"every value must be {width} characters")
    offsets = np.frombuffer(array.buffers()[1], dtype=np.int32)[array.offset : array.offset + len(array) + 1]
    data = array.buffers()[2]
    return data.to_pybytes()[offsets[0] : offsets[-1]] if len(array) else b""


# --- base32 -------------------------------------------------------------------------------


def b32encode_digests(digests: bytes) -> pd.Series:
    """Unpadded base32 text of each 32-byte digest, as an Arrow-backed string Series."""
    return pd.Series(pd.arrays.ArrowExtensionArray(_b32encode(digests)))


def _b32encode(digests: bytes) -> pa.StringArray:
    count = len(digests) // DIGEST_BYTES
    # 35 bytes = seven 5-byte groups = 56 symbols, of which the last 4 are padding only.
    padded = np.zeros((count, 35), dtype=np.uint8)
    padded[:, :DIGEST_BYTES] = np.frombuffer(digests, dtype=np.uint8).reshape(count, DIGEST_BYTES)
    b = [padded[:, i::5] for i in range(5)]
    symbols = np.empty((count, 7, 8), dtype=np.uint8)
    symbols[:, :, 0] = b[0] >> 3
    symbols[:, :, 1] = ((b[0] & 0x07) << 2) | (b[1] >> 6)
    symbols[:, :, 2] = (b[1] >> 1) & 0x1F
    symbols[:, :, 3] = ((b[1] & 0x01) << 4) | (b[2] >> 4)
    symbols[:, :, 4] = ((b[2] & 0x0F) << 1) | (b[3] >> 7)
    symbols[:, :, 5] = (b[3] >> 2) & 0x1F
    symbols[:, :, 6] = ((b[3] & 0x03) << 3) | (b[4] >> 5)
    symbols[:, :, 7] = b[4] & 0x1F
    text = _ALPHABET[symbols.reshape(count, 56)[:, :PSEUDONYM_CHARS]].tobytes()
    offsets = np.arange(0, (count + 1) * PSEUDONYM_CHARS, PSEUDONYM_CHARS, dtype=np.int32)
    return pa.StringArray.from_buffers(count, pa.py_buffer(offsets.tobytes()), pa.py_buffer(text))


def b32decode_pseudonyms(pseudonyms: pd.Series) -> tuple[bytes, np.ndarray]:
    """Decode base32 pseudonyms to concatenated 32-byte digests.

    Returns the digests (zeros where invalid) and a boolean mask of the values that are
    not a canonical 52-character base32 pseudonym (wrong length, characters or padding
    bits). Surrounding whitespace is ignored; lower case is accepted.
    """
    text = pseudonyms.astype("string[pyarrow]").str.strip().str.upper()
    valid = (text.str.len() == PSEUDONYM_CHARS).fillna(False).to_numpy(dtype=bool)
    count = len(text)
    symbols = np.zeros((count, 56), dtype=np.uint8)
    if valid.any():
        good = _fixed_width_bytes(text[valid], PSEUDONYM_CHARS)
        decoded = _DECODE[np.frombuffer(good, dtype=np.uint8)].reshape(-1, PSEUDONYM_CHARS)
        in_alphabet = (decoded != 255).all(axis=1)
        # The last symbol carries 1 bit of data and 4 bits that must be zero.
        canonical = (decoded[:, -1] & 0x0F) == 0
        ok = in_alphabet & canonical
        rows = np.flatnonzero(valid)
        valid[rows[~ok]] = False
        symbols[rows[ok], :PSEUDONYM_CHARS] = decoded[ok]
    s = [symbols[:, i::8] for i in range(8)]
    raw = np.empty((count, 7, 5), dtype=np.uint8)
    raw[:, :, 0] = (s[0] << 3) | (s[1] >> 2)
    raw[:, :, 1] = (s[1] << 6) | (s[2] << 1) | (s[3] >> 4)
    raw[:, :, 2] = (s[3] << 4) | (s[4] >> 1)
    raw[:, :, 3] = (s[4] << 7) | (s[5] << 2) | (s[6] >> 3)
    raw[:, :, 4] = (s[6] << 5) | s[7]
    return raw.reshape(count, 35)[:, :DIGEST_BYTES].tobytes(), ~valid


# --- the levels -----------------------------------------------------------------------


def _distinct(values: pd.Series) -> tuple[np.ndarray, pd.Series]:
    """Codes and distinct values, so each distinct value is hashed once."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    if (codes < 0).any():
        raise ValueError("values to pseudonymize must not be missing")
    return codes, pd.Series(uniques)


def level1_pseudonyms(canonical: pd.Series, linkage_key: bytes) -> pd.Series:
    """Base32 p1 for canonical numbers: what a partner computes at source."""
    return level2_pseudonyms(canonical, linkage_key, ())


def level2_pseudonyms(canonical: pd.Series, linkage_key: bytes, pipeline_chain: Sequence[bytes]) -> pd.Series:
    """Base32 p2 for canonical numbers: p1, then the pipeline's key chain (oldest key first).

    With an empty chain this is p1. Both levels are computed in memory in one pass, as for
    deliveries of plain numbers. A missing number stays missing; each distinct number is
    hashed and encoded once.
    """
    codes, distinct = pd.factorize(canonical, use_na_sentinel=True)
    messages = _fixed_width_bytes(pd.Series(distinct), CANONICAL_CHARS)
    digests = hmac_fixed_width([linkage_key, *pipeline_chain], messages, CANONICAL_CHARS)
    taken = _b32encode(digests).take(pa.array(codes, mask=codes < 0))
    return pd.Series(pd.arrays.ArrowExtensionArray(taken), index=canonical.index)


def level2_from_level1(level1: pd.Series, pipeline_chain: Sequence[bytes]) -> tuple[pd.Series, np.ndarray]:
    """Base32 p2 from base32 p1 delivered by a partner.

    Returns p2 (missing where the p1 is not a valid pseudonym) and the invalid mask.
    """
    if not pipeline_chain:
        raise ValueError("the pipeline key chain is empty")
    codes, uniques = pd.factorize(level1.astype("string").str.strip().str.upper(), use_na_sentinel=True)
    digests, invalid_unique = b32decode_pseudonyms(pd.Series(uniques, dtype="string"))
    distinct = b32encode_digests(hmac_fixed_width(pipeline_chain, digests, DIGEST_BYTES)).astype("string")
    distinct[invalid_unique] = pd.NA
    invalid = (codes < 0) | invalid_unique[np.maximum(codes, 0)]
    result = pd.Series(distinct.to_numpy()[np.maximum(codes, 0)], index=level1.index, dtype="string")
    result[invalid] = pd.NA
    return result, invalid


def rekey(pseudonyms: pd.Series, new_pipeline_key: bytes) -> pd.Series:
    """Re-key stored level-2 pseudonyms by chaining: HMAC(K2', p2), never via the numbers."""
    return rekey_chain(pseudonyms, [new_pipeline_key])


def rekey_chain(pseudonyms: pd.Series, later_keys: Sequence[bytes]) -> pd.Series:
    """Re-key stored level-2 pseudonyms along the later links of the pipeline chain (oldest
    first): HMAC(K2'', HMAC(K2', p2)). Each distinct pseudonym is hashed once."""
    if not later_keys:
        raise ValueError("no key to re-key with")
    codes, distinct = _distinct(pseudonyms)
    digests, invalid = b32decode_pseudonyms(distinct.astype("string"))
    if invalid.any():
        raise ValueError("only valid level-2 pseudonyms can be re-keyed")
    rekeyed = hmac_fixed_width(list(later_keys), digests, DIGEST_BYTES)
    return _with_index(b32encode_digests(_take_digests(rekeyed, codes)), pseudonyms.index)


def recipient_key(pipeline_key: bytes, recipient: str, epoch: str) -> bytes:
    """The key for one recipient's pseudonyms, derived with HKDF so recipients can't link."""
    info = f"mellanrum/recipient/{recipient}/{epoch}".encode()
    return HKDF(algorithm=hashes.SHA256(), length=DIGEST_BYTES, salt=None, info=info).derive(pipeline_key)


def recipient_pseudonyms(pseudonyms: pd.Series, pipeline_key: bytes, recipient: str, epoch: str) -> pd.Series:
    """Per-recipient pseudonyms of stored level-2 pseudonyms."""
    return rekey(pseudonyms, recipient_key(pipeline_key, recipient, epoch))


def key_check_value(secret: bytes) -> str:
    """A short value two parties compare to confirm they hold the same key.

    An HMAC of a fixed label under the key, cut to 60 bits: it says nothing about the key
    (the usual key check value, made for HMAC keys rather than block ciphers).
    """
    tag = hmac.HMAC(secret, hashes.SHA256())
    tag.update(_KCV_LABEL)
    text = b32encode_digests(tag.finalize()).iloc[0][:12]
    return "-".join(text[i : i + 4] for i in range(0, 12, 4))


def _take_digests(distinct: bytes, codes: np.ndarray) -> bytes:
    table = np.frombuffer(distinct, dtype=np.uint8).reshape(-1, DIGEST_BYTES)
    return table[codes].tobytes()


def _with_index(values: pd.Series, index: pd.Index) -> pd.Series:
    values.index = index
    return values
