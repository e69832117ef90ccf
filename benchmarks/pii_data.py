"""The labeled synthetic column set for ``benchmarks/pii.py``, and its scorer.

``make_split(seed, columns)`` returns labeled Arrow columns: every PII class of issue #14 (label =
our class name) and hard negatives (label ``none``: UUIDs, order ids, 16-digit numbers failing
Luhn, version strings, prices, timestamps, hashes, free text, enums, counts, non-birth dates,
non-geo floats), with nulls, placeholders (``""``, ``N/A``, ...), padding and case changes, under
helpful, misleading and opaque column names, in small (5 rows) to large (3,000 rows) columns.
The same seed gives the same columns; the benchmark tunes on one seed and reports another.

Faker (several locales) makes names, addresses, text and national ids; ``phonenumbers`` makes
valid phone numbers; ``python-stdnum`` keeps only the national ids that it validates, so a label
is always a real-format id. Without them (the unit-test smoke run) small built-in lists stand in;
the benchmark itself refuses to run without them. Cards, IBANs, SSNs, addresses of machines,
secrets and every negative are generated here, with their checksums computed, not borrowed.

Labels the column names cannot give away: a date column is ``date_of_birth`` only under a birth
name (dob, birth_date, ...), a single float column is ``geo`` only under a lat/lon name, because
nothing in such values says whose birthday or what coordinate they are (issue #14: "date of birth
(by name hint + date values)"). "lat, lon" pairs in text are ``geo`` under any name.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
import string
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

NONE = "none"
CLASSES = (
    "email", "phone", "payment_card", "iban", "us_ssn", "national_id", "ipv4", "ipv6",
    "mac_address", "date_of_birth", "person_name", "street_address", "geo_coordinates", "secret",
)  # fmt: skip
LOCALES = (
    "en_US", "de_DE", "fr_FR", "en_GB", "es_ES", "it_IT", "nl_NL", "pl_PL", "fi_FI", "sv_SE",
)  # fmt: skip


@dataclass(frozen=True)
class Column:
    """One labeled column: ``label`` is a class of :data:`CLASSES` or :data:`NONE`;
    ``kind`` says which generator made it and ``naming`` helpful / misleading / opaque."""

    name: str
    values: pa.Array
    label: str
    kind: str
    naming: str


# --- values ------------------------------------------------------------------------------------


def _luhn_digit(body: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d = d * 2 - 9 if d * 2 > 9 else d * 2
        total += d
    return str((10 - total % 10) % 10)


def _card(r: random.Random) -> str:
    prefix, length = r.choice(
        [("4", 16), ("4", 16), ("51", 16), ("55", 16), ("2221", 16), ("37", 15), ("6011", 16)]
    )
    body = prefix + "".join(r.choice(string.digits) for _ in range(length - len(prefix) - 1))
    number = body + _luhn_digit(body)
    style = r.random()
    if style < 0.4 or length == 15:
        return number
    sep = " " if style < 0.7 else "-"
    return sep.join(number[i : i + 4] for i in range(0, 16, 4))


def _not_luhn16(r: random.Random) -> str:
    body = r.choice("456") + "".join(r.choice(string.digits) for _ in range(14))
    good = int(_luhn_digit(body))
    return body + str((good + r.randint(1, 9)) % 10)


_IBAN_SHAPE = {"DE": "8n10n", "FR": "10n11c2n", "GB": "4a14n", "NL": "4a10n", "ES": "20n",
               "IT": "1a10n12c", "BE": "12n", "CH": "5n12c", "AT": "16n", "PL": "24n"}  # fmt: skip


def _iban(r: random.Random) -> str:
    country = r.choice(sorted(_IBAN_SHAPE))
    bban = ""
    shape = _IBAN_SHAPE[country]
    num = ""
    for ch in shape:
        if ch.isdigit():
            num += ch
            continue
        pool = {"n": string.digits, "a": string.ascii_uppercase}.get(ch, string.digits)
        bban += "".join(r.choice(pool) for _ in range(int(num)))
        num = ""
    moved = bban + country + "00"
    check = 98 - int("".join(str(int(c, 36)) for c in moved)) % 97
    iban = f"{country}{check:02d}{bban}"
    if r.random() < 0.4:
        return " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))
    return iban


def _ssn(r: random.Random) -> str:
    area = r.choice([a for a in range(1, 900) if a != 666])
    return f"{area:03d}-{r.randint(1, 99):02d}-{r.randint(1, 9999):04d}"


def _ipv4(r: random.Random) -> str:
    kind = r.random()
    if kind < 0.3:
        return f"10.{r.randint(0, 255)}.{r.randint(0, 255)}.{r.randint(1, 254)}"
    if kind < 0.5:
        return f"192.168.{r.randint(0, 255)}.{r.randint(1, 254)}"
    return ".".join(str(r.randint(1, 254)) for _ in range(4))


def _ipv6(r: random.Random) -> str:
    words = [f"{r.randint(0, 0xFFFF):x}" for _ in range(8)]
    if r.random() < 0.4:
        return "2001:db8::" + ":".join(words[:2])
    return ":".join(words)


def _mac(r: random.Random) -> str:
    octets = [f"{r.randint(0, 255):02x}" for _ in range(6)]
    style = r.random()
    if style < 0.5:
        return ":".join(octets)
    if style < 0.8:
        return "-".join(octets).upper()
    joined = "".join(octets)
    return ".".join(joined[i : i + 4] for i in range(0, 12, 4))


def _secret(r: random.Random) -> str:
    alnum = string.ascii_letters + string.digits
    kind = r.randrange(5)
    if kind == 0:
        return "AKIA" + "".join(r.choice(string.ascii_uppercase + string.digits) for _ in range(16))
    if kind == 1:
        return "ghp_" + "".join(r.choice(alnum) for _ in range(36))
    if kind == 2:
        return (
            "xoxb-"
            + "-".join("".join(r.choice(string.digits) for _ in range(12)) for _ in "ab")
            + "-"
            + "".join(r.choice(alnum) for _ in range(24))
        )
    if kind == 3:
        return "sk_live_" + "".join(r.choice(alnum) for _ in range(24))
    return "".join(r.choice(alnum + "+/") for _ in range(40))  # an AWS-style secret key


def _dob(r: random.Random) -> dt.date:
    return dt.date(1940, 1, 1) + dt.timedelta(days=r.randint(0, 365 * 65))


def _date_text(r: random.Random, d: dt.date, style: int) -> str:
    return (d.isoformat(), d.strftime("%d/%m/%Y"), d.strftime("%m/%d/%Y"), d.strftime("%d.%m.%Y"))[
        style
    ]


def _geo_pair(r: random.Random) -> str:
    lat, lon = r.uniform(-60, 70), r.uniform(-180, 180)
    return r.choice(["{:.5f},{:.5f}", "{:.4f}, {:.4f}", "({:.6f}, {:.6f})"]).format(lat, lon)


class _Fake:
    """Names, addresses, text, emails and national ids: Faker in several locales when installed,
    otherwise a few built-in values (enough for the unit-test smoke run)."""

    def __init__(self, r: random.Random) -> None:
        self.r = r
        try:
            from faker import Faker
        except ImportError:
            self.fakers: list[Any] = []
        else:
            self.fakers = []
            for loc in LOCALES:
                f = Faker(loc)
                f.seed_instance(r.randrange(2**31))
                self.fakers.append(f)

    def _f(self) -> Any:
        return self.r.choice(self.fakers)

    def name(self) -> str:
        if self.fakers:
            return str(self._f().name())
        first = self.r.choice(["Anna", "Jean", "Maria", "Omar", "Li", "Kofi", "Sven", "Ana"])
        last = self.r.choice(["Schmidt", "Dubois", "Rossi", "Khan", "Chen", "Mensah", "Berg"])
        return f"{first} {last}"

    def address(self) -> str:
        if self.fakers:
            return str(self._f().street_address())
        street = self.r.choice(["Main Street", "Hauptstraße", "rue de la Paix", "Via Roma"])
        return f"{self.r.randint(1, 200)} {street}"

    def sentence(self) -> str:
        if self.fakers:
            return str(self.fakers[0].sentence(nb_words=self.r.randint(5, 14)))
        words = ["the", "order", "shipped", "late", "customer", "asked", "about", "refund"]
        return " ".join(self.r.choice(words) for _ in range(self.r.randint(5, 12))).capitalize()

    def email(self) -> str:
        if self.fakers:
            return str(self._f().email())
        return f"user{self.r.randint(1, 99999)}@example.{self.r.choice(['com', 'org', 'de'])}"

    def national_id(self, scheme: int) -> str | None:
        """A national id of :data:`_NATIONAL_IDS` [scheme] from Faker, one python-stdnum
        validates (None: Faker or stdnum missing, or no valid one in 20 tries)."""
        if not self.fakers:
            return None
        try:
            from stdnum import get_cc_module
        except ImportError:
            return None
        loc, cc, mod, make = _NATIONAL_IDS[scheme]
        f = self.fakers[LOCALES.index(loc)]
        for _ in range(20):
            value = str(getattr(f, make)())
            if get_cc_module(cc, mod).is_valid(value):
                return value
        return None


_NATIONAL_IDS = (
    ("fr_FR", "fr", "nir", "ssn"),
    ("it_IT", "it", "codicefiscale", "ssn"),
    ("nl_NL", "nl", "bsn", "ssn"),
    ("pl_PL", "pl", "pesel", "ssn"),
    ("fi_FI", "fi", "hetu", "ssn"),
    ("sv_SE", "se", "personnummer", "ssn"),
    ("es_ES", "es", "dni", "nif"),
    ("es_ES", "es", "nie", "nie"),
)


def _phone(r: random.Random) -> str | None:
    try:
        import phonenumbers as pn
    except ImportError:
        return f"+1 {r.choice(['415', '212', '646'])} {r.randint(200, 999)} {r.randint(1000, 9999)}"
    region = r.choice(["US", "GB", "DE", "FR", "NL", "ES", "IT", "IN", "BR", "JP", "AU", "CA"])
    kind = r.choice([pn.PhoneNumberType.MOBILE, pn.PhoneNumberType.FIXED_LINE])
    example = pn.example_number_for_type(region, kind)
    if example is None:
        return None
    digits = str(example.national_number)
    for _ in range(30):
        keep = max(1, len(digits) - 6)
        candidate = digits[:keep] + "".join(r.choice(string.digits) for _ in digits[keep:])
        number = pn.parse("+" + str(example.country_code) + candidate)
        if pn.is_valid_number(number):
            style = r.random()
            if style < 0.45:
                fmt = pn.PhoneNumberFormat.INTERNATIONAL
            elif style < 0.8 or region != "US":
                fmt = pn.PhoneNumberFormat.E164
            else:
                fmt = pn.PhoneNumberFormat.NATIONAL
            return pn.format_number(number, fmt)
    return None


# --- columns -----------------------------------------------------------------------------------

Maker = Callable[[random.Random, _Fake], Any]


@dataclass(frozen=True)
class _Recipe:
    kind: str
    label: str
    make: Maker
    helpful: tuple[str, ...]
    misleading: tuple[str, ...] = ()
    type: pa.DataType = pa.string()  # noqa: RUF009 (an immutable Arrow type)
    namings: tuple[str, ...] = ("helpful", "misleading", "opaque")
    dirty: bool = True  # placeholders and padding (string columns only)
    mention: Maker | None = None  # mixed: free text (``make``) with 1-10% rows mentioning PII


def _mention(inner: Callable[[random.Random, _Fake], str | None]) -> Maker:
    """A sentence of free text that mentions one value of a class (for mixed columns)."""

    def make(r: random.Random, fake: _Fake) -> str | None:
        value = inner(r, fake)
        if value is None:
            return None
        words = fake.sentence().split(" ")
        words.insert(
            r.randint(0, len(words)), r.choice(["contact", "call", "ref", "use"]) + " " + value
        )
        return " ".join(words)

    return make


def _national_id(scheme: int) -> Maker:
    return lambda r, fake: fake.national_id(scheme)


def _sentence(r: random.Random, fake: _Fake) -> str:
    return fake.sentence()


def _r(f: Callable[[random.Random], Any]) -> Maker:
    return lambda r, _fake: f(r)


def _card_int(r: random.Random) -> int:
    return int(_card(r).replace(" ", "").replace("-", ""))


def _order_id(r: random.Random) -> str:
    return f"ORD-{r.randint(2019, 2025)}-{r.randint(0, 999999):06d}"


def _version(r: random.Random) -> str:
    return f"{r.randint(0, 12)}.{r.randint(0, 30)}.{r.randint(0, 40)}.{r.randint(0, 60)}"


def _price(r: random.Random) -> str:
    return r.choice(["${:,.2f}", "{:.2f}", "{:.2f} EUR", "€{:.2f}"]).format(r.uniform(0.5, 5000))


def _moment(r: random.Random) -> dt.datetime:
    return dt.datetime(2020, 1, 1) + dt.timedelta(seconds=r.randint(0, 10**8))


def _hash(r: random.Random) -> str:
    algo = r.choice(["md5", "sha1", "sha256"])
    return hashlib.new(algo, str(r.random()).encode()).hexdigest()


def _sku(r: random.Random) -> str:
    return "SKU-" + "".join(r.choice(string.ascii_uppercase + string.digits) for _ in range(8))


_GENERIC_MISLEADING = ("notes", "reference", "value", "code", "customer_id", "status", "label")
_DOB_NAMES = ("dob", "date_of_birth", "birth_date", "birthdate", "birthday", "DateOfBirth")
_MIXED_NAMES = ("comment", "notes", "message", "support_ticket_body", "free_text")


def _dob_text(r: random.Random, _fake: _Fake) -> str:
    return _date_text(r, _dob(r), r.randrange(4))


RECIPES: tuple[_Recipe, ...] = (
    _Recipe("email", "email", lambda r, f: f.email(),
            ("email", "customer_email", "EmailAddress", "e_mail", "contact_email"),
            ("phone", "customer_id", "username", "notes")),
    _Recipe("phone", "phone", _r(_phone),
            ("phone", "phone_number", "mobile", "contact_phone", "tel"),
            ("fax_ref", "account", "serial", "code")),
    _Recipe("card", "payment_card", _r(_card), ("card_number", "cc_num", "pan", "credit_card"),
            ("order_number", "reference", "ssn", "tracking")),
    _Recipe("card_int", "payment_card", _r(_card_int),
            ("card_number", "ccnum", "pan"), type=pa.int64(), namings=("helpful", "opaque")),
    _Recipe("iban", "iban", _r(_iban), ("iban", "bank_iban", "payout_iban"),
            ("account_ref", "code", "payment_id")),
    _Recipe("ssn", "us_ssn", _r(_ssn), ("ssn", "social_security_number", "customer_ssn"),
            ("phone", "employee_code", "ref")),
    *(
        _Recipe(f"national_id_{_NATIONAL_IDS[i][2]}", "national_id", _national_id(i),
                ("national_id", "tax_id", "personal_id", "id_number", "nin"),
                ("ref_code", "customer_id", "serial"))
        for i in range(len(_NATIONAL_IDS))
    ),
    _Recipe("ipv4", "ipv4", _r(_ipv4), ("ip", "client_ip", "ip_address", "remote_addr"),
            ("host", "version", "source")),
    _Recipe("ipv6", "ipv6", _r(_ipv6), ("ipv6", "client_ip", "ip_addr"), ("mac", "host", "key")),
    _Recipe("mac", "mac_address", _r(_mac), ("mac", "mac_address", "device_mac", "bssid"),
            ("ipv6", "device_id", "serial")),
    _Recipe("dob_text", "date_of_birth", _dob_text, _DOB_NAMES, namings=("helpful",)),
    _Recipe("dob_date", "date_of_birth", _r(_dob), _DOB_NAMES, type=pa.date32(),
            namings=("helpful",), dirty=False),
    _Recipe("dob_ts", "date_of_birth",
            _r(lambda r: dt.datetime.combine(_dob(r), dt.time())),
            _DOB_NAMES, type=pa.timestamp("us"), namings=("helpful",), dirty=False),
    _Recipe("name", "person_name", lambda r, f: f.name(),
            ("name", "full_name", "customer_name", "contact_name", "passenger"),
            ("company", "city", "product", "title")),
    _Recipe("address", "street_address", lambda r, f: f.address(),
            ("address", "street_address", "billing_address", "addr_line1", "street"),
            ("location_code", "notes", "name")),
    _Recipe("geo_pair", "geo_coordinates", _r(_geo_pair),
            ("location", "coords", "latlon", "position", "geo"),
            ("version", "range", "score")),
    _Recipe("geo_lat", "geo_coordinates", _r(lambda r: round(r.uniform(-60, 70), 6)),
            ("lat", "latitude", "pickup_lat"), type=pa.float64(), namings=("helpful",)),
    _Recipe("geo_lon", "geo_coordinates", _r(lambda r: round(r.uniform(-180, 180), 6)),
            ("lon", "lng", "longitude", "dropoff_lon"), type=pa.float64(), namings=("helpful",)),
    _Recipe("secret", "secret", _r(_secret),
            ("api_key", "token", "secret", "aws_secret_access_key", "access_key"),
            ("checksum", "session_id", "code")),
    # PII in some rows of free text: the class of the value it mentions, reported as mixed.
    _Recipe("mixed_email", "email", _sentence, _MIXED_NAMES, namings=("helpful",),
            mention=_mention(lambda r, f: f.email())),
    _Recipe("mixed_phone", "phone", _sentence, _MIXED_NAMES, namings=("helpful",),
            mention=_mention(lambda r, f: _phone(r))),
    _Recipe("mixed_card", "payment_card", _sentence, _MIXED_NAMES, namings=("helpful",),
            mention=_mention(_r(_card))),
    _Recipe("mixed_ssn", "us_ssn", _sentence, _MIXED_NAMES, namings=("helpful",),
            mention=_mention(_r(_ssn))),
    _Recipe("mixed_iban", "iban", _sentence, _MIXED_NAMES, namings=("helpful",),
            mention=_mention(_r(_iban))),
    # Hard negatives: label none. Misleading names here are PII names on non-PII values.
    _Recipe("uuid", NONE, _r(lambda r: str(uuid.UUID(int=r.getrandbits(128), version=4))),
            ("request_id", "uuid", "trace_id"), ("email_id", "card_token", "user_ssn_ref")),
    _Recipe("order_id", NONE, _r(_order_id),
            ("order_id", "order_ref"), ("card_ref", "phone_ref")),
    _Recipe("order_int", NONE, _r(lambda r: r.randint(10**9, 10**12)), ("order_id", "invoice_no"),
            ("phone", "card"), type=pa.int64()),
    _Recipe("not_luhn", NONE, _r(_not_luhn16), ("tracking_number", "parcel_id"),
            ("card_number", "cc")),
    _Recipe("not_luhn_int", NONE, _r(lambda r: int(_not_luhn16(r))), ("tracking_number",),
            ("card_number", "pan"), type=pa.int64()),
    _Recipe("version", NONE,
            _r(_version),
            ("app_version", "build", "firmware"), ("ip", "client_addr")),
    _Recipe("price", NONE,
            _r(_price),
            ("price", "amount", "total"), ("card_amount", "iban_fee")),
    _Recipe("price_float", NONE, _r(lambda r: round(r.uniform(0.5, 500), 2)), ("price", "amount"),
            ("lat", "longitude"), type=pa.float64()),
    _Recipe("timestamp", NONE,
            _r(lambda r: _moment(r).isoformat() + "Z"),
            ("created_at", "event_time", "updated_at"), ("phone_verified_at", "ip_seen_at")),
    _Recipe("timestamp_typed", NONE,
            _r(_moment),
            ("created_at", "ts"), ("last_login_ip_at",), type=pa.timestamp("us"), dirty=False),
    _Recipe("date", NONE, _r(lambda r: _date_text(r, _dob(r), r.randrange(4))),
            ("order_date", "ship_date", "signup_date"), ("email_sent_on", "card_expiry")),
    _Recipe("date_typed", NONE, _r(_dob), ("order_date", "valid_from"), ("phone_activated",),
            type=pa.date32(), dirty=False),
    _Recipe("hash", NONE,
            _r(_hash),
            ("sha256", "checksum", "content_hash"), ("email_hash", "password", "token_hash")),
    _Recipe("text", NONE, lambda r, f: f.sentence(), ("comment", "description", "message"),
            ("address_notes", "name_comment")),
    _Recipe("enum", NONE, _r(lambda r: r.choice(["VISA", "MASTERCARD", "AMEX", "PAYPAL", "IBAN"])),
            ("payment_method",), ("card", "iban")),
    _Recipe("country", NONE, _r(lambda r: r.choice(["DE", "FR", "US", "GB", "NL", "ES", "IT"])),
            ("country", "country_code"), ("address", "location")),
    _Recipe("count", NONE, _r(lambda r: r.randint(0, 500)), ("clicks", "quantity"),
            ("email_count", "phone_calls"), type=pa.int64()),
    _Recipe("measure", NONE, _r(lambda r: round(r.uniform(-500, 1500), 3)),
            ("latency_ms", "temperature"), ("lat_offset", "lng_score"), type=pa.float64()),
    _Recipe("sku", NONE,
            _r(_sku),
            ("sku", "product_code"), ("iban_ref", "secret_code")),
)  # fmt: skip

_OPAQUE = ("col_{}", "f{}", "attr_{}", "c{}", "field_{}", "x{}", "v{}")
_PLACEHOLDERS = ("", "N/A", "unknown", "-", "null", "???", "  ")
_ROWS = (5, 30, 200, 1000, 3000)


def make_split(
    seed: int, columns: int = 300, negatives: float = 0.4, rows: int | None = None
) -> list[Column]:
    """``columns`` labeled columns from ``seed``: the PII classes in turn (each about equally
    often, a random recipe of the class each time) and ``negatives`` of them hard negatives;
    each column with its own size (``rows`` each when given), nulls, dirt and naming."""
    r = random.Random(seed)
    fake = _Fake(r)
    by_label: dict[str, list[_Recipe]] = {}
    for recipe in RECIPES:
        by_label.setdefault(recipe.label, []).append(recipe)
    per_round = round(len(CLASSES) * negatives / (1 - negatives))
    order: list[str] = []
    while len(order) < columns:
        batch = [*CLASSES, *[NONE] * per_round]
        r.shuffle(batch)
        order.extend(batch)
    out: list[Column] = []
    for i, label in enumerate(order[:columns]):
        recipe = r.choice(by_label[label])
        values = _values(r, fake, recipe, rows)
        while values is None:  # a generator that cannot run here (no Faker): another recipe
            recipe = r.choice(RECIPES)
            values = _values(r, fake, recipe, rows)
        naming = r.choice(recipe.namings if recipe.misleading else ("helpful", "opaque"))
        if naming not in recipe.namings:
            naming = recipe.namings[0]
        if naming == "helpful":
            name = r.choice(recipe.helpful)
        elif naming == "misleading":
            name = r.choice(recipe.misleading + _GENERIC_MISLEADING[:2])
        else:
            name = r.choice(_OPAQUE).format(i)
        out.append(Column(name, values, recipe.label, recipe.kind, naming))
    return out


def _values(
    r: random.Random, fake: _Fake, recipe: _Recipe, rows: int | None = None
) -> pa.Array | None:
    rows = rows or r.choice(_ROWS[2:] if recipe.mention else _ROWS)
    null_rate = r.choice((0.0, 0.0, 0.05, 0.3))
    dirt = r.choice((0.0, 0.02, 0.08)) if recipe.dirty and recipe.type == pa.string() else 0.0
    if recipe.make(r, fake) is None:
        return None
    values: list[Any] = []
    while not any(v is not None and v not in _PLACEHOLDERS for v in values):
        values = [_value(r, fake, recipe, null_rate, dirt) for _ in range(rows)]
    if recipe.mention is not None:  # 1-10% of the rows (at least one) mention a PII value
        rows_with = r.sample(range(rows), max(1, round(rows * r.uniform(0.01, 0.1))))
        for row in rows_with:
            values[row] = recipe.mention(r, fake)
    return pa.array(values, recipe.type)


def _value(r: random.Random, fake: _Fake, recipe: _Recipe, null_rate: float, dirt: float) -> Any:
    if r.random() < null_rate:
        return None
    if r.random() < dirt:
        return r.choice(_PLACEHOLDERS)
    value = recipe.make(r, fake)
    if isinstance(value, str) and recipe.dirty:
        if r.random() < 0.05:
            return f" {value} "
        if r.random() < 0.05:
            return value.upper()
    return value


# --- scoring -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scores:
    """Per-class precision, recall, F1 (and support) and the macro F1 over :data:`CLASSES`."""

    per_class: dict[str, tuple[float, float, float, int]]
    macro_f1: float


def score(labels: Sequence[str], predicted: Sequence[str]) -> Scores:
    """Column-level scores: a column counts as right when its predicted class is its label.

    A wrong class counts against the predicted class's precision and the label's recall; a
    class a tool never predicts scores 0 (the macro F1 covers every class, so a tool without a
    recognizer for one is charged for it)."""
    per: dict[str, tuple[float, float, float, int]] = {}
    for cls in (*CLASSES, NONE):
        tp = sum(1 for t, p in zip(labels, predicted, strict=True) if t == cls and p == cls)
        fp = sum(1 for t, p in zip(labels, predicted, strict=True) if t != cls and p == cls)
        fn = sum(1 for t, p in zip(labels, predicted, strict=True) if t == cls and p != cls)
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per[cls] = (precision, recall, f1, tp + fn)
    macro = sum(per[c][2] for c in CLASSES) / len(CLASSES)
    return Scores(per, macro)
