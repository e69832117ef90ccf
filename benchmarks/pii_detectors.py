"""PII detectors: values per second, per detector and for the whole registry, on one core.

What it measures. 100k values (``--values``) drawn at random from a mix that looks like a lake's
string columns: every PII class the detectors know (emails, phones in all forms, cards, IBANs,
SSNs, national ids, IPs, MACs, dates, coordinates, keys and tokens) and as many hard negatives
(UUIDs, order ids, hashes, prices, versions, timestamps, free text, numbers), each value unique
where the kind allows (a column sample rarely repeats a phone), with nulls. Each detector runs
``detect`` over the whole array; the registry line runs all of them, in turn, as a classifier
does for one column sample. Medians over ``--repeat`` runs, after one warm-up run (the phone
numbering plans compile on first use and are cached for the process).

Run:  .venv/bin/python benchmarks/pii_detectors.py [--values 100000] [--repeat 5]
Pin to one core with ``taskset -c 0``. The last line is
``RESULT pii_detectors_values_s=<all detectors> pii_detectors_slowest=<name>:<values/s>``.
Target: >= 200k values/s for the whole registry.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import statistics
import string
import time
import uuid

import pyarrow as pa

from thermocline.quality.pii import DETECTORS, detect


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choices(string.digits, k=n))


def _luhn_complete(prefix: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(prefix + "0")):
        d = int(ch)
        total += (d * 2 - 9 if d * 2 > 9 else d * 2) if i % 2 else d
    return prefix + str((10 - total % 10) % 10)


def _mix(rng: random.Random) -> list:  # type: ignore[type-arg]
    words = [
        "the",
        "order",
        "was",
        "shipped",
        "to",
        "our",
        "customer",
        "on",
        "time",
        "and",
        "paid",
        "in",
        "full",
        "today",
    ]
    kinds = [
        lambda: f"{rng.choice(words)}.{_digits(rng, 4)}@example{rng.randint(1, 99)}.com",
        lambda: f"+44 20 {_digits(rng, 4)} {_digits(rng, 4)}",
        lambda: f"+1 ({rng.randint(201, 989)}) {rng.randint(201, 989)}-{_digits(rng, 4)}",
        lambda: f"0{rng.randint(20, 89)} {_digits(rng, 4)} {_digits(rng, 4)}",
        lambda: f"+{rng.choice([33, 49, 91, 81, 61, 55])} {_digits(rng, 3)} {_digits(rng, 6)}",
        lambda: _luhn_complete("4" + _digits(rng, 14)),
        lambda: "GB82WEST12345698765432",
        lambda: f"{rng.randint(1, 665):03d}-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}",
        lambda: rng.choice(["AB 12 34 56 C", "RCCMNL83S18D969H", "54362315K", "390.533.447-05"]),
        lambda: f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
        lambda: f"2001:db8::{rng.randint(1, 65535):x}",
        lambda: ":".join(f"{rng.randint(0, 255):02x}" for _ in range(6)),
        lambda: f"{rng.randint(1950, 2010)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
        lambda: f"{rng.uniform(-90, 90):.5f}, {rng.uniform(-180, 180):.5f}",
        lambda: "AKIA" + "".join(rng.choices(string.ascii_uppercase + string.digits, k=16)),
        lambda: "".join(rng.choices(string.ascii_letters + string.digits, k=32)),
        # hard negatives
        lambda: str(uuid.UUID(int=rng.getrandbits(128))),
        lambda: f"ORD-{rng.randint(2015, 2025)}-{_digits(rng, 6)}",
        lambda: hashlib.sha256(rng.randbytes(8)).hexdigest(),
        lambda: hashlib.md5(rng.randbytes(8)).hexdigest(),
        lambda: f"{rng.randint(1, 999)}.{rng.randint(0, 99):02d}",
        lambda: (
            f"{rng.randint(1, 9)}.{rng.randint(0, 20)}.{rng.randint(0, 99)}.{rng.randint(0, 999)}"
        ),
        lambda: f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T08:15:30.123456+00:00",
        lambda: " ".join(rng.choices(words, k=rng.randint(4, 14))),
        lambda: _digits(rng, 16),
        lambda: None,
    ]
    return [rng.choice(kinds)() for _ in range(1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--values", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    rng = random.Random(14)
    values = pa.array([_mix(rng)[0] for _ in range(args.values)], pa.string())
    for det in DETECTORS.values():  # warm-up: plans compile, caches fill
        detect(det, values)
    print(f"{args.values} values, {values.null_count} null; medians of {args.repeat} runs")
    rates: dict[str, float] = {}
    for name, det in DETECTORS.items():
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            hits = detect(det, values)
            times.append(time.perf_counter() - start)
        rates[name] = args.values / statistics.median(times)
        found = hits.true_count
        print(f"  {name:16s} {rates[name]:>12,.0f} values/s   {found:>6} matched")
    times = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        for det in DETECTORS.values():
            detect(det, values)
        times.append(time.perf_counter() - start)
    total = args.values / statistics.median(times)
    print(f"  {'all detectors':16s} {total:>12,.0f} values/s")
    slowest = min(rates, key=rates.__getitem__)
    print(
        f"RESULT pii_detectors_values_s={total:.0f} "
        f"pii_detectors_slowest={slowest}:{rates[slowest]:.0f}"
    )


if __name__ == "__main__":
    main()
