"""PII column classification against presidio-analyzer's pattern recognizers, on labeled columns.

Two splits of synthetic labeled columns (``benchmarks/pii_data.py``: every class of issue #14
and hard negatives, nulls and dirt, helpful / misleading / opaque names) are made from two
seeds: ``tune`` (the one the thresholds were chosen on) and ``test`` (held out). Every column is
sampled once (``classify.sample_values``, up to ``--sample`` non-null values); both tools see
that same sample:

* ours: ``classify_column(name, column, sample_rows=--sample)`` (it draws the same sample itself,
  and the timing includes drawing it);
* presidio: ``AnalyzerEngine.analyze`` on each sampled value (as text), its predefined
  recognizers for English plus the national-id recognizers of the countries the set holds
  (registered for English), a blank spaCy pipeline as NLP engine (no model can be downloaded,
  so its NER classes, PERSON and LOCATION, never fire) and tldextract without network.
  Entities map to our classes (:data:`PRESIDIO_CLASSES`); a value's class is its
  highest-scoring mapped entity; a column's class is the class most of its values hold
  (> 50%); in free text (as ours) one e-mail, card, IBAN or SSN makes it that class. Presidio
  has no recognizer for dates of birth, street addresses, coordinates or secrets: those
  columns count as misses for it. It gets no column names (it has no notion of them).

Scores are per column: precision, recall and F1 per class, macro F1 over the 14 classes.
Speed is sampled values examined per second on one core (``os.sched_setaffinity``; Arrow's
thread pool set to one thread), for each tool over the whole split.

Run (the extra packages live in their own venv, never in the project's dependencies)::

    uv venv /tmp/pii-bench && uv pip install --python /tmp/pii-bench/bin/python \\
        -c constraints.txt -e . -r benchmarks/requirements-pii.txt
    /tmp/pii-bench/bin/python benchmarks/pii.py [--columns 300] [--sample 300] [--no-presidio]

The last line is ``RESULT pii_macro_f1=<x> pii_rows_s=<y> presidio_macro_f1=<z>
pii_vs_presidio_speed=<r>``: F1 on the held-out test split; speed at the batch shape ingest
classifies (:func:`batch_speed`: 20 columns x 10,000 rows at the default sample of 10,000
values, both tools on the same values; ``--batch-rows 0`` reports the test split's speed
instead). Targets: macro F1 >= 0.95, >= 50x presidio's rows/s, >= 200k rows/s on one core.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pii_data import CLASSES, NONE, Column, Scores, make_split, score

from thermocline.quality.pii.classify import (
    PRECISE,
    classify_columns,
    sample_values,
)

SEEDS = {"tune": 14_001, "test": 14_002}
BATCH_SEED = 14_003  # the batch-shape speed table, neither split

PRESIDIO_CLASSES = {
    "EMAIL_ADDRESS": "email",
    "PHONE_NUMBER": "phone",
    "CREDIT_CARD": "payment_card",
    "IBAN_CODE": "iban",
    "US_SSN": "us_ssn",
    "IP_ADDRESS": "ip",  # ipv4 or ipv6, by the value's shape
    "MAC_ADDRESS": "mac_address",
    "PERSON": "person_name",
    "LOCATION": "street_address",
    # National ids: every personal-number recognizer presidio has for the set's countries.
    "UK_NHS": "national_id",
    "UK_NINO": "national_id",
    "ES_NIF": "national_id",
    "ES_NIE": "national_id",
    "IT_FISCAL_CODE": "national_id",
    "PL_PESEL": "national_id",
    "FI_PERSONAL_IDENTITY_CODE": "national_id",
    "SE_PERSONNUMMER": "national_id",
    "US_ITIN": "national_id",
}
"""Presidio entity -> our class; other entities (URL, DATE_TIME, UUID, US_BANK_NUMBER, ...)
are no class of ours and count as nothing."""

_NATIONAL_RECOGNIZERS = (
    "EsNifRecognizer", "EsNieRecognizer", "ItFiscalCodeRecognizer", "PlPeselRecognizer",
    "FiPersonalIdentityCodeRecognizer", "SePersonnummerRecognizer", "UkNinoRecognizer",
)  # fmt: skip


def one_core() -> str:
    """Pin this process to one CPU and Arrow to one thread; say which."""
    cpu = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)
    return f"pinned to CPU {cpu} (os.sched_setaffinity), Arrow cpu_count=1"


def presidio_analyzer() -> Callable[[str], list[tuple[str, float]]] | None:
    """``analyze(text) -> [(entity, score)]`` from presidio offline; None when not installed."""
    try:
        import spacy
        import tldextract
        from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
        from presidio_analyzer import predefined_recognizers as pr
        from presidio_analyzer.nlp_engine import SpacyNlpEngine
        from presidio_analyzer.predefined_recognizers.generic import email_recognizer
    except ImportError:
        return None

    class BlankSpacy(SpacyNlpEngine):  # type: ignore[misc]
        """A spaCy engine over ``spacy.blank("en")``: tokens, no model, no NER."""

        def __init__(self) -> None:
            super().__init__(models=[{"lang_code": "en", "model_name": "blank"}])
            self.nlp = {"en": spacy.blank("en")}

        def load(self) -> None:
            pass

    # The e-mail recognizer checks the domain with tldextract, which would fetch the public
    # suffix list; the snapshot bundled with tldextract is used instead.
    offline = tldextract.TLDExtract(suffix_list_urls=())
    email_recognizer.tldextract = SimpleNamespace(extract=offline)  # type: ignore[attr-defined]
    engine = BlankSpacy()
    registry = RecognizerRegistry()
    registry.load_predefined_recognizers(languages=["en"], nlp_engine=engine)
    for name in _NATIONAL_RECOGNIZERS:
        registry.add_recognizer(getattr(pr, name)(supported_language="en"))
    analyzer = AnalyzerEngine(nlp_engine=engine, registry=registry, supported_languages=["en"])

    def analyze(text: str) -> list[tuple[str, float]]:
        return [(r.entity_type, r.score) for r in analyzer.analyze(text, language="en")]

    return analyze


def presidio_column(
    analyze: Callable[[str], list[tuple[str, float]]], sample: pa.Array
) -> tuple[str, int]:
    """Presidio's class for a column from its sample (see the module docstring)."""
    texts = [str(v) for v in sample.to_pylist()]
    counts: dict[str, int] = {}
    for text in texts:
        mapped = [(s, PRESIDIO_CLASSES[e]) for e, s in analyze(text) if e in PRESIDIO_CLASSES]
        if not mapped:
            continue
        cls = max(mapped)[1]
        if cls == "ip":
            cls = "ipv6" if ":" in text else "ipv4"
        counts[cls] = counts.get(cls, 0) + 1
    if not texts or not counts:
        return NONE, len(texts)
    cls, hits = max(counts.items(), key=lambda kv: kv[1])
    if hits > len(texts) / 2:
        return cls, len(texts)
    prose = sum(1 for t in texts if t.count(" ") >= 3) >= len(texts) / 2
    precise = [c for c in counts if c in PRECISE]
    if prose and precise:
        return max(precise, key=lambda c: counts[c]), len(texts)
    return NONE, len(texts)


