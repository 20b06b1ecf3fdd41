"""Column lineage: every column of the reconciliation's and the publication's assets is
traced to columns that exist upstream."""

import dagster as dg
import pytest

from assets.names import (
    AF_ASSIGNMENTS,
    AF_REGISTRATIONS,
    HANDOVERS,
    INTERVENTION_OUTCOMES,
    MUNICIPAL_FLOWS,
    KEY_EPOCHS,
    MUNICIPAL_INTERVENTIONS,
    MUNICIPAL_OVERLAPS,
    OVERLAPS,
    PUBLICATION_LOG,
    RECONCILE_PARAMETERS,
    TRANSITION_LIST,
    YOUTH_MONITOR,
)
from assets.publish import publication_asset
from assets.reconcile import reconciliation
from core.contracts import CONTRACTS
from schemas.datasets import AfAssignments, AfRegistrations, MunicipalInterventions
from schemas.flows import MunicipalFlows
from schemas.followup import Handovers, InterventionOutcomes, YouthMonitor
from schemas.published import PublicationLog
from schemas.reconciled import MunicipalOverlaps, Overlaps, TransitionList

MODELS = {
    MUNICIPAL_INTERVENTIONS: MunicipalInterventions, AF_ASSIGNMENTS: AfAssignments, OVERLAPS: Overlaps,
    MUNICIPAL_OVERLAPS: MunicipalOverlaps, TRANSITION_LIST: TransitionList, AF_REGISTRATIONS: AfRegistrations,
    YOUTH_MONITOR: YouthMonitor, HANDOVERS: Handovers, INTERVENTION_OUTCOMES: InterventionOutcomes,
    MUNICIPAL_FLOWS: MunicipalFlows,
    **{dg.AssetKey(c.name): c.model for c in CONTRACTS},
}  # fmt: skip


publication = publication_asset()
# Records about runs, not data derived column by column.
WITHOUT_LINEAGE = {PUBLICATION_LOG, RECONCILE_PARAMETERS, KEY_EPOCHS}


def specs():
    for assets in (reconciliation, publication):
        for spec in assets.specs:
            if spec.key not in WITHOUT_LINEAGE:
                yield spec


@pytest.mark.parametrize("spec", list(specs()), ids=lambda spec: spec.key.to_user_string())
def test_every_column_is_traced_to_columns_that_exist_upstream(spec):
    lineage = spec.metadata["dagster/column_lineage"]
    assert set(lineage.deps_by_column) == set(MODELS[spec.key].to_schema().columns)
    for column, deps in lineage.deps_by_column.items():
        assert deps, column
        for dep in deps:
            assert dep.column_name in MODELS[dep.asset_key].to_schema().columns, (column, dep)


def test_the_publication_log_has_a_schema_but_no_row_lineage():
    (log,) = [spec for spec in publication.specs if spec.key == PUBLICATION_LOG]
    assert [c.name for c in log.metadata["dagster/column_schema"].columns] == list(PublicationLog.to_schema().columns)
