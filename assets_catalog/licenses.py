"""Licence codes: normalisation of free-text licence names and the commercial-use rule.

Codes are Creative Commons slugs as Objaverse 1.0 stores them (``cc0``, ``by``, ``by-sa``, ``by-nd``,
``by-nc``, ``by-nc-sa``, ``by-nc-nd``), plus ``unknown`` when nothing says otherwise. Anything else
given by a user (e.g. ``mit``) is kept, lower-cased, and counts as not commercial-safe.
"""

from __future__ import annotations

import re

UNKNOWN = "unknown"
CC_CODES = ("cc0", "by", "by-sa", "by-nd", "by-nc", "by-nc-sa", "by-nc-nd")
# Licences that allow commercial use *and* derivative works (a render is a derivative work).
COMMERCIAL_SAFE = frozenset({"cc0", "by", "by-sa"})

_ALIASES = {
    "public domain": "cc0",
    "cc0 public domain": "cc0",
    "cc0-1.0": "cc0",
    "cc-by": "by",
    "attribution": "by",
    "cc attribution": "by",
    "cc-by-sa": "by-sa",
    "attribution-sharealike": "by-sa",
    "cc attribution-sharealike": "by-sa",
    "cc-by-nd": "by-nd",
    "attribution-noderivs": "by-nd",
    "cc attribution-noderivs": "by-nd",
    "cc-by-nc": "by-nc",
    "attribution-noncommercial": "by-nc",
    "cc attribution-noncommercial": "by-nc",
    "cc-by-nc-sa": "by-nc-sa",
    "attribution-noncommercial-sharealike": "by-nc-sa",
    "cc attribution-noncommercial-sharealike": "by-nc-sa",
    "cc-by-nc-nd": "by-nc-nd",
    "attribution-noncommercial-noderivs": "by-nc-nd",
    "cc attribution-noncommercial-noderivs": "by-nc-nd",
}


def normalize_license(value: object) -> str:
    """Licence code for ``value`` (a slug, a Sketchfab-style name, ``None``...)."""
    if not isinstance(value, str) or not value.strip():
        return UNKNOWN
    text = re.sub(r"\s+", " ", value.strip().lower())
    text = re.sub(r"[-\s]?(\d+\.\d+)( international)?$", "", text)  # "CC-BY-4.0" -> "cc-by"
    text = text.replace("creative commons", "cc")
    if text in CC_CODES or text == UNKNOWN:
        return text
    if text.startswith(("cc ", "cc-")) and text[3:].replace(" ", "-") in CC_CODES:  # "cc by-sa", "cc by nc"
        return text[3:].replace(" ", "-")
    return _ALIASES.get(text, text)


def is_commercial_safe(code: str) -> bool:
    """True for licences that allow commercial use of renders (cc0, by, by-sa)."""
    return code in COMMERCIAL_SAFE
