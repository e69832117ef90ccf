"""What both S3 servers share: the dev credentials, a readiness probe, and the bucket."""

from __future__ import annotations

import http.client

from thermocline.catalog.errors import DevStackError

from .info import S3Info, S3Kind

__all__ = [
    "ACCESS_KEY",
    "BUCKET",
    "REGION",
    "SECRET_KEY",
    "STORAGE_CLASSES",
    "ensure_bucket",
    "http_answers",
    "s3_info",
]

# Dev-only credentials: the servers listen on 127.0.0.1 and hold throwaway data.
ACCESS_KEY = "thermocline"
SECRET_KEY = "thermocline-dev-secret"  # noqa: S105
REGION = "us-east-1"
BUCKET = "thermocline"
STORAGE_CLASSES = ("STANDARD", "STANDARD_IA", "GLACIER", "DEEP_ARCHIVE")


def s3_info(kind: S3Kind, port: int, pids: tuple[int, ...]) -> S3Info:
    """The description of a running S3 server with the dev credentials."""
    return S3Info(
        kind=kind,
        endpoint_url=f"http://127.0.0.1:{port}",
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
        region=REGION,
        bucket=BUCKET,
        pids=pids,
        storage_classes=STORAGE_CLASSES,
    )


def http_answers(port: int) -> bool:
    """Whether an HTTP server answers on 127.0.0.1:``port`` (any status will do)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", "/")
        conn.getresponse().read()
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()
    return True


def ensure_bucket(info: S3Info) -> None:
    """Create the dev bucket unless it exists; this also proves the credentials work."""
    # Imported here: botocore takes 0.3 s to import, which `status` should not pay.
    import botocore.session
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    client = botocore.session.get_session().create_client(
        "s3",
        endpoint_url=info.endpoint_url,
        region_name=info.region,
        aws_access_key_id=info.access_key,
        aws_secret_access_key=info.secret_key,
        config=Config(connect_timeout=5, read_timeout=60, retries={"max_attempts": 3}),
    )
    try:
        client.create_bucket(Bucket=info.bucket)
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "BucketAlreadyOwnedByYou":
            raise DevStackError(
                f"could not create bucket {info.bucket!r} on {info.endpoint_url}: {exc}"
            ) from exc
    except BotoCoreError as exc:
        raise DevStackError(f"could not reach {info.endpoint_url}: {exc}") from exc
