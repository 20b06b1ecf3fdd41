"""Run tags shared by the job definitions and the production instance's queue limits.

`deploy/dagster.yaml` limits concurrent runs per value of `CONCURRENCY_GROUP_TAG`: a
bounded number of ingests, one reconcile-and-publish, one retention at a time.
"""

CONCURRENCY_GROUP_TAG = "mellanrum/concurrency_group"
INGEST_GROUP = {CONCURRENCY_GROUP_TAG: "ingest"}
RECONCILE_AND_PUBLISH_GROUP = {CONCURRENCY_GROUP_TAG: "reconcile_and_publish"}
RETENTION_GROUP = {CONCURRENCY_GROUP_TAG: "retention"}
