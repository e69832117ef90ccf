"""The street-address detector: a house number next to a street name that carries a street type.

Addresses are written four ways in the locales we read, and the RE2 pattern knows each, with the
street types of each language as its lexicon (USPS Publication 28 suffixes and abbreviations, UK
and Irish street names, the odonyms of German, Dutch, Scandinavian, French, Spanish, Italian and
Portuguese streets):

- number, name, type: ``221B Baker Street``, ``1600 Pennsylvania Ave NW, Apt 4``, ``12 Smith close``
- number, type, name: ``12 rue de la Paix``, ``5 bis, avenue Victor Hugo``
- type, name, number: ``Calle Mayor 3``, ``Via Roma, 12``, ``Rua das Flores, nº 123``
- compound name, number: ``Hauptstraße 5``, ``Berliner Str. 12a``, ``Kerkstraat 7``, ``Am Markt 3``
- and US military mail: ``PSC 5002, Box 9218``

The validator then asks for a house number of at most five digits (only a bare French street,
``rue de la Paix``, may lack one) and at least four letters of street name, so ``3 Rd`` is no
address. A sentence
with a number (``3 items in cart``), a version string or a price has no street type after
capitalised words and never becomes a candidate.

Example::

    >>> import pyarrow as pa
    >>> from thermocline.quality.pii.detectors import detect
    >>> detect(STREET_ADDRESS, pa.array(["221B Baker Street", "3 items in cart"])).to_pylist()
    [True, False]
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from thermocline.quality.pii.detector import Detector
from thermocline.quality.pii.lexicon import LETTER, UPPER

__all__ = ["STREET_ADDRESS", "validate_street_address"]

# English street types after the name: USPS Publication 28 appendix C1 (each also as a plural)
# and its abbreviations, and UK usage.
_EN_TYPES = (
    "street|st|avenue|ave|av|road|rd|boulevard|blvd|lane|ln|drive|dr|drv|way|wy|court|ct|place"
    "|pl|terrace|ter|terr|crescent|cres|close|cl|square|sq|parkway|pkwy|highway|hwy|circle|cir"
    "|trail|trl|alley|aly|row|walk|grove|gr|gardens|gdns|garden|mews|hill|park|green|rise|view"
    "|vale|loop|path|pike|plaza|plz|expressway|expy|freeway|fwy|pass|point|pt|run|bend|crossing"
    "|xing|crossroad|ridge|rdg|hollow|holw|heights|hts|junction|jct|landing|lndg|meadow|mdw"
    "|estate|station|sta|causeway|cswy|esplanade|parade|quay|wharf|wynd|broadway|turnpike|tpke"
    "|center|ctr|centre|common|cmns|cove|cv|creek|crk|fork|frk|glen|gln|harbor|hbr|harbour"
    "|haven|hvn|isle|knoll|knl|lake|lk|manor|mnr|mill|mission|msn|motorway|mount|mt|mountain"
    "|mtn|orchard|orch|oval|pine|port|prt|prairie|pr|ranch|rnch|ramp|rapid|river|rvr|route|rte"
    "|shore|skyway|spring|spur|summit|smt|trace|trce|track|trak|tunnel|tunl|union|un|valley"
    "|vly|viaduct|via|village|vlg|ville|vl|vista|vis|well|brook|brk|burg|bypass|byp|camp|cp"
    "|canyon|cyn|cape|cpe|cliff|clf|club|corner|cor|course|crse|crest|crst|curve|dale|dl|dam"
    "|divide|dv|extension|ext|fall|fls|ferry|fry|field|fld|flat|flt|ford|frd|forest|frst|forge"
    "|frg|fort|ft|gateway|gtwy|grn|hl|inlet|island|is|key|ky|light|lgt|loaf|lock|lck|lodge"
    "|ldg|mall|neck|nck|overpass|opas|passage|psge|plain|pln|radial|radl|rest|shoal|shl"
    "|stravenue|stra|stream|strm|throughway|trafficway|trfy|trailer|underpass|upas|bluff|blf"
    "|bottom|btm|branch|br|bridge|brg|embankment|gate|yard|arcade|approach|chase|drove|fold"
    "|garth|nook|paddock|side|wood|end|market|hall|wall|walkway|rue|land"
)
# Street types written before the name: French (voies), Spanish (INE and Catastro "tipo de
# vía"), Italian (DUG, "denominazione urbanistica generica"), Portuguese and Brazilian (Correios
# "tipo de logradouro"), Catalan.
_ROMANCE_TYPES = (
    "rue|avenue|av\\.?|boulevard|bd|bld|chemin|ch\\.|all[ée]e|impasse|imp\\.?|place|pl\\.|quai"
    "|route|rte|cours|passage|square|voie|sentier|rond-point|esplanade|promenade|faubourg|fg"
    "|villa|cit[ée]|hameau|parvis|mont[ée]e|traverse|calle|c/|c\\.|avenida|avda\\.?|paseo|p[ºo]"
    "|plaza|plazuela|pza\\.?|camino|carrera|cra\\.?|ronda|traves[íi]a|callej[óo]n|glorieta"
    "|pasaje|pasadizo|rambla|cuesta|costanilla|alameda|carretera|ctra\\.?|urbanizaci[óo]n|v[íi]a"
    "|vial|vereda|senda|ca[ñn]ada|acceso|bulevar|pol[íi]gono|partida|barrio|viale|v\\.le|piazza"
    "|p\\.za|piazzale|corso|c\\.so|vicolo|vico|largo|borgo|contrada|strada|stradone|lungomare"
    "|lungotevere|lungarno|salita|discesa|rotonda|fondamenta|canale|stretto|rampa|rua|r\\.|travessa"
    "|tv\\.|pra[çc]a|estrada|rodovia|ladeira|lagoa|lago|praia|quadra|conjunto|ch[áa]cara"
    "|condom[íi]nio|jardim|morro|n[úu]cleo|parque|p[áa]tio|residencial|setor|s[íi]tio|trecho"
    "|trevo|vale|viaduto|vila|fazenda|beco|loteamento|distrito|campo|col[ôo]nia|carrer|passeig|pla[çc]a"
)
# Compound street names (German, Dutch, Scandinavian): the type is the end of the word.
_COMPOUND_TYPES = (
    "stra[ßs]e|strasse|str\\.|weg|gasse|platz|allee|ring|damm|ufer|chaussee|steig|pfad|stieg"
    "|graben|markt|br[üu]cke|zeile|wall|promenade|straat|laan|plein|gracht|dijk|singel|kade"
    "|steeg|pad|hof|dreef|baan|boulevard|plantsoen|erf|wal|park|markt|veld|haven|gatan|v[äa]gen|gata|gade|vej|veien|vei|gaten|tie|katu"
)
# "Am Markt 3", "An der Kirche 7": German streets named by a preposition and a noun.
_DE_PREPOSITIONS = (
    "am|an der|an den|auf der|auf dem|im|in der|in den|zum|zur|unter den|hinter der|vor dem"
    "|bei der|beim|alte|alter|neue|neuer|op de|op het|aan de|aan het|in de|in het"
)

_CAP = rf"[{UPPER}][{LETTER}'\x{{2019}}.-]*"
_NAMEWORD = rf"(?:{_CAP}|[0-9]{{1,3}}(?i:st|nd|rd|th)|[NSEW]\.?)"
_HOUSE = r"[0-9]{1,5}[A-Za-z]?(?:\s?[-/]\s?[0-9]{1,4}[A-Za-z]?)?"
_LINK = (
    r"(?:(?i:de|del|de la|de las|de los|des|du|de l'|d'|di|della|delle|degli|da|das|do|dos"
    r"|la|le|les|el|y|i|e|dels|von|der)\s+)"
)
_TAIL = rf"(?:$|[^{LETTER}0-9])"

_UNIT = r"(?i:flat|studio|apartment|apt\.?|unit|suite|ste\.?|room)\s+[0-9]{1,5}[A-Za-z]?"
_EN = rf"(?:{_HOUSE}|{_UNIT}),?\s+(?:{_NAMEWORD}\s+){{1,4}}(?i:(?:{_EN_TYPES})s?)\.?{_TAIL}"
# US military mail (USPS): "PSC 5002, Box 9218", "Unit 2157 Box 0433".
_MILITARY = r"(?:PSC|CMR|Unit)\s+[0-9]{1,5},?\s+Box\s+[0-9]{1,5}"
# A French street without a number ("rue de la Paix") only with the unmistakable types.
_FR_BARE = (
    rf"(?i:rue|chemin|all[ée]e|impasse|boulevard|avenue|quai)\s+{_LINK}*"
    rf"[{UPPER}][{LETTER}'\x{{2019}}-]+"
)
_FR = (
    rf"{_HOUSE}(?:\s?(?i:bis|ter))?,?\s+(?i:{_ROMANCE_TYPES})\s+{_LINK}*"
    rf"[{LETTER}][{LETTER}'\x{{2019}}.-]+"
)
_ES = (
    rf"(?i:{_ROMANCE_TYPES})\s+{_LINK}*{_CAP}(?:\s+{_LINK}*{_CAP}){{0,4}},?\s+"
    rf"(?:(?i:n[º°o]?\.?|num\.?|nr\.?)\s*)?{_HOUSE}{_TAIL}"
)
_DE = (
    rf"(?:{_CAP}(?i:{_COMPOUND_TYPES})|(?:{_CAP}\s+)?(?i:stra[ßs]e|str\.|weg|allee|platz|ring"
    rf"|gasse|damm|ufer)|(?i:{_DE_PREPOSITIONS})\s+{_CAP}(?:\s+{_CAP})?),?\s+{_HOUSE}{_TAIL}"
)


def validate_street_address(candidates: pa.StringArray) -> pa.BooleanArray:
    """A house or unit number of at most five digits and four letters or more of street name."""
    if len(candidates) == 0:
        return pa.array([], pa.bool_())
    number = pc.extract_regex(candidates, pattern=r"(?P<n>[0-9]+)").field("n")
    digits = pc.binary_length(number).to_numpy(zero_copy_only=False)
    letters = pc.utf8_length(
        pc.replace_substring_regex(candidates, pattern=rf"[^{LETTER}]+", replacement="")
    ).to_numpy(zero_copy_only=False)
    # A bare French street ("rue de la Paix") has no number: digits == 0 is allowed there only.
    bare = pc.match_substring_regex(candidates, pattern=rf"^{_FR_BARE}$").to_numpy(
        zero_copy_only=False
    )
    ok = (((digits >= 1) & (digits <= 5)) | bare) & (letters >= 4)
    return pa.array(ok)


STREET_ADDRESS: Detector = Detector(
    name="street_address",
    pattern=rf"(?:^|[^{LETTER}0-9.-])(?P<value>{_EN}|{_FR}|{_ES}|{_DE}|{_MILITARY}|{_FR_BARE})",
    validator=validate_street_address,
    name_hints=(
        "address",
        "addr",
        "street",
        "streetaddress",
        "addressline",
        "addressline1",
        "addressline2",
        "address1",
        "address2",
        "shippingaddress",
        "billingaddress",
        "homeaddress",
        "mailingaddress",
        "residence",
        "strasse",
        "adresse",
        "direccion",
        "indirizzo",
        "endereco",
    ),
    description="a street address: house number, street name and a street type",
)
