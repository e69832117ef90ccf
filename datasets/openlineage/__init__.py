"""OpenLineage export: every publish, derived run and training read as RunEvents sent through
openlineage-python's transports, as the project file's ``lineage.openlineage`` says (off by
default; DESIGN.md > Decision 13).

:mod:`.events` builds the events as plain values (pure), :mod:`.convert` turns them into the
client's objects, :mod:`.emitter` sends them from a background thread without ever holding up
or failing a publish, and :mod:`.hooks` is what the ingest, Kafka and training paths call.

>>> from thermocline.datasets.openlineage import emitter_for
>>> emitter_for(None).enabled
False
"""

from __future__ import annotations

from thermocline.datasets.openlineage.emitter import emitter_for

__all__ = ["emitter_for"]
