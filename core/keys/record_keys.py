"""Record keys for the Cell Key Method (`core/cellkey.py`): one value in [0, 1) per person.

``record key = first 32 bits of HMAC-SHA256(S, identifier) / 2**32`` with
``S = HKDF-SHA256(pipeline key, info="mellanrum/cell-key/v1")``. The identifier is the
person's stable level-2 pseudonym (or, where a dataset holds none, another stable id of
the person, such as a municipality's record id). S has its own label, so record keys say
nothing about pseudonyms or recipient pseudonyms, and without the pipeline key nobody can
compute them: the noise cannot be removed. S lives in memory only (it is passed to the
builders in `PublicationParameters.cell_key_secret`), never in metadata, files or logs.

Record keys are returned as integers in [0, 2**32) (`RECORD_KEY_SCALE`): a cell key is the
fractional part of a sum of record keys, and integer sums modulo 2**32 are exact whatever
the order of the rows, so the same contributors always give exactly the same cell key.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

CELL_KEY_LABEL = b"mellanrum/cell-key/v1"
RECORD_KEY_BITS = 32
RECORD_KEY_SCALE = 2**RECORD_KEY_BITS


def cell_key_secret(pipeline_key: bytes) -> bytes:
    """The record-key secret derived from the pipeline key with its own label."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=CELL_KEY_LABEL).derive(pipeline_key)


def record_keys(identifiers: pd.Series, secret: bytes) -> np.ndarray:
    """Per value of `identifiers` (strings, none missing) its record key as an integer in
    [0, 2**32): divide by `RECORD_KEY_SCALE` for the uniform value in [0, 1)."""
    codes, distinct = pd.factorize(identifiers, use_na_sentinel=True)
    if (codes < 0).any():
        raise ValueError("a record key needs an identifier on every row")
    keyed = hmac.HMAC(secret, hashes.SHA256())
    digests = []
    for value in distinct:  # once per distinct person, as pseudonyms are made
        mac = keyed.copy()
        mac.update(str(value).encode())
        digests.append(mac.finalize()[:4])
    per_distinct = np.frombuffer(b"".join(digests), dtype=">u4").astype(np.int64)
    return per_distinct[codes] if len(codes) else np.zeros(0, dtype=np.int64)
