"""Delta tables: stage and publish, versions and history, rollback, maintenance, inspection.

:mod:`.staging` writes Parquet invisibly and :mod:`.writes` publishes it in one commit
(write-audit-publish); :mod:`.versions` opens tables and resolves versions by number, tag or
time; :mod:`.rollback` restores versions and :mod:`.releases` whole releases;
:mod:`.maintenance` compacts, checkpoints and vacuums; :mod:`.inspection` describes, lists
and diffs; :mod:`.tier_plan` plans storage tiers from the log's facts (pure) and
:mod:`.tier_facts` reads those facts; :mod:`.search` finds datasets by name, column, owner,
tag or PII class, ranked by :mod:`.search_rank` (pure); :mod:`.lineage_graph` (pure) and
:mod:`.lineage_log` (pure) hold lineage's graph and log replay, :mod:`.lineage_facts` reads them.
"""

from thermocline.datasets.tables.inspection import describe, diff, list_datasets
from thermocline.datasets.tables.maintenance import checkpoint, compact, vacuum
from thermocline.datasets.tables.releases import create_release, release_rollback
from thermocline.datasets.tables.rollback import rollback
from thermocline.datasets.tables.staging import discard, stage
from thermocline.datasets.tables.versions import history, open_table, read_dataset, resolve_version
from thermocline.datasets.tables.writes import publish, quarantine, upsert, write

__all__ = [
    "checkpoint",
    "compact",
    "create_release",
    "describe",
    "diff",
    "discard",
    "history",
    "list_datasets",
    "open_table",
    "publish",
    "quarantine",
    "read_dataset",
    "release_rollback",
    "resolve_version",
    "rollback",
    "stage",
    "upsert",
    "vacuum",
    "write",
]
