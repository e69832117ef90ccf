"""Storage classes of data files: set one by a copy in place, read one back (IO).

On S3 a file changes class by ``CopyObject`` onto its own key with a new ``StorageClass``: the
key does not change, so the Delta log stays valid and readers never see a gap. The copy is
idempotent: copying an object onto itself in the class it already has is refused by S3 as
"illegal" (nothing would change), which counts as done. Objects in an archive class cannot be
copied until restored: on AWS the first attempt starts a restore (``RestoreObject``) and says
to run again when it finishes (hours); the dev RGW's classes read instantly.

A local lake has no classes: :class:`LocalClasses` changes nothing and every file reads as
``STANDARD``; the tier inventory keeps the logical tier.

>>> store = class_store(lake)                                  # doctest: +SKIP
>>> store.set_class("rides", "day=2026-01-01/a.parquet", "STANDARD_IA")  # doctest: +SKIP
>>> store.class_of("rides", "day=2026-01-01/a.parquet")         # doctest: +SKIP
'STANDARD_IA'
"""

from __future__ import annotations

from typing import Any, Protocol
from urllib.parse import urlsplit

from thermocline.catalog.errors import ThermoclineError
from thermocline.catalog.lake import Lake

__all__ = ["ClassStore", "LocalClasses", "RestorePendingError", "S3Classes", "class_store"]

_RESTORE_DAYS = 7  # how long AWS keeps a restored copy readable while it is copied out


class RestorePendingError(ThermoclineError):
    """An archived object is being restored by the store (hours on AWS); run again later."""

    retryable = True


class ClassStore(Protocol):
    """Where a lake's objects get and report their storage class."""

    def set_class(self, dataset: str, path: str, storage_class: str) -> None:
        """Put ``dataset``'s file ``path`` (relative to the table root) in ``storage_class``."""

    def class_of(self, dataset: str, path: str) -> str:
        """The storage class ``path`` is in now."""


class LocalClasses:
    """A local lake: no classes; the tiers are logical only."""

    def set_class(self, dataset: str, path: str, storage_class: str) -> None:
        return None

    def class_of(self, dataset: str, path: str) -> str:
        return "STANDARD"


class S3Classes:
    """Storage classes on S3 (AWS, Ceph RGW), through one thread-safe botocore client."""

    def __init__(self, lake: Lake, max_connections: int = 32) -> None:
        from botocore.config import Config
        from botocore.session import get_session

        location = urlsplit(lake.uri)
        self._bucket = location.netloc
        self._prefix = location.path.strip("/")
        options = lake.storage_options
        endpoint = options.get("AWS_ENDPOINT_URL") or None
        self._client: Any = get_session().create_client(
            "s3",
            region_name=options.get("AWS_REGION", "us-east-1"),
            endpoint_url=endpoint,
            aws_access_key_id=options.get("AWS_ACCESS_KEY_ID"),
            aws_secret_access_key=options.get("AWS_SECRET_ACCESS_KEY"),
            aws_session_token=options.get("AWS_SESSION_TOKEN"),
            config=Config(
                max_pool_connections=max_connections,
                retries={"max_attempts": 5, "mode": "standard"},
                s3={"addressing_style": "path" if endpoint else "auto"},
                # S3-compatible servers reject the SDK's default streaming checksums (see Lake).
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            ),
        )

    def key(self, dataset: str, path: str) -> str:
        """The object key of ``dataset``'s file ``path``."""
        return "/".join(p for p in (self._prefix, dataset, path) if p)

    def set_class(self, dataset: str, path: str, storage_class: str) -> None:
        from botocore.exceptions import ClientError

        key = self.key(dataset, path)
        try:
            self._client.copy_object(
                Bucket=self._bucket,
                Key=key,
                CopySource={"Bucket": self._bucket, "Key": key},
                StorageClass=storage_class,
                MetadataDirective="COPY",
            )
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            if code == "InvalidRequest" and self.class_of(dataset, path) == storage_class:
                return  # already there: S3 refuses a copy onto itself that changes nothing
            if code == "InvalidObjectState":
                self._start_restore(key)
                raise RestorePendingError(
                    f"{self._bucket}/{key} is in an archive class; a restore has started "
                    f"(hours on AWS): run the same command again when it finished"
                ) from None
            raise

    def class_of(self, dataset: str, path: str) -> str:
        head = self._client.head_object(Bucket=self._bucket, Key=self.key(dataset, path))
        return str(head.get("StorageClass") or "STANDARD")

    def _start_restore(self, key: str) -> None:
        from botocore.exceptions import ClientError

        try:
            self._client.restore_object(
                Bucket=self._bucket,
                Key=key,
                RestoreRequest={
                    "Days": _RESTORE_DAYS,
                    "GlacierJobParameters": {"Tier": "Standard"},
                },
            )
        except ClientError as error:  # a restore already in progress is what we want
            if error.response.get("Error", {}).get("Code") != "RestoreAlreadyInProgress":
                raise


def class_store(lake: Lake, max_connections: int = 32) -> ClassStore:
    """The class store of ``lake``: S3 classes on ``s3://``, logical tiers on a local lake."""
    if lake.is_local:
        return LocalClasses()
    return S3Classes(lake, max_connections)
