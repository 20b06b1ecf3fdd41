"""Keyed pseudonyms: fixed test vectors, an independent stdlib oracle, and properties."""

import base64
import hmac as stdlib_hmac

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.keys import pseudonyms as ps

K1 = bytes(range(32))
K2 = bytes(range(32, 64))
K3 = bytes(range(64, 96))
NUMBERS = pd.Series(["190901019810", "200002292399", "197301732389"])

# Fixed vectors: any change in normalization, byte encoding or base32 breaks these.
LEVEL1 = [
    "DWLPY5YBTC7A5MYQWVGWFRG37DVWSGW6BSMMW6DS6GF3JI4TZKWA",
    "ISBDUY7QG4VFVNL5ETTSRUMR72AX6UNWUGOEBUW7LCCJBOBUG3WQ",
    "QC2LCANOSJSFMB7DA7IADJSY3ZVKWSSJFXQMFNURG5OXALHYP5CA",
]
LEVEL2 = [
    "W27KRFOMMI632VASTRSKGOKWDDELJNFRPBCPMGSAZN5XPPORSQGA",
    "HWJWSZPUZDVM7N4YTOXGIBIGXOJZDVNDUW5M43UCL2EYXR6TKGBA",
    "THL7AOGBJMMUILHNS3KOMTTOTRFHKEH45ICT4EEBS63JE6KKSGMA",
]
LEVEL2_AFTER_ROTATION = [
    "IKY2EF4NRZYRIQZO3LKL2AZHFCNUZ6QM5NYNYACOIBLCP7M3I5VQ",
    "NM63UAYZNHSZQUZDE7B2AMGRGFOZKAP5S3M73VZ5XETXOWSAQM2A",
    "SRSEP4BE6H4ZFI75TWZE7TGLUZBJIBDMUUEEZMRU3AUXRJQQ25KA",
]
RECIPIENT_1480 = [
    "HVZ3IFKTC2PRR4M25VMHB7ZAZXKX3AJK777JV4QUFRWNS222RXRQ",
    "MVZE6NEJDZWXVKP27R5MA7RS4CFP74GEVZDSDOB4KNDTN5LCYBLQ",
    "B3K2SZ7ZDRG2L7X3RBQCRQ4NZHRKCOQ5CFDFJ3LTC52OS5DXNYIA",
]


def _oracle_b32(digest: bytes) -> str:
    return base64.b32encode(digest).decode("ascii").rstrip("=")


def _oracle_hmac(key: bytes, message: bytes) -> bytes:
    return stdlib_hmac.digest(key, message, "sha256")


def test_level1_vectors():
    assert ps.level1_pseudonyms(NUMBERS, K1).tolist() == LEVEL1


def test_level2_vectors():
    assert ps.level2_pseudonyms(NUMBERS, K1, [K2]).tolist() == LEVEL2


def test_level2_after_a_pipeline_key_rotation_is_the_chain():
    assert ps.level2_pseudonyms(NUMBERS, K1, [K2, K3]).tolist() == LEVEL2_AFTER_ROTATION


def test_recipient_vectors():
    pseudonyms = ps.level2_pseudonyms(NUMBERS, K1, [K2])
    assert ps.recipient_pseudonyms(pseudonyms, K2, "kommun:1480", "L2-A").tolist() == RECIPIENT_1480


def test_key_check_value_vector():
    assert ps.key_check_value(K1) == "FRHB-RXIJ-23SU"
    assert ps.key_check_value(K2) != ps.key_check_value(K1)


def test_vectors_agree_with_the_standard_library():
    for number, expected_p1, expected_p2 in zip(NUMBERS, LEVEL1, LEVEL2):
        p1 = _oracle_hmac(K1, number.encode("ascii"))
        assert _oracle_b32(p1) == expected_p1
        assert _oracle_b32(_oracle_hmac(K2, p1)) == expected_p2


def test_pseudonyms_are_base32_never_digits():
    values = ps.level2_pseudonyms(NUMBERS, K1, [K2])
    assert values.str.fullmatch(r"[A-Z2-7]{52}").all()


