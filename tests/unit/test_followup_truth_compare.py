"""The comparison of the registration-based lists with the generator's truth
(`core.synthetic.followup_truth`, shared by the demo-scale test and the national bench):
equal lists give no difference; a row missing, one too many, or a status, date or consent
that differs is reported under its list and kommun, and the counts carry no value."""

from __future__ import annotations

import pandas as pd

from core.synthetic.followup_truth import compare_followup, difference_counts, found_lists

TRUTH = {
    "transition_list": pd.DataFrame({"registration_id": ["I1", "I2"], "af_office": ["AF Grums", "AF Arvika"],
                                     "kommunkod": ["1764", "1784"], "planned_end": ["2026-12-31", ""],
                                     "municipal_consent": ["True", "False"], "af_consent": ["True", "True"]}),
    "youth_monitor": pd.DataFrame({"registration_id": ["I1", "I3"], "af_office": ["AF Grums", "AF Grums"],
                                   "status": ["met", "breached"], "days_to_start": ["12", ""],
                                   "kommunkod": ["1764", ""], "record_id": ["R1", ""]}),
    "handovers": pd.DataFrame({"kind": ["insats_slut_utan_af", "af_slut_utan_fortsattning"],
                               "kommunkod": ["1764", "1784"], "record_id": ["R1", "R2"], "id": ["I1", "A9"],
                               "ends_on": ["2026-11-30", "2026-12-02"]}),
}  # fmt: skip


def _found() -> dict[str, pd.DataFrame]:
    """The pipeline's typed frames for the same rows, plus an assignment-keyed transition row."""
    listed = pd.DataFrame({
        "keyed_by": ["registration_id", "registration_id", "assignment_id"],
        "registration_id": ["I1", "I2", None], "af_office": ["AF Grums", "AF Arvika", "AF Grums"],
        "kommunkod": ["1764", "1784", "1764"],
        "planned_end": pd.to_datetime(["2026-12-31", None, "2027-01-15"]),
        "municipal_consent": [True, False, True], "af_consent": [True, True, False],
    })  # fmt: skip
    monitor = pd.DataFrame({"registration_id": ["I1", "I3"], "af_office": ["AF Grums", "AF Grums"],
                            "status": ["met", "breached"], "days_to_start": pd.array([12, None], dtype="Int64"),
                            "kommunkod": pd.array(["1764", None], dtype="string"),
                            "record_id": pd.array(["R1", None], dtype="string")})  # fmt: skip
    handed = pd.DataFrame({"kind": ["insats_slut_utan_af", "af_slut_utan_fortsattning"], "kommunkod": ["1764", "1784"],
                           "record_id": ["R1", "R2"], "registration_id": ["I1", None], "assignment_id": [None, "A9"],
                           "ends_on": pd.to_datetime(["2026-11-30", "2026-12-02"])})  # fmt: skip
    return found_lists(listed, monitor, handed)


def test_lists_equal_to_the_truth_give_no_difference():
    assert compare_followup(_found(), TRUTH) == {}


def test_a_missing_row_an_extra_row_and_a_changed_status_are_reported_by_list_and_kommun():
    found = _found()
    found["transition_list"] = found["transition_list"].iloc[:1]  # I2 in 1784 missing
    found["youth_monitor"] = found["youth_monitor"].assign(status=["met", "pending"])  # nobody's spell changed
    found["handovers"] = pd.concat([found["handovers"], found["handovers"].iloc[:1].assign(kommunkod="1785")])
    differences = compare_followup(found, TRUTH)
    assert set(differences) == {"transition_list", "youth_monitor", "handovers"}
    assert set(differences["transition_list"]) == {"1784"}
    assert set(differences["youth_monitor"]) == {""}
    assert set(differences["handovers"]) == {"1785"}
    assert difference_counts(differences) == {"transition_list": {"1784": [1, 0]}, "youth_monitor": {"": [1, 1]},
                                              "handovers": {"1785": [0, 1]}}  # fmt: skip


def test_a_differing_date_or_consent_is_a_difference():
    found = _found()
    found["handovers"] = found["handovers"].assign(ends_on=pd.to_datetime(["2026-11-30", "2026-12-03"]))
    found["transition_list"] = found["transition_list"].assign(af_consent=[True, False])
    assert difference_counts(compare_followup(found, TRUTH)) == {"transition_list": {"1784": [1, 1]},
                                                                 "handovers": {"1784": [1, 1]}}  # fmt: skip