def run_ours(columns: Sequence[Column], sample: int, width: int) -> tuple[list[str], int, float]:
    """Our class per column, the values examined and the seconds taken, the split scanned as
    tables of ``width`` columns (``classify_columns``: one detector pass per table), after one
    untimed pass that compiles what detectors compile once (numbering plans)."""
    tables = [columns[i : i + width] for i in range(0, len(columns), width)]

    def scan() -> list[str]:
        return [
            f.pii_class
            for t in tables
            for f in classify_columns([(c.name, c.values) for c in t], sample_rows=sample)
        ]

    scan()
    start = time.perf_counter()
    predicted = scan()
    took = time.perf_counter() - start
    examined = sum(len(sample_values(col.values, sample, 0)) for col in columns)
    return predicted, examined, took


def run_presidio(
    analyze: Callable[[str], list[tuple[str, float]]], columns: Sequence[Column], sample: int
) -> tuple[list[str], int, float]:
    samples = [sample_values(col.values, sample, 0) for col in columns]
    for s in samples[:20]:  # warm-up, untimed
        presidio_column(analyze, s[:10])
    predicted, examined = [], 0
    start = time.perf_counter()
    for s in samples:
        cls, n = presidio_column(analyze, s)
        predicted.append(cls)
        examined += n
    return predicted, examined, time.perf_counter() - start


def table(title: str, scores: Scores) -> None:
    print(f"  {title}: macro F1 {scores.macro_f1:.3f}")
    print(f"  {'class':<16} {'P':>6} {'R':>6} {'F1':>6} {'cols':>5}")
    for cls in (*CLASSES, NONE):
        p, r, f1, n = scores.per_class[cls]
        print(f"  {cls:<16} {p:6.3f} {r:6.3f} {f1:6.3f} {n:5d}")


def errors(columns: Sequence[Column], predicted: Sequence[str], limit: int) -> None:
    wrong = [(c, p) for c, p in zip(columns, predicted, strict=True) if c.label != p]
    for col, p in wrong[:limit]:
        shown = [v for v in col.values.drop_null().to_pylist()[:3]]
        print(f"    {col.kind:<22} {col.naming:<10} {col.name!r:<24} {col.label} -> {p}  {shown}")
    if len(wrong) > limit:
        print(f"    ... {len(wrong) - limit} more")


