"""The person-name detector: name-shaped words confirmed by lexicons of given names and surnames.

No pattern tells ``Maria Lopez`` from ``Apple Watch``, and no NER model can be loaded here, so:

1. **Shape** (RE2): two to six capitalised words (``Anna``, ``ANNA``, ``O'Brien``, ``Hans-Peter``,
   initials ``J.``), lower-case particles between them (``van der``, ``de la``, ``von``), or the
   whole value as ``Surname, Given``.
2. **Words** (vectorized): each word is folded (accents dropped, upper case) and looked up in
   the shipped lexicons (:mod:`~thermocline.quality.pii.lexicon`): ~46k given names (US SSA
   baby names and international registers) and ~162k surnames (US Census 2010), plus small
   hand lists here: titles, suffixes, particles, and words that mark a street, a company, a
   place or a product (``Street``, ``GmbH``, ``Lake``, ``Watch``).
3. **Rule** per candidate: no marker word; one or more given names (or an initial and a known
   surname); at least two name words, of which at most one unknown (rare surnames are often
   missing from the lists) and only next to a given name.

Example::

    >>> import pyarrow as pa
    >>> from thermocline.quality.pii.detectors import detect
    >>> values = pa.array(["Dr. Anna-Lena Müller", "Apple Watch", "Main Street"])
    >>> detect(PERSON_NAME, values).to_pylist()
    [True, False, False]
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from thermocline.quality.pii.detector import Detector
from thermocline.quality.pii.lexicon import (
    LETTER,
    LOWER,
    UPPER,
    Lexicon,
    fold,
    merge,
    packaged_words,
    tokens,
)

__all__ = ["PERSON_NAME", "validate_person_name"]

GIVEN, SURNAME, PARTICLE, TITLE, SUFFIX, MARKER, PLACE_FIRST, PLACE_LAST = (
    1,
    2,
    4,
    8,
    16,
    32,
    64,
    128,
)

_PARTICLES = (
    "VAN VON DER DEN DE DEL DELLA DELLE DEGLI DI DA DAL DOS DAS DO DU LA LE LES ZU ZUR TEN TER "
    "BIN BINT BEN AL EL Y E ST"
)
_TITLES = (
    "MR MRS MS MISS MX DR PROF SIR DAME LORD LADY REV FR HERR FRAU MME MLLE SRA SRTA DONA "
    "DOTT DOTTSSA SIG SIGRA ING DIPL MAG"
)
_SUFFIXES = "JR SR II III IV PHD MD DDS DVM ESQ BSC MSC BA MA MBA RN CPA BENG MENG"
# Words that make a run of capitalised words a company, an organisation, a job, a product or
# a date rather than a person, wherever they stand.
_MARKERS = (
    "INC CORP CORPORATION CO COMPANY LLC LLP LTD LIMITED PLC GMBH AG KG KGAA OHG SE SA SAS SARL "
    "SPA SRL BV NV AB OY GROUP HOLDINGS HOLDING PARTNERS ASSOCIATES SONS BROTHERS BROS "
    "INDUSTRIES INTERNATIONAL GLOBAL SOLUTIONS SERVICES SYSTEMS TECHNOLOGIES TECHNOLOGY LABS "
    "BANK TRUST FUND FOUNDATION STIFTUNG UNIVERSITY COLLEGE SCHOOL ACADEMY INSTITUTE HOSPITAL "
    "CLINIC HOTEL RESTAURANT CAFE CLUB MINISTRY DEPARTMENT OFFICE COUNCIL AGENCY COMMITTEE "
    "ASSOCIATION SOCIETY UNION TEAM STORE SHOP MOTORS AIRLINES AIRWAYS GBR EV EG UG FILS SOHN "
    "SOEHNE SOHNE HIJOS FIGLI ZONEN SL SLU SLNE SAT SCOOP SCP SCOM COOP SNC SCS EURL EIRL SASU "
    "APT APARTMENT SUITE UNIT FLAT STUDIO BOX APO DPO FPO PSC FLOOR "
    "CHIEF EXECUTIVE OFFICER MANAGER DIRECTOR ENGINEER ASSISTANT ANALYST CONSULTANT DEVELOPER "
    "DESIGNER SPECIALIST COORDINATOR ADMINISTRATOR TECHNICIAN SUPERVISOR PRESIDENT SECRETARY "
    "SENIOR JUNIOR "
    "WATCH PHONE PRO MAX PLUS MINI ULTRA EDITION SERIES MODEL VERSION RELEASE UPDATE ORDER "
    "INVOICE TOTAL PAYMENT ACCOUNT REPORT STATUS ERROR WARNING INFO DEBUG "
    "MONDAY TUESDAY WEDNESDAY THURSDAY FRIDAY SATURDAY SUNDAY JANUARY FEBRUARY SEPTEMBER "
    "OCTOBER NOVEMBER DECEMBER "
    "THE AND OF FOR WITH FROM TO IN ON AT BY OR NOT NO YES"
)
# First words of place names ("New Kimberly", "Lake Amanda", "West Virginia", "San Diego").
_PLACE_FIRST = (
    "NEW NORTH SOUTH EAST WEST OLD UPPER LOWER GREAT LITTLE SAN SANTA SANTO SAO LOS LAS LA "
    "SAINT FORT PORT LAKE MOUNT MT CAPE GRAND"
)
# Last words of street and place names ("Johnson Ridge", "Main Street", "Orange County"), save
# those that are also common surnames (Hall, Hill, Green, Wood, Ford, Lane, Park, Wells...).
_PLACE_LAST = (
    "STREET STREETS ROAD ROADS AVENUE AVE BOULEVARD BLVD DRIVE WAY WAYS COURT COURTS PLACE "
    "SQUARE SQUARES TERRACE CRESCENT CLOSE GARDEN GARDENS PARKWAY HIGHWAY CIRCLE CIRCLES TRAIL "
    "ALLEY MEWS VIEW VIEWS LOOP PATH PIKE PLAZA EXPRESSWAY FREEWAY PASS POINT POINTS RUN BEND "
    "CROSSING RIDGE RIDGES HOLLOW HEIGHTS JUNCTION JUNCTIONS LANDING MEADOW MEADOWS ESTATE "
    "ESTATES STATION CAUSEWAY ESPLANADE PARADE QUAY WHARF TURNPIKE CENTER CENTERS CENTRE "
    "COMMON COMMONS COVE COVES CREEK FORK FORKS GLEN GLENS HARBOR HARBORS HARBOUR HAVEN ISLE "
    "KNOLL KNOLLS LAKE LAKES MANOR MANORS MISSION MOTORWAY MOUNTAIN MOUNTAINS ORCHARD OVAL "
    "PINES PORT PORTS PRAIRIE RANCH RAMP RAPID RAPIDS RIVER ROUTE SHORE SHORES SKYWAY SPRING "
    "SPRINGS SPUR SPURS SUMMIT TRACE TRACK TUNNEL UNIONS VALLEY VALLEYS VIADUCT VILLAGE "
    "VILLAGES VILLE VISTA WALK WALKS WALL BLUFF BLUFFS BOTTOM BRANCH BRIDGE BRIDGES BURG BURGS "
    "BYPASS CAMP CANYON CAPE CLIFF CLIFFS CORNER CORNERS COURSE CREST CURVE DALE DAM DIVIDE "
    "EXTENSION EXTENSIONS FALL FALLS FERRY FLAT FLATS FORD FORDS FOREST FORGE FORGES FORT "
    "FREEWAY GATEWAY GREENS GROVE GROVES HILLS INLET ISLAND ISLANDS JUNCTION KEYS LAND LIGHT "
    "LIGHTS LOAF LOCK LOCKS LODGE MALL MILL MILLS NECK OVERPASS PASSAGE PLAIN PLAINS RADIAL REST "
    "ROW RUE SHOAL SHOALS STRAVENUE STREAM THROUGHWAY TRAFFICWAY TRAILER UNDERPASS "
    "CITY TOWN TOWNSHIP VILLAGE COUNTY STATE STATES KINGDOM REPUBLIC PROVINCE DISTRICT BEACH "
    "BAY BOROUGH BOROUGHS "
    "STRASSE STR WEG GASSE PLATZ ALLEE STRAAT LAAN PLEIN"
)


@cache
def _lexicon() -> Lexicon:
    return Lexicon.from_words(
        merge(
            [
                (packaged_words("given_names"), GIVEN),
                (packaged_words("surnames"), SURNAME),
                (_PARTICLES.split(), PARTICLE),
                (_TITLES.split(), TITLE),
                (_SUFFIXES.split(), SUFFIX),
                (_MARKERS.split(), MARKER),
                (_PLACE_FIRST.split(), PLACE_FIRST),
                (_PLACE_LAST.split(), PLACE_LAST),
            ]
        )
    )


def _count(parents: np.ndarray, mask: np.ndarray, n: int) -> np.ndarray:
    return np.bincount(parents[mask], minlength=n)


def validate_person_name(candidates: pa.StringArray) -> pa.BooleanArray:
    """Judge name-shaped candidates (see the module docstring for the rule), one per value."""
    n = len(candidates)
    if n == 0:
        return pa.array([], pa.bool_())
    raw, owner = tokens(candidates, r"[\s,]+")
    words = fold(raw)
    lower = pc.match_substring_regex(raw, pattern=rf"^[^{UPPER}]").to_numpy(zero_copy_only=False)
    # Hyphenated words are looked up part by part; a word takes the bits of all its parts.
    parts, part_owner = tokens(words, r"[^A-Z]+")
    lexicon = _lexicon()
    # ...and as a whole without dots or hyphens ("S.A.", "Ph.D."); only the whole word can be
    # a title, particle or marker (the "E" of "e.V." is no particle).
    bits = lexicon.flags(pc.replace_substring_regex(words, pattern=r"[^A-Z]+", replacement=""))
    name_bits = np.zeros(len(words), dtype=np.uint8)
    np.bitwise_or.at(name_bits, part_owner, lexicon.flags(parts) & np.uint8(GIVEN | SURNAME))
    bits |= name_bits
    letters = np.bincount(
        part_owner, weights=pc.binary_length(parts).to_numpy(), minlength=len(words)
    )

    first = np.ones(len(words), dtype=bool)
    first[1:] = owner[1:] != owner[:-1]
    last = np.ones(len(words), dtype=bool)
    last[:-1] = owner[:-1] != owner[1:]
    special = (bits & (PARTICLE | TITLE | SUFFIX)) != 0
    marker = (
        ((bits & MARKER) != 0)
        | (first & ((bits & PLACE_FIRST) != 0))
        | (last & ((bits & PLACE_LAST) != 0))
    ) & ~special  # "Dr." is a title, "St." a particle
    initial = (letters == 1) & ~special & ~lower
    body = ~special & ~marker & ~initial & ~lower & (letters > 0)
    given = body & ((bits & GIVEN) != 0)
    known = body & ((bits & (GIVEN | SURNAME)) != 0)
    surname = body & ((bits & SURNAME) != 0)
    unknown = body & ~known

    n_marker = _count(owner, marker, n)
    n_given = _count(owner, given, n)
    n_known = _count(owner, known, n)
    n_surname = _count(owner, surname, n)
    n_unknown = _count(owner, unknown, n)
    n_initial = _count(owner, initial, n)
    ok = (
        (n_marker == 0)
        & ((n_given >= 1) | ((n_initial >= 1) & (n_surname >= 1)))
        & (n_known + n_initial + n_unknown >= 2)
        & (n_known + n_initial + n_unknown <= 6)
        & ((n_unknown == 0) | ((n_unknown == 1) & (n_given >= 1)))
    )
    return pa.array(ok)


_CAP = rf"[{UPPER}][{LETTER}'\x{{2019}}]*"
_WORD = rf"{_CAP}(?:-{_CAP})*\.?"
_PARTICLE = r"(?:van|von|der|den|de|del|della|di|da|dos|das|du|la|le|zu|ten|ter|bin|y|e)"
_SEP = rf"\s+(?:{_PARTICLE}\s+)*"
# What follows the name, for the validator to see: a lower-case word and the word after it, a
# dotted abbreviation, or "& Word" ("et Fils", "e.V.", "S.A.R.L.", "& Co" make a company). A
# lower-case word otherwise counts for nothing.
_NEXT = (
    rf"(?:\s+[{LOWER}][{LETTER}.]*(?:\s+[{LETTER}][{LETTER}.]*)?"
    rf"|\s+[{UPPER}][{LETTER}]*\.[{LETTER}.]+|\s*&\s*[{LETTER}]+)?"
)
_SUFFIX = r"(?:,\s*(?i:jr|sr|ii|iii|iv|phd|ph\.d|md|dds|dvm|esq|mba|b\.?sc|m\.?sc|b\.?a|m\.?a)\.?)"

PERSON_NAME: Detector = Detector(
    name="person_name",
    pattern=(
        # Not after a house number: "318 Brenda Via" is an address.
        rf"(?:^|(?:^|[^0-9\s])\s+|[^{LETTER}0-9\s'\x{{2019}}.@_-])"
        rf"(?P<value>{_WORD}(?:{_SEP}{_WORD}){{1,5}}{_SUFFIX}?{_NEXT}"
        # "Surname, Given [Middle]" only as the whole rest of the value (a company's
        # "Smith, Johnson and Brown" is no name).
        rf"|{_WORD},\s*{_WORD}(?:\s+{_WORD}){{0,2}}$)"
        rf"(?:$|[^{LETTER}0-9'\x{{2019}}.@_-])"
    ),
    validator=validate_person_name,
    # Most name-shaped words are no names: a second candidate is worth a look (a greeting
    # before the name), further ones cost more than the ~1% of values they would add.
    rounds=2,
    name_hints=(
        "name",
        "fullname",
        "firstname",
        "lastname",
        "givenname",
        "surname",
        "forename",
        "familyname",
        "middlename",
        "maidenname",
        "customer",
        "contact",
        "holder",
        "cardholder",
        "person",
        "recipient",
        "sender",
        "patient",
        "employee",
        "author",
        "owner",
    ),
    description="a person's name (capitalised words confirmed by given-name and surname lists)",
)
