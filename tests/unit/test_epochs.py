"""Key epochs (core/epochs.py) against a brute-force oracle: one person, one row at a time,
with the standard library's HMAC, straight from the definitions in the design brief.

- A pseudonym under (K1, K2 chain) is HMAC(K2n, ... HMAC(K2a, HMAC(K1, number))).
- Bringing a row forward gives exactly the pseudonym the number would have under the
  target epoch, when the pipeline key is on the target's chain and either the linkage key is
  the target's or (in the window) the person is in the crosswalk; otherwise the row is kept
  as it was, NOT_SEEN (window open, person not in the crosswalk) or BEHIND (no window).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.contracts import CONTRACTS
from core.database import typed_as
from core.epochs import (
    BEHIND,
    CROSSWALK,
    CROSSWALKED,
    CURRENT,
    NOT_SEEN,
    REKEY_LOG,
    REKEYED,
    behind_sentence,
    bring_forward,
    bring_store_forward,
    comparable,
    linkage_crosswalk,
    source_epochs,
    target_epoch,
)
from core.keys.keyring import Keyring, PseudonymKeys, pseudonym_key_id, pseudonym_keys
from core.publish import HeldBack, canonical, held_back, keep_previous
from core.store import DatasetFiles

OLD_FROM, NEW_FROM, WINDOW_ENDS = dt.date(2026, 1, 1), dt.date(2027, 1, 1), dt.date(2027, 1, 30)
PIPELINE_ROTATED = dt.date(2027, 1, 15)
IN_WINDOW, AFTER_WINDOW = dt.date(2027, 1, 20), dt.date(2027, 2, 5)
NUMBERS = [f"19{year:02d}0101{serial:04d}" for year in range(40, 60) for serial in (1234, 5678)]


def _ring(tmp_path) -> Keyring:
    """L1-OLD → L1-NEW from NEW_FROM (window to WINDOW_ENDS); L2-A → L2-B from PIPELINE_ROTATED."""
    ring, _ = Keyring(path=tmp_path / "ring.json").with_new_key("pipeline", OLD_FROM, key_id="L2-A")
    ring, _ = ring.with_new_key("linkage", OLD_FROM, valid_until=WINDOW_ENDS, key_id="L1-OLD")
    ring, _ = ring.with_new_key("linkage", NEW_FROM, key_id="L1-NEW")
    ring, _ = ring.with_new_key("pipeline", PIPELINE_ROTATED, key_id="L2-B", chained_from="L2-A")
    return ring


def _oracle_pseudonym(ring: Keyring, number: str, linkage_id: str, pipeline_id: str) -> str:
    digest = hmac.new(ring.get(linkage_id).secret, number.encode("ascii"), hashlib.sha256).digest()
    for key in ring.pipeline_chain(ring.get(pipeline_id)):
        digest = hmac.new(key.secret, digest, hashlib.sha256).digest()
    return base64.b32encode(digest).decode("ascii").rstrip("=")


def _keys(ring: Keyring, linkage_id: str, pipeline_id: str) -> PseudonymKeys:
    pipeline = ring.get(pipeline_id)
    return PseudonymKeys(ring.get(linkage_id), pipeline, tuple(k.secret for k in ring.pipeline_chain(pipeline)))


@pytest.fixture(scope="module")
def ring(tmp_path_factory) -> Keyring:
    return _ring(tmp_path_factory.mktemp("ring"))


rows = st.lists(st.tuples(st.integers(0, len(NUMBERS) - 1), st.sampled_from(["L1-OLD", "L1-NEW"]),
                          st.sampled_from(["L2-A", "L2-B"]), st.sampled_from(["s1", "s2", "s3"])),
                min_size=1, max_size=30)  # fmt: skip


@settings(max_examples=60, deadline=None)
@given(rows=rows, walked=st.sets(st.integers(0, len(NUMBERS) - 1)), on=st.sampled_from([IN_WINDOW, AFTER_WINDOW]),
       walk_pipeline=st.sampled_from(["L2-A", "L2-B"]))  # fmt: skip
def test_bringing_forward_gives_what_the_numbers_would_have_under_the_target(ring, rows, walked, on, walk_pipeline):
    frame = pd.DataFrame({
        "source_id": [s for _, _, _, s in rows],
        "pseudonym": [_oracle_pseudonym(ring, NUMBERS[n], l1, l2) for n, l1, l2, _ in rows],
        "key_id": [pseudonym_key_id(l1, l2) for _, l1, l2, _ in rows],
    })  # fmt: skip
    # The crosswalk was made by an ingest in the window, perhaps before the pipeline key rotated.
    made_with = _keys(ring, "L1-NEW", walk_pipeline)
    crosswalk = linkage_crosswalk(pd.Series([NUMBERS[n] for n in sorted(walked)], dtype="string"), made_with,
                                  [ring.get("L1-OLD")])  # fmt: skip
    epoch = target_epoch(ring, on, frame["key_id"])
    assert (epoch.linkage_id, epoch.pipeline_id) == ("L1-NEW", "L2-B")
    brought = bring_forward(frame, epoch, crosswalk)
    assert list(brought.rekeyed) == [l2 == "L2-A" for _, _, l2, _ in rows]

    for i, (n, l1, l2, _) in enumerate(rows):
        window_open = on <= WINDOW_ENDS
        if l1 == "L1-NEW" or (window_open and n in walked):
            expected = (_oracle_pseudonym(ring, NUMBERS[n], "L1-NEW", "L2-B"), "L1-NEW+L2-B")
            how = CURRENT if (l1, l2) == ("L1-NEW", "L2-B") else (REKEYED if l1 == "L1-NEW" else CROSSWALKED)
        else:
            # Not brought to the new linkage key: re-keyed along the chain all the same.
            expected = (_oracle_pseudonym(ring, NUMBERS[n], l1, "L2-B"), f"{l1}+L2-B")
            how = NOT_SEEN if window_open else BEHIND
        assert (brought.frame["pseudonym"].iloc[i], brought.frame["key_id"].iloc[i]) == expected
        assert brought.how[i] == how

    table = source_epochs(brought.frame, brought.how, "municipal", epoch)
    for source, own in frame.groupby("source_id"):
        hows = brought.how[own.index]
        status = table.set_index("source_id").loc[source, "status"]
        expected_status = ("behind" if (hows == BEHIND).any() else
                           "current" if (hows == CURRENT).all() else "brought forward")  # fmt: skip
        assert status == expected_status
    kept = comparable(brought.frame, table, epoch)
    behind = set(table.loc[table["status"] == "behind", "source_id"])
    assert (kept["key_id"] == "L1-NEW+L2-B").all() and not set(kept["source_id"]) & behind
    assert len(kept) == sum(1 for i, r in enumerate(rows) if r[3] not in behind
                            and brought.how[i] in (CURRENT, REKEYED, CROSSWALKED))  # fmt: skip


def test_a_pseudonym_rekeyed_by_chaining_equals_one_made_with_the_longer_chain(ring):
    numbers = pd.Series(NUMBERS, dtype="string")
    keys_a = _keys(ring, "L1-NEW", "L2-A")
    from core.keys.pseudonyms import level2_pseudonyms, rekey_chain

    old = level2_pseudonyms(numbers, keys_a.linkage.secret, keys_a.chain)
    assert list(rekey_chain(old, [ring.get("L2-B").secret])) == [
        _oracle_pseudonym(ring, n, "L1-NEW", "L2-B") for n in NUMBERS]  # fmt: skip


def test_the_target_is_the_day_s_keys_or_newer_ones_the_data_is_already_under(ring):
    assert target_epoch(ring, dt.date(2026, 6, 1)).key_id == "L1-OLD+L2-A"
    assert target_epoch(ring, IN_WINDOW).key_id == "L1-NEW+L2-B"
    assert target_epoch(ring, IN_WINDOW).bridges == {"L1-OLD"}
    assert target_epoch(ring, AFTER_WINDOW).bridges == frozenset()
    # An ad-hoc run as of a past date on data already under the new keys: the newer keys.
    assert target_epoch(ring, dt.date(2026, 6, 1), ["L1-NEW+L2-B"]).key_id == "L1-NEW+L2-B"


def test_the_sentence_names_the_source_and_both_linkage_key_ids(ring):
    frame = pd.DataFrame({"source_id": ["goteborg", "partille"], "kommunkod": ["1480", "1402"],
                          "pseudonym": [_oracle_pseudonym(ring, NUMBERS[0], "L1-OLD", "L2-A"),
                                        _oracle_pseudonym(ring, NUMBERS[1], "L1-NEW", "L2-B")],
                          "key_id": ["L1-OLD+L2-A", "L1-NEW+L2-B"]})  # fmt: skip
    epoch = target_epoch(ring, AFTER_WINDOW)
    brought = bring_forward(frame, epoch)
    table = source_epochs(brought.frame, brought.how, "municipal", epoch)
    sentence = behind_sentence(table, {"1480": "Göteborg"})
    assert sentence.startswith("goteborg (1480 Göteborg)'s data is under linkage key L1-OLD; the others under L1-NEW")
    assert held_back(table) == HeldBack(kommuner=("1480",))
    assert behind_sentence(table[table["source_id"] == "partille"]) == ""


def test_the_store_is_brought_forward_in_place_logged_and_idempotent(ring, tmp_path):
    files = DatasetFiles(tmp_path / "storage")
    numbers = pd.Series(NUMBERS, dtype="string")
    old = _keys(ring, "L1-OLD", "L2-A")
    stored = pd.DataFrame({"source_id": "goteborg", "pseudonym": [_oracle_pseudonym(ring, n, "L1-OLD", "L2-A")
                                                                  for n in NUMBERS], "key_id": old.key_id})  # fmt: skip
    files.write("municipal_interventions", "goteborg", stored)
    # AF's delivery in the window showed half of them under both keys.
    files.write(CROSSWALK, "af", linkage_crosswalk(numbers[::2], _keys(ring, "L1-NEW", "L2-A"), [ring.get("L1-OLD")]))
    epoch = target_epoch(ring, IN_WINDOW)
    now = dt.datetime(2027, 1, 20, 3, tzinfo=dt.UTC)
    changes = bring_store_forward(files, epoch, ["municipal_interventions"], IN_WINDOW, now)
    after = files.load("municipal_interventions", ["goteborg"])
    expected = [_oracle_pseudonym(ring, n, "L1-NEW" if i % 2 == 0 else "L1-OLD", "L2-B") for i, n in enumerate(NUMBERS)]
    assert list(after["pseudonym"]) == expected
    assert list(after["key_id"]) == ["L1-NEW+L2-B" if i % 2 == 0 else "L1-OLD+L2-B" for i in range(len(NUMBERS))]
    walked = files.load(CROSSWALK, ["af"])
    assert set(walked["new_key_id"]) == {"L1-NEW+L2-B"} and set(walked["old_key_id"]) == {"L1-OLD+L2-B"}
    lines = [json.loads(line) for line in (tmp_path / "storage" / REKEY_LOG).read_text().splitlines()]
    assert [(c["dataset"], c["rows_rekeyed"], c["rows_crosswalked"], c["rows_not_moved"]) for c in lines] == [
        (CROSSWALK, len(NUMBERS) // 2, 0, 0), ("municipal_interventions", len(NUMBERS), len(NUMBERS) // 2,
                                              len(NUMBERS) // 2)]  # fmt: skip
    assert lines == changes and not any(p in (tmp_path / "storage" / REKEY_LOG).read_text() for p in expected)
    assert (tmp_path / "storage" / REKEY_LOG).stat().st_mode & 0o777 == 0o600
    # Again: nothing left to do in the window; after it the crosswalk goes, the rest stays behind.
    assert bring_store_forward(files, epoch, ["municipal_interventions"], IN_WINDOW, now) == []
    later = bring_store_forward(files, target_epoch(ring, AFTER_WINDOW), ["municipal_interventions"], AFTER_WINDOW, now)
    assert [(c["dataset"], c["action"]) for c in later] == [(CROSSWALK, "deleted")]
    assert files.partitions(CROSSWALK) == []
    pd.testing.assert_frame_equal(files.load("municipal_interventions", ["goteborg"]), after)


def test_the_crosswalk_is_made_only_in_a_window_and_only_of_valid_numbers(ring):
    keys = pseudonym_keys(ring, IN_WINDOW)
    numbers = pd.Series([NUMBERS[0], None, NUMBERS[0], NUMBERS[1]], dtype="string")
    walk = linkage_crosswalk(numbers, keys, [ring.get("L1-OLD")])
    assert list(walk["old_pseudonym"]) == [_oracle_pseudonym(ring, n, "L1-OLD", "L2-B") for n in NUMBERS[:2]]
    assert list(walk["new_pseudonym"]) == [_oracle_pseudonym(ring, n, "L1-NEW", "L2-B") for n in NUMBERS[:2]]
    assert linkage_crosswalk(numbers, keys, []).empty


@settings(max_examples=40, deadline=None)
@given(new=st.lists(st.sampled_from(["1480", "1402", "0780"]), max_size=8),
       old=st.lists(st.sampled_from(["1480", "1402", "0780"]), max_size=8),
       held=st.sets(st.sampled_from(["1480", "1402"])), af_behind=st.booleans())  # fmt: skip
def test_held_back_recipients_keep_exactly_their_previous_rows(new, old, held, af_behind):
    declared = next(c for c in CONTRACTS if c.name == "kommun_samplanering")

    def rows(kommuner, tag):
        frame = pd.DataFrame({
            "kommunkod": kommuner, "record_id": [f"{tag}{i}" for i in range(len(kommuner))],
            "insats_code": "ARB", "af_category": "krom", "af_office": "x",
            "overlap_start": pd.Series(pd.Timestamp("2027-01-01"), index=range(len(kommuner))).astype("datetime64[s]"),
            "overlap_end": pd.Series(pd.NaT, index=range(len(kommuner))).astype("datetime64[s]"),
            "classification": "conflict", "interruption_risk": False, "upcoming": False,
        })  # fmt: skip
        return typed_as(frame, declared.model)

    tonight, before = rows(new, "new"), rows(old, "old")
    hold = HeldBack(kommuner=tuple(sorted(held)), everything=af_behind)
    result, kept = keep_previous({declared.name: tonight}, {declared.name: before}, {declared.name: declared}, hold)
    got = result[declared.name]
    if not hold:
        assert got is tonight
    else:
        expected = before if af_behind else pd.concat([tonight[~tonight["kommunkod"].isin(held)],
                                                       before[before["kommunkod"].isin(held)]])  # fmt: skip
        pd.testing.assert_frame_equal(got, canonical(expected.reset_index(drop=True)), check_dtype=False)
    assert bool(kept) == bool(hold)


def test_an_aggregate_keeps_its_whole_previous_table_and_nothing_is_kept_without_a_reason(tmp_path):
    stats = next(c for c in CONTRACTS if c.name == "regional_statistik")
    empty = pd.DataFrame({c: [] for c in stats.columns})
    result, kept = keep_previous({stats.name: empty}, {}, {stats.name: stats}, HeldBack())
    assert kept == {} and result[stats.name] is empty
    _, kept = keep_previous({stats.name: empty.astype(_statistics_types(stats))}, {stats.name: None},
                            {stats.name: stats}, HeldBack(kommuner=("1480",)))  # fmt: skip
    assert kept == {stats.name: "the whole previous publication"}


def _statistics_types(declared) -> dict:
    return {name: str(column.dtype) for name, column in declared.model.to_schema().columns.items()}
