"""The dev S3 server has the properties Delta commits on S3 depend on."""

from __future__ import annotations

import uuid

import boto3
import pytest
from botocore.exceptions import ClientError

from thermocline.pipelines import devstack

pytestmark = pytest.mark.s3


def client(stack: devstack.StackInfo):  # type: ignore[no-untyped-def]
    assert stack.s3 is not None
    return boto3.client(
        "s3",
        endpoint_url=stack.s3.endpoint_url,
        aws_access_key_id=stack.s3.access_key,
        aws_secret_access_key=stack.s3.secret_key,
        region_name=stack.s3.region,
    )


def test_second_put_with_if_none_match_is_rejected(dev_stack: devstack.StackInfo) -> None:
    """delta-rs commits version N with a conditional PUT; two writers must not both win."""
    assert dev_stack.s3 is not None
    s3 = client(dev_stack)
    key = f"tests/conditional/{uuid.uuid4().hex}/00000000000000000001.json"
    bucket = dev_stack.s3.bucket
    s3.put_object(Bucket=bucket, Key=key, Body=b"first", IfNoneMatch="*")
    with pytest.raises(ClientError) as caught:
        s3.put_object(Bucket=bucket, Key=key, Body=b"second", IfNoneMatch="*")
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"first"


def test_storage_classes_for_tiering(dev_stack: devstack.StackInfo) -> None:
    """Tiering changes a file's class in place: a copy onto itself with a new StorageClass."""
    assert dev_stack.s3 is not None
    s3 = client(dev_stack)
    bucket = dev_stack.s3.bucket
    key = f"tests/classes/{uuid.uuid4().hex}.parquet"
    s3.put_object(Bucket=bucket, Key=key, Body=b"x" * 1024)
    for storage_class in ("STANDARD_IA", "GLACIER", "DEEP_ARCHIVE", "STANDARD"):
        s3.copy_object(
            Bucket=bucket,
            Key=key,
            CopySource={"Bucket": bucket, "Key": key},
            StorageClass=storage_class,
            MetadataDirective="COPY",
        )
        assert s3.head_object(Bucket=bucket, Key=key).get("StorageClass") == storage_class
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"x" * 1024