def sweep(columns: Sequence[Column]) -> None:
    """Ours only: values/s against table width (columns per classify call) and sample size,
    the two things that spread Arrow's per-call pattern compilation over more values."""
    print("\n== ours on the test split: values/s by columns per call and sample size")
    for sample in (300, 2000):
        cells = []
        for width in (1, 20, 100, len(columns)):
            _, n, took = run_ours(columns, sample, width)
            cells.append(f"{width} cols: {n / took:,.0f}")
        print(f"  sample {sample:>5}: " + " | ".join(cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--columns", type=int, default=300, help="columns per split")
    parser.add_argument("--sample", type=int, default=300, help="values sampled per column")
    parser.add_argument("--width", type=int, default=20, help="columns per table scanned")
    parser.add_argument("--no-sweep", dest="sweep", action="store_false", help="skip the sweep")
    parser.add_argument("--no-presidio", action="store_true", help="only ours")
    parser.add_argument("--errors", type=int, default=15, help="misclassified columns to list")
    parser.add_argument(
        "--batch-rows",
        type=int,
        default=10_000,
        help="rows per column of the batch-shape speed table (0: skip it)",
    )
    args = parser.parse_args()

    print(one_core())
    analyze = None if args.no_presidio else presidio_analyzer()
    if analyze is None and not args.no_presidio:
        print(
            "presidio-analyzer, spacy or faker missing: pip install -r "
            "benchmarks/requirements-pii.txt in a separate venv (see this file's docstring)"
        )
        sys.exit(2)
    result: dict[str, Any] = {}
    for split, seed in SEEDS.items():
        columns = make_split(seed, args.columns)
        labels = [c.label for c in columns]
        print(
            f"\n== {split} split (seed {seed}): {len(columns)} columns, "
            f"{sum(len(c.values) for c in columns):,} values, sample {args.sample}"
        )
        ours, n_ours, t_ours = run_ours(columns, args.sample, args.width)
        s_ours = score(labels, ours)
        table("ours", s_ours)
        errors(columns, ours, args.errors)
        rate = n_ours / t_ours
        print(f"  ours: {n_ours:,} values in {t_ours:.3f} s = {rate:,.0f} values/s")
        result[split] = {"f1": s_ours.macro_f1, "rate": rate}
        if analyze is not None:
            theirs, n_theirs, t_theirs = run_presidio(analyze, columns, args.sample)
            s_theirs = score(labels, theirs)
            table("presidio", s_theirs)
            p_rate = n_theirs / t_theirs
            print(f"  presidio: {n_theirs:,} values in {t_theirs:.1f} s = {p_rate:,.0f} values/s")
            print(f"  ours / presidio speed: {rate / p_rate:,.1f}x")
            result[split].update(p_f1=s_theirs.macro_f1, p_rate=p_rate)
    if args.sweep:
        sweep(make_split(SEEDS["test"], args.columns))
    test = result["test"]
    speed = test
    if args.batch_rows:
        speed = batch_speed(analyze, args.batch_rows)
    line = f"RESULT pii_macro_f1={test['f1']:.3f} pii_rows_s={speed['rate']:.0f}"
    if "p_f1" in test:
        line += (
            f" presidio_macro_f1={test['p_f1']:.3f}"
            f" pii_vs_presidio_speed={speed['rate'] / speed['p_rate']:.1f}"
        )
    print(line)


def batch_speed(
    analyze: Callable[[str], list[tuple[str, float]]] | None, rows: int
) -> dict[str, float]:
    """Speed at the shape ingest classifies: one batch of 20 columns of ``rows`` rows, sampled
    at the default ``pii.sample_rows`` (10,000) and classified in one call, as every batch is.
    Presidio examines the very same sampled values. The splits above use small samples so that
    presidio finishes; there Arrow's per-call pattern compilation, not scanning, is most of
    our cost (see the sweep), which a real batch spreads over 20x more values."""
    columns = make_split(BATCH_SEED, 20, rows=rows)
    print(f"\n== batch shape (seed {BATCH_SEED}): 20 columns x {rows:,} rows, sample_rows 10,000")
    _, n_ours, t_ours = run_ours(columns, 10_000, len(columns))
    rate = n_ours / t_ours
    print(f"  ours: {n_ours:,} values in {t_ours:.3f} s = {rate:,.0f} values/s")
    out = {"rate": rate}
    if analyze is not None:
        _, n_theirs, t_theirs = run_presidio(analyze, columns, 10_000)
        p_rate = n_theirs / t_theirs
        print(f"  presidio: {n_theirs:,} values in {t_theirs:.1f} s = {p_rate:,.0f} values/s")
        print(f"  ours / presidio speed: {rate / p_rate:,.1f}x")
        out["p_rate"] = p_rate
    return out


if __name__ == "__main__":
    main()
