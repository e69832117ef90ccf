from pathlib import Path

import pyarrow.fs as pafs
import pytest

from thermocline.catalog.errors import LakeError
from thermocline.catalog.lake import Lake

S3_OPTIONS = {
    "aws_endpoint_url": "http://127.0.0.1:7480",
    "AWS_ACCESS_KEY_ID": "key",
    "AWS_SECRET_ACCESS_KEY": "secret",
    "AWS_ALLOW_HTTP": "true",
}


def test_local_uris_become_absolute_paths(tmp_path: Path) -> None:
    assert Lake.open("lake", base_dir=tmp_path).uri == str(tmp_path / "lake")
    assert Lake.open(f"file://{tmp_path}/lake/").uri == str(tmp_path / "lake")
    assert Lake.open(tmp_path / "lake").table_uri("rides") == f"{tmp_path}/lake/rides"


def test_s3_uri_keeps_bucket_and_prefix_and_normalizes_option_names() -> None:
    lake = Lake.open("s3://bucket/some/prefix/", S3_OPTIONS)
    assert lake.uri == "s3://bucket/some/prefix"
    assert lake.table_uri("rides") == "s3://bucket/some/prefix/rides"
    assert lake.delta_storage_options()["AWS_ENDPOINT_URL"] == "http://127.0.0.1:7480"
    assert "secret" not in repr(lake)


def test_s3_filesystem_is_native_pyarrow_rooted_at_the_lake() -> None:
    lake = Lake.open("s3://bucket/prefix", S3_OPTIONS)
    filesystem = lake.table_filesystem("rides")
    assert isinstance(filesystem, pafs.SubTreeFileSystem)
    assert filesystem.base_path == "rides/"
    outer = lake.filesystem
    assert isinstance(outer, pafs.SubTreeFileSystem)
    assert outer.base_path == "bucket/prefix/"
    assert isinstance(outer.base_fs, pafs.S3FileSystem)
    assert outer.base_fs.region == "us-east-1"


@pytest.mark.parametrize(
    ("uri", "options", "message"),
    [
        ("s3:///prefix", {}, "has no bucket"),
        ("gs://bucket/x", {}, "unsupported scheme 'gs'"),
        (
            "s3://bucket/x",
            {"AWS_ENDPOINT_URL": "http://127.0.0.1:1"},
            "set storage option AWS_ALLOW_HTTP",
        ),
    ],
)
def test_bad_lakes_are_refused_with_the_fix(
    uri: str, options: dict[str, str], message: str
) -> None:
    with pytest.raises(LakeError, match=message):
        Lake.open(uri, options)
