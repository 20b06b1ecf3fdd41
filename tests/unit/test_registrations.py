"""The registration-based lists on named fixtures of Skatteverket test numbers (issue 16),
delivered as CSV and ingested like any delivery, and the rules against a day-by-day oracle."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.reconcile import transition_list, with_registrations
from core.registrations import handovers, youth_monitor
from core.synthetic.followup import nothing_next, youth_spells, youth_status
from testkit.followup import Deliveries, born_between, turning
from testkit.homes import new_keyring

D = dt.date.fromisoformat
OFFICE_P, OFFICE_R = "Arbetsförmedlingen Karlstad", "Arbetsförmedlingen Arvika"


@pytest.fixture(scope="module")
def ring(tmp_path_factory):
    return new_keyring(tmp_path_factory.mktemp("keys") / "keyring.json", "reg")


@pytest.fixture()
def ingest(tmp_path, ring):
    def run(deliveries: Deliveries, as_of: dt.date) -> dict[str, pd.DataFrame]:
        return deliveries.ingest(tmp_path / "inbox", ring, as_of)

    return run


# --- the transition list, complete -----------------------------------------------------------


def test_p_registered_without_a_programme_is_listed_by_registration_q_absent_r_as_before(ingest):
    cut_off = as_of = D("2026-09-29")
    d = Deliveries()
    p, q, r = turning(35, as_of), turning(40, as_of), turning(45, as_of)
    d.intervention(p, "P-1", "2026-08-01", "2026-12-31", code="ARBETSTRANING", consent=True)
    d.registration(p, "INSKR-P", "2026-06-01", office=OFFICE_P)
    d.intervention(q, "Q-1", "2026-08-01", "2026-12-31", consent=True)  # not registered at AF
    d.intervention(r, "R-1", "2026-08-01", "2026-12-31", consent=True)
    d.assignment(r, "A-R", "2026-07-01", "2026-12-31", office=OFFICE_R)
    d.registration(r, "INSKR-R", "2026-05-01", office=OFFICE_P)
    data = ingest(d, as_of)
    before = transition_list(data["municipal"], data["af"], as_of, cut_off)
    listed = with_registrations(before, data["municipal"], data["af"], data["registrations"], as_of, cut_off)
    assert len(listed) == 2
    p_row = listed[listed["keyed_by"] == "registration_id"].iloc[0]
    assert (p_row["registration_id"], p_row["af_office"], pd.isna(p_row["assignment_id"])) == ("INSKR-P", OFFICE_P, True)
    assert p_row["kommunkod"] == "1764" and not q.startswith(p)
    r_row = listed[listed["keyed_by"] == "assignment_id"].iloc[0]
    assert (r_row["assignment_id"], r_row["af_office"]) == ("A-R", OFFICE_R)
    pd.testing.assert_frame_equal(before.reset_index(drop=True),
                                  listed[listed["keyed_by"] == "assignment_id"].reset_index(drop=True),
                                  check_dtype=False)  # fmt: skip


def test_a_registration_ended_before_the_as_of_date_does_not_list(ingest):
    as_of = D("2026-09-29")
    d = Deliveries()
    p = turning(35, as_of)
    d.intervention(p, "P-1", "2026-08-01", "2026-12-31")
    d.registration(p, "INSKR-P", "2026-06-01", "2026-09-28", reason="work")
    data = ingest(d, as_of)
    listed = with_registrations(transition_list(data["municipal"], data["af"], as_of, as_of), data["municipal"],
                                data["af"], data["registrations"], as_of, as_of)  # fmt: skip
    assert listed.empty


# --- the 90-day youth monitor -------------------------------------------------------------------


def _status(ingest, d: Deliveries, as_of: dt.date) -> pd.DataFrame:
    data = ingest(d, as_of)
    return youth_monitor(data["municipal"], data["af"], data["registrations"], as_of)


def test_y1_nothing_started_is_approaching_on_day_60_and_breached_on_day_90(ingest):
    d = Deliveries()
    d.registration(turning(19, D("2026-08-01")), "Y1", "2026-08-01")
    assert _status(ingest, d, D("2026-09-30")).set_index("registration_id").loc["Y1", "status"] == "approaching"
    assert _status(ingest, d, D("2026-10-30")).set_index("registration_id").loc["Y1", "status"] == "breached"


@pytest.mark.parametrize(("day", "status"), [(59, "pending"), (60, "approaching"), (89, "approaching"),
                                              (90, "breached"), (91, "breached")])  # fmt: skip
def test_day_edges(ingest, day, status):
    d = Deliveries()
    d.registration(turning(20, D("2026-08-01")), "Y", "2026-08-01")
    as_of = D("2026-08-01") + dt.timedelta(days=day)
    assert _status(ingest, d, as_of).iloc[0]["status"] == status


@pytest.mark.parametrize(("start_day", "status", "days"), [(90, "met", 90), (91, "breached", None)])
def test_a_start_on_day_90_meets_the_guarantee_and_one_on_day_91_does_not(ingest, start_day, status, days):
    d = Deliveries()
    y = turning(22, D("2026-08-01"))
    d.registration(y, "Y", "2026-08-01")
    d.assignment(y, "A", (D("2026-08-01") + dt.timedelta(days=start_day)).isoformat(), "2027-03-01")
    row = _status(ingest, d, D("2026-12-01")).iloc[0]
    assert row["status"] == status
    assert (None if pd.isna(row["days_to_start"]) else row["days_to_start"]) == days


def test_y2_municipal_placement_from_day_45_is_met_after_45_days(ingest):
    d = Deliveries()
    y = turning(18, D("2026-08-01"))
    d.registration(y, "Y2", "2026-08-01")
    d.intervention(y, "Y2-M", "2026-09-15", "2026-12-31", code="PRAKTIK")
    row = _status(ingest, d, D("2026-10-30")).set_index("registration_id").loc["Y2"]
    assert (row["status"], row["days_to_start"], row["started_by"]) == ("met", 45, "municipal")


def test_y3_25_at_registration_is_absent_and_y4_with_only_a_cancelled_programme_is_breached(ingest):
    d = Deliveries()
    y3, y4 = turning(25, D("2026-08-01")), turning(21, D("2026-08-01"))
    d.registration(y3, "Y3", "2026-08-01")
    d.registration(y4, "Y4", "2026-08-01")
    d.assignment(y4, "Y4-A", "2026-08-20", "2026-12-01", status="cancelled")
    monitor = _status(ingest, d, D("2026-10-30")).set_index("registration_id")
    assert "Y3" not in monitor.index
    assert monitor.loc["Y4", "status"] == "breached"


@pytest.mark.parametrize(("gap", "continued"), [(30, True), (31, False)])
def test_a_re_registration_on_day_30_continues_the_spell_and_on_day_31_starts_a_new_one(ingest, gap, continued):
    d = Deliveries()
    y = turning(19, D("2026-05-01"))
    d.registration(y, "FIRST", "2026-05-01", "2026-06-30", reason="other")
    again = D("2026-06-30") + dt.timedelta(days=gap)
    d.registration(y, "AGAIN", again.isoformat())
    monitor = _status(ingest, d, D("2026-09-15")).set_index("registration_id")
    if continued:
        assert list(monitor.index) == ["FIRST"] and monitor.loc["FIRST", "status"] == "breached"
        assert monitor.loc["FIRST", "registration_date"] == pd.Timestamp("2026-05-01")
    else:
        assert monitor.loc["FIRST", "status"] == "ended"
        assert monitor.loc["AGAIN", "status"] == "pending"


# --- hand-overs -------------------------------------------------------------------------------


def test_one_fixture_per_hand_over_kind_is_found(ingest):
    as_of = D("2026-10-01")
    d = Deliveries()
    a, b = turning(30, as_of), turning(40, as_of, 1)
    c = born_between(D("2006-10-05"), D("2006-11-25"))  # turns 20 within 60 days of the as-of date
    d.intervention(a, "A-1", "2026-03-01", "2026-09-20")
    d.registration(a, "REG-A", "2026-01-01", office=OFFICE_P)
    d.assignment(b, "B-ETAB", "2024-10-01", "2026-10-10", code="ETAB", office=OFFICE_R)
    d.intervention(b, "B-SFI", "2025-01-01", "2026-06-30", code="SFI")
    d.intervention(c, "C-KAA", "2026-01-01", "", code="KAA")
    d.registration(c, "REG-C", "2026-02-01", office=OFFICE_P)
    data = ingest(d, as_of)
    found = handovers(data["municipal"], data["af"], data["registrations"], as_of).set_index("kind")
    assert set(found.index) == {"insats_slut_utan_af", "af_slut_utan_fortsattning", "kaa_slutar"}
    assert (found.loc["insats_slut_utan_af", "registration_id"], found.loc["insats_slut_utan_af", "af_office"]) == (
        "REG-A", OFFICE_P)
    assert (found.loc["af_slut_utan_fortsattning", "kommunkod"], found.loc["af_slut_utan_fortsattning", "record_id"]) == (
        "1764", "B-SFI")
    born = pd.Timestamp(c[:8])
    assert found.loc["kaa_slutar", "ends_on"] == born + pd.DateOffset(years=20)
    assert as_of <= found.loc["kaa_slutar", "ends_on"].date() <= as_of + dt.timedelta(days=60)


@pytest.mark.parametrize(("start_after", "listed"), [(30, False), (31, True)])
def test_a_continuation_on_day_30_clears_the_gap_and_one_on_day_31_does_not(ingest, start_after, listed):
    as_of, end = D("2026-10-01"), D("2026-09-20")
    d = Deliveries()
    a = turning(30, as_of)
    d.intervention(a, "A-1", "2026-03-01", end.isoformat())
    d.registration(a, "REG-A", "2026-01-01")
    d.assignment(a, "A-NEXT", (end + dt.timedelta(days=start_after)).isoformat(), "2027-01-01")
    b = turning(40, as_of)
    d.assignment(b, "B-1", "2026-01-01", end.isoformat(), code="ETAB")
    d.intervention(b, "B-NEXT", (end + dt.timedelta(days=start_after)).isoformat(), "2027-01-01", code="SFI")
    data = ingest(d, as_of)
    kinds = set(handovers(data["municipal"], data["af"], data["registrations"], as_of)["kind"])
    assert ("insats_slut_utan_af" in kinds) == listed
    assert ("af_slut_utan_fortsattning" in kinds) == listed


# --- against the day-by-day oracle ---------------------------------------------------------------


def _frames(regs, starts, as_of):
    """Internal frames for one synthetic person (pseudonym fixed), as the oracle sees them."""
    pseudonym, key_id = "A" * 52, "L1-x+L2-x"
    registrations = pd.DataFrame({
        "source_id": "af_inskrivningar", "file": "f.csv", "line": range(2, len(regs) + 2),
        "pseudonym": pseudonym, "key_id": key_id, "age_band": [r["age_band"] for r in regs], "consent": True,
        "registration_id": [r["id"] for r in regs],
        "registration_date": pd.to_datetime([r["start"] for r in regs]).astype("datetime64[s]"),
        "deregistration_date": pd.to_datetime([r["end"] for r in regs]).astype("datetime64[s]"),
        "deregistration_reason": pd.array([None if r["end"] is None else "other" for r in regs], dtype="string"),
        "jobseeker_category": "11", "af_office": [r["office"] for r in regs], "turns_20_on": pd.NaT,
    })
    af = pd.DataFrame({
        "pseudonym": pseudonym, "key_id": key_id, "status": "ongoing", "assignment_id": [f"A{i}" for i in range(len(starts))],
        "start_date": pd.to_datetime(starts).astype("datetime64[s]"), "end_date": pd.NaT, "af_office": "X",
        "consent": True, "category": "matching",
    })
    municipal = pd.DataFrame(columns=["pseudonym", "key_id", "start_date", "end_date", "kommunkod", "record_id",
                                      "consent", "category", "insats_code"])  # fmt: skip
    municipal = municipal.astype({"start_date": "datetime64[s]", "end_date": "datetime64[s]", "consent": bool})
    return municipal, af, registrations


@st.composite
def people(draw):
    base = D("2026-01-01")
    count = draw(st.integers(1, 4))
    regs, day = [], 0
    for i in range(count):
        day += draw(st.integers(0, 60))
        length = draw(st.one_of(st.none(), st.integers(0, 120)))
        regs.append({"id": f"R{i}", "start": base + dt.timedelta(days=day),
                     "end": None if length is None else base + dt.timedelta(days=day + length),
                     "age_band": draw(st.sampled_from(["16-19", "20-24", "25-29"])),
                     "office": draw(st.sampled_from(["O1", "O2"]))})
        day += (length or 0) + 1
        if length is None:
            break
    starts = draw(st.lists(st.integers(0, 400), max_size=3))
    as_of = base + dt.timedelta(days=draw(st.integers(0, 400)))
    return regs, [base + dt.timedelta(days=s) for s in starts], as_of


@settings(deadline=None)  # examples: the profile (testkit/pytest_plugin.py)
@given(people())
def test_youth_monitor_equals_a_day_by_day_oracle(person):
    regs, starts, as_of = person
    municipal, af, registrations = _frames(regs, starts, as_of)
    monitor = youth_monitor(municipal, af, registrations, as_of)
    got = {(r.registration_id, r.status, None if pd.isna(r.days_to_start) else int(r.days_to_start), r.af_office)
           for r in monitor.itertuples()}  # fmt: skip
    expected = set()
    for spell in youth_spells([r for r in regs if r["start"] <= as_of], as_of):
        if spell["age_band"] not in ("16-19", "20-24") or spell["day0"] > as_of:
            continue
        if not spell["open"] and (as_of - spell["last"]).days > 365:
            continue
        status, days = youth_status(spell, starts, as_of)
        expected.add((spell["registration_id"], status, days, spell["af_office"]))
    assert got == expected


@settings(deadline=None)  # examples: the profile (testkit/pytest_plugin.py)
@given(st.integers(0, 60), st.lists(st.tuples(st.integers(-40, 60), st.one_of(st.none(), st.integers(0, 40))),
                                     max_size=3))  # fmt: skip
def test_nothing_next_equals_the_day_by_day_oracle(end_offset, nexts):
    from core.registrations import HANDOVER_DAYS, _nothing_next

    base = D("2026-01-01")
    end = base + dt.timedelta(days=end_offset)
    periods = [(end + dt.timedelta(days=s), None if n is None else end + dt.timedelta(days=s + n)) for s, n in nexts]
    ends = pd.DataFrame({"index": [0], "person": [0], "end": [(end - D("1970-01-01")).days]})
    frame = pd.DataFrame({"person": [0] * len(periods),
                          "start": [(s - D("1970-01-01")).days for s, _ in periods],
                          "end_next": [2**31 - 1 if e is None else (e - D("1970-01-01")).days for _, e in periods]})  # fmt: skip
    assert HANDOVER_DAYS == 30
    assert bool(_nothing_next(ends, frame)[0]) == nothing_next(end, periods)


# --- consent, and what reaches whom ---------------------------------------------------------------


def _published(data: dict[str, pd.DataFrame], as_of: dt.date) -> dict[str, pd.DataFrame]:
    from core.contracts import CONTRACTS
    from core.publish import build_datasets
    from schemas.contracts import PublicationParameters

    internal = {"youth_monitor": youth_monitor(data["municipal"], data["af"], data["registrations"], as_of),
                "handovers": handovers(data["municipal"], data["af"], data["registrations"], as_of)}  # fmt: skip
    empty = {name: frame.iloc[:0] for name, frame in (("overlaps", _empty_overlaps()),
                                                       ("transition_list", _empty_transitions()))}  # fmt: skip
    chosen = [c for c in CONTRACTS if set(c.inputs) <= {"youth_monitor", "handovers"}]
    return build_datasets({**internal, **empty}, chosen, PublicationParameters(as_of, 5))


def _empty_overlaps() -> pd.DataFrame:
    from core.publish import empty
    from schemas.reconciled import Overlaps

    return empty(Overlaps)


def _empty_transitions() -> pd.DataFrame:
    from core.publish import empty
    from schemas.reconciled import TransitionList

    return empty(TransitionList)


def test_y5_without_afs_consent_is_missing_from_the_municipalitys_rows_but_counted_in_the_aggregate(ingest):
    as_of = D("2026-10-01")
    d = Deliveries()
    for n in range(6):
        y = turning(19, D("2026-09-01"), n)
        d.registration(y, f"Y{n}", "2026-09-01", consent=n != 5)  # Y5: AF recorded no consent
        d.intervention(y, f"REC-{n}", "2026-06-01", "2026-08-15", code="PRAKTIK")  # in Grums' records, before day 0
    published = _published(ingest(d, as_of), as_of)
    kommun = published["unga_90_dagar_kommun"]
    assert sorted(kommun["record_id"]) == [f"REC-{n}" for n in range(5)]
    assert "registration_date" not in kommun.columns
    statistics = published["unga_90_dagar_statistik"]
    cell = statistics[(statistics["level"] == "cell") & (statistics["kommunkod"] == "1764")]
    assert cell[["year", "status", "count"]].to_dict("records") == [{"year": "2026", "status": "pending", "count": 6}]
    assert len(published["unga_90_dagar"]) == 6  # AF's own office sees all its registrations


def test_without_the_consent_the_rule_names_no_hand_over_leaves(ingest):
    as_of = D("2026-10-01")
    d = Deliveries()
    a, b, c = turning(30, as_of), turning(40, as_of, 1), born_between(D("2006-10-05"), D("2006-11-25"))
    d.intervention(a, "A-1", "2026-03-01", "2026-09-20", consent=False)  # the municipality's consent missing
    d.registration(a, "REG-A", "2026-01-01")
    d.assignment(b, "B-ETAB", "2024-10-01", "2026-10-10", code="ETAB", consent=False)  # AF's consent missing
    d.intervention(b, "B-SFI", "2025-01-01", "2026-06-30", code="SFI")
    d.intervention(c, "C-KAA", "2026-01-01", "", code="KAA", consent=False)
    d.registration(c, "REG-C", "2026-02-01")
    data = ingest(d, as_of)
    assert len(handovers(data["municipal"], data["af"], data["registrations"], as_of)) == 3
    published = _published(data, as_of)
    assert published["overlamningar"].empty and published["overlamningar_kommun"].empty
    counted = published["overlamningar_statistik"]
    assert counted.loc[counted["level"] == "region", "suppressed"].all()  # 3 below 5: counted, not shown


# --- the source itself -------------------------------------------------------------------------------


def test_bad_registration_rows_are_quarantined_with_plain_reasons(tmp_path, ring):
    from core.ingest import ingest_source
    from core.keys.keyring import pseudonym_keys
    from schemas.sources import REGISTRATION_COLUMNS, load_sources

    y = turning(30, D("2026-01-01"))
    rows = [
        [y, "OK-1", "2026-01-01", "2026-03-01", "Arbete", "11", "Kontor A", "Ja"],
        [y, "BAD-1", "2026-05-01", "2026-04-01", "Arbete", "11", "Kontor A", "Ja"],
        [y, "BAD-2", "2026-06-01", "", "Arbete", "11", "Kontor A", "Ja"],
        [y, "BAD-3", "2026-07-01", "2026-08-01", "Flyttat", "11", "Kontor A", "Ja"],
        [y, "OK-2", "2026-09-01", "2026-09-02", "", "11", "Kontor A", "Nej"],
    ]
    their = ["Pnr", "Id", "Inskriven", "Avaktualiserad", "Orsak", "Kategori", "Kontor", "Samtycke"]
    pd.DataFrame(rows, columns=their).to_csv(tmp_path / "reg.csv", index=False, sep=";")
    (tmp_path / "sources.yaml").write_text(
        "version: 1\nsources:\n  - id: af_reg\n    kind: af_registrations\n    files: reg.csv\n    format: csv\n"
        "    columns: {Pnr: personnummer, Id: registration_id, Inskriven: registration_date,\n"
        "              Avaktualiserad: deregistration_date, Orsak: deregistration_reason,\n"
        "              Kategori: jobseeker_category, Kontor: af_office, Samtycke: consent}\n"
        "    codes:\n      deregistration_reason: {Arbete: work, Studier: studies}\n"
        "      consent: {Ja: true, Nej: false}\n", encoding="utf-8")  # fmt: skip
    sources = load_sources(tmp_path / "sources.yaml")
    (source,) = sources.all
    assert set(source.canonical_columns) == set(REGISTRATION_COLUMNS)
    result = ingest_source(source, sources.files(source), sources.catalogue, pseudonym_keys(ring, D("2026-10-01")),
                           ring, D("2026-10-01"))  # fmt: skip
    assert list(result.accepted["registration_id"]) == ["OK-1", "OK-2"]
    assert list(result.accepted["deregistration_reason"]) == ["work", "unknown"]  # blank once de-registered: unknown
    reasons = dict(zip(result.quarantine["line"], result.quarantine["reason"], strict=True))
    assert reasons == {
        3: "de-registration date 2026-04-01 before registration date 2026-05-01",
        4: "a de-registration reason (work) without a de-registration date",
        5: "unknown de-registration reason 'Flyttat': not mapped in the sources file",
    }
    assert not result.quarantine["reason"].str.contains(y[2:8]).any()


def test_a_registration_source_of_level1_pseudonyms_links_with_plain_numbers_and_has_no_age(tmp_path, ring):
    from core.ingest import ingest_source
    from core.keys.keyring import pseudonym_keys
    from core.keys.pseudonyms import level1_pseudonyms
    from schemas.sources import load_sources

    as_of = D("2026-10-01")
    keys = pseudonym_keys(ring, as_of)
    y = turning(19, D("2026-08-01"))
    p1 = level1_pseudonyms(pd.Series([y]), keys.linkage.secret).iloc[0]
    pd.DataFrame([[p1, keys.linkage.id, "R1", "2026-08-01", "", "", "11", "Kontor", "true"]],
                 columns=["p1", "kid", "registration_id", "registration_date", "deregistration_date",
                          "deregistration_reason", "jobseeker_category", "af_office", "consent"]).to_csv(
        tmp_path / "reg.csv", index=False)  # fmt: skip
    (tmp_path / "sources.yaml").write_text(
        "version: 1\nsources:\n  - id: af_reg\n    kind: af_registrations\n    files: reg.csv\n    format: csv\n"
        "    columns: {p1: pseudonym_l1, kid: pseudonym_key_id, registration_id: registration_id,\n"
        "              registration_date: registration_date, deregistration_date: deregistration_date,\n"
        "              deregistration_reason: deregistration_reason, jobseeker_category: jobseeker_category,\n"
        "              af_office: af_office, consent: consent}\n", encoding="utf-8")  # fmt: skip
    sources = load_sources(tmp_path / "sources.yaml")
    (source,) = sources.all
    pseudonymized = ingest_source(source, sources.files(source), sources.catalogue, keys, ring, as_of).accepted
    plain = Deliveries()
    plain.registration(y, "R1", "2026-08-01")
    from_plain = plain.ingest(tmp_path / "plain", ring, as_of)["registrations"]
    assert pseudonymized["pseudonym"].iloc[0] == from_plain["pseudonym"].iloc[0]
    assert pseudonymized["age_band"].iloc[0] == "unknown" and from_plain["age_band"].iloc[0] == "16-19"