def test_index_is_kept_and_repeats_hash_alike():
    numbers = pd.Series(["190901019810", "200002292399", "190901019810"], index=[10, 20, 30])
    result = ps.level2_pseudonyms(numbers, K1, [K2])
    assert list(result.index) == [10, 20, 30]
    assert result[10] == result[30] == LEVEL2[0]


def test_partner_level1_gives_the_same_level2_as_plain_numbers():
    level1 = pd.Series(LEVEL1 + [LEVEL1[0].lower(), " " + LEVEL1[1] + " "])
    level2, invalid = ps.level2_from_level1(level1, [K2])
    assert not invalid.any()
    assert level2.tolist() == LEVEL2 + [LEVEL2[0], LEVEL2[1]]


@pytest.mark.parametrize(
    "bad",
    [
        "",
        None,
        LEVEL1[0][:-1],  # too short
        LEVEL1[0] + "A",  # too long
        LEVEL1[0][:-1] + "1",  # '1' is not in the base32 alphabet
        LEVEL1[0][:-1] + "B",  # non-zero padding bits: not a canonical encoding
        "190901019810",
    ],
)
def test_invalid_level1_is_flagged_not_hashed(bad):
    level2, invalid = ps.level2_from_level1(pd.Series([LEVEL1[0], bad]), [K2])
    assert invalid.tolist() == [False, True]
    assert level2[0] == LEVEL2[0]
    assert pd.isna(level2[1])


def test_rekey_by_chaining_equals_hashing_under_the_new_chain():
    stored = ps.level2_pseudonyms(NUMBERS, K1, [K2])
    assert ps.rekey(stored, K3).tolist() == LEVEL2_AFTER_ROTATION


def test_recipients_cannot_join_their_pseudonyms():
    stored = ps.level2_pseudonyms(NUMBERS, K1, [K2])
    municipality = ps.recipient_pseudonyms(stored, K2, "kommun:1480", "L2-A")
    af = ps.recipient_pseudonyms(stored, K2, "af:goteborg", "L2-A")
    next_epoch = ps.recipient_pseudonyms(stored, K2, "kommun:1480", "L2-B")
    assert set(municipality).isdisjoint(af)
    assert set(municipality).isdisjoint(next_epoch)
    assert set(municipality).isdisjoint(stored)


@settings(deadline=None)  # examples: the profile (testkit/pytest_plugin.py)
@given(st.lists(st.binary(min_size=32, max_size=32), min_size=0, max_size=40))
def test_base32_round_trips_and_matches_the_standard_library(digests):
    joined = b"".join(digests)
    encoded = ps.b32encode_digests(joined)
    assert encoded.tolist() == [_oracle_b32(d) for d in digests]
    decoded, invalid = ps.b32decode_pseudonyms(encoded)
    assert decoded == joined
    assert not invalid.any()


@settings(deadline=None)  # examples: the profile (testkit/pytest_plugin.py)
@given(
    st.lists(st.integers(min_value=0, max_value=10**12 - 1), min_size=1, max_size=50),
    st.binary(min_size=32, max_size=32),
    st.binary(min_size=32, max_size=32),
)
def test_level2_matches_the_oracle_for_any_numbers_and_keys(numbers, linkage, pipeline):
    canonical = pd.Series([f"{n:012d}" for n in numbers])
    expected = [_oracle_b32(_oracle_hmac(pipeline, _oracle_hmac(linkage, c.encode()))) for c in canonical]
    assert ps.level2_pseudonyms(canonical, linkage, [pipeline]).tolist() == expected


def test_missing_numbers_stay_missing_never_hashed():
    result = ps.level2_pseudonyms(pd.Series([None, "190901019810", None]), K1, [K2])
    assert pd.isna(result[0]) and pd.isna(result[2]) and result[1] == LEVEL2[0]


def test_hmac_fixed_width_rejects_ragged_input():
    with pytest.raises(ValueError):
        ps.hmac_fixed_width([K1], b"12345", 12)


def test_empty_input():
    assert ps.level2_pseudonyms(pd.Series([], dtype="string"), K1, [K2]).tolist() == []
    digests, invalid = ps.b32decode_pseudonyms(pd.Series([], dtype="string"))
    assert digests == b"" and len(invalid) == 0 and isinstance(invalid, np.ndarray)
