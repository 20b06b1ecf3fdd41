"""The keyring: encryption at rest, validity windows, rotation, partner packages."""

import base64
import datetime as dt
import json
import stat

import pandas as pd
import pytest

from core.keys import pseudonyms as ps
from core.keys.keyring import Keyring, export_package, import_package, pseudonym_keys
from schemas.errors import KeyringError

PASSPHRASE = "a long enough test passphrase"
DAY = dt.date(2026, 11, 23)


@pytest.fixture
def keyring(tmp_path) -> Keyring:
    ring = Keyring(path=tmp_path / "keyring.json")
    ring, _ = ring.with_new_key("pipeline", DAY, key_id="L2-TEST")
    ring, _ = ring.with_new_key("linkage", DAY, key_id="L1-TEST")
    ring.save(PASSPHRASE)
    return ring


def test_round_trip_keeps_every_key(keyring):
    loaded = Keyring.load(keyring.path, PASSPHRASE)
    assert loaded.keys == keyring.keys


def test_file_is_private_and_holds_no_secret_in_the_clear(keyring):
    assert stat.S_IMODE(keyring.path.stat().st_mode) == 0o600
    content = keyring.path.read_bytes()
    for key in keyring.keys:
        assert base64.b64encode(key.secret) not in content
        assert key.secret not in content
        assert key.secret.hex().encode() not in content


def test_wrong_passphrase_is_a_clear_error(keyring):
    with pytest.raises(KeyringError, match="wrong passphrase"):
        Keyring.load(keyring.path, "not the right passphrase")


def test_altered_header_is_detected(keyring):
    document = json.loads(keyring.path.read_text())
    document["kdf"]["n"] = 2**14  # weaken the KDF: authenticated as associated data
    keyring.path.write_text(json.dumps(document))
    with pytest.raises(KeyringError, match="wrong passphrase, or the keyring file was altered"):
        Keyring.load(keyring.path, PASSPHRASE)


def test_missing_keyring_says_how_to_create_one(tmp_path):
    with pytest.raises(KeyringError, match="mellanrum keys new"):
        Keyring.load(tmp_path / "none.json", PASSPHRASE)


def test_short_passphrase_is_refused(tmp_path):
    ring, _ = Keyring(path=tmp_path / "k.json").with_new_key("linkage", DAY)
    with pytest.raises(KeyringError, match="too short"):
        ring.save("short")


def test_unknown_expired_wrong_role_and_future_keys_are_errors(keyring):
    ring, _ = keyring.with_new_key("linkage", DAY, valid_until=DAY + dt.timedelta(days=10), key_id="L1-OLD")
    with pytest.raises(KeyringError, match="no key with id 'L1-NOPE'"):
        ring.usable("L1-NOPE", "linkage", DAY)
    with pytest.raises(KeyringError, match="expired on 2026-12-04"):
        ring.usable("L1-OLD", "linkage", DAY + dt.timedelta(days=11))
    with pytest.raises(KeyringError, match="not a linkage key"):
        ring.usable("L2-TEST", "linkage", DAY)
    with pytest.raises(KeyringError, match="not yet valid"):
        ring.usable("L1-TEST", "linkage", DAY - dt.timedelta(days=1))
    assert ring.usable("L1-OLD", "linkage", DAY + dt.timedelta(days=10)).id == "L1-OLD"


def test_no_valid_key_never_falls_back(tmp_path):
    ring, _ = Keyring(path=tmp_path / "k.json").with_new_key("linkage", DAY, valid_until=DAY)
    with pytest.raises(KeyringError, match="no linkage key is valid on 2026-11-24"):
        ring.active("linkage", DAY + dt.timedelta(days=1))


def test_linkage_rotation_window_accepts_both_keys(keyring):
    starts = DAY + dt.timedelta(days=5)
    ring, old, new = keyring.rotated("linkage", starts, overlap_days=30)
    assert ring.get(old.id).valid_until == starts + dt.timedelta(days=30)
    assert ring.active("linkage", starts).id == new.id
    assert ring.active("linkage", starts - dt.timedelta(days=1)).id == old.id
    assert ring.usable(old.id, "linkage", starts + dt.timedelta(days=30)).id == old.id
    with pytest.raises(KeyringError, match="expired"):
        ring.usable(old.id, "linkage", starts + dt.timedelta(days=31))
    assert new.chained_from is None


def test_pipeline_rotation_chains_so_stored_pseudonyms_can_be_rekeyed(keyring):
    numbers = pd.Series(["190901019810", "200002292399"])
    before = pseudonym_keys(keyring, DAY)
    stored = ps.level2_pseudonyms(numbers, before.linkage.secret, before.chain)

    ring, old, new = keyring.rotated("pipeline", DAY + dt.timedelta(days=1), overlap_days=0)
    after = pseudonym_keys(ring, DAY + dt.timedelta(days=2))
    assert new.chained_from == old.id
    assert after.chain == (old.secret, new.secret)
    assert after.key_id == f"L1-TEST+{new.id}"
    fresh = ps.level2_pseudonyms(numbers, after.linkage.secret, after.chain)
    assert ps.rekey(stored, new.secret).tolist() == fresh.tolist()


def test_partner_package_round_trip(keyring, tmp_path):
    linkage = keyring.get("L1-TEST")
    package = tmp_path / "l1.key"
    package.write_bytes(export_package(linkage, "agreed out of band"))
    imported = import_package(package, "agreed out of band")
    assert imported.secret == linkage.secret
    assert imported.check_value == linkage.check_value
    assert base64.b64encode(linkage.secret) not in package.read_bytes()
    with pytest.raises(KeyringError, match="wrong passphrase"):
        import_package(package, "a different passphrase")


def test_the_pipeline_key_never_leaves(keyring):
    with pytest.raises(KeyringError, match="never leaves"):
        export_package(keyring.get("L2-TEST"), "agreed out of band")


def test_duplicate_key_ids_are_refused(keyring):
    with pytest.raises(KeyringError, match="already in the keyring"):
        keyring.with_new_key("linkage", DAY, key_id="L1-TEST")


def test_a_failed_write_leaves_the_previous_keyring(keyring, monkeypatch):
    before = keyring.path.read_bytes()
    ring, _ = keyring.with_new_key("linkage", DAY, key_id="L1-NEW")

    def broken(self, data):
        raise OSError("disk full")

    monkeypatch.setattr("pathlib.Path.write_bytes", broken)
    with pytest.raises(OSError):
        ring.save(PASSPHRASE)
    monkeypatch.undo()
    assert keyring.path.read_bytes() == before
    assert [p.name for p in keyring.path.parent.iterdir()] == [keyring.path.name]
