"""gettext catalogues: Simplified Chinese is the default locale, English the second.

Message ids are English; the catalogues under bot/locales are compiled by `make install`
(pybabel compile), never committed compiled.
"""

from __future__ import annotations

import gettext
import os
from collections.abc import Mapping
from functools import cache
from pathlib import Path

__all__ = [
    "DEFAULT_LOCALE",
    "DOMAIN",
    "LOCALES",
    "LOCALES_DIR",
    "Translator",
    "locale_from_env",
    "normalize_locale",
    "translator",
]

DOMAIN = "renovote"
LOCALES_DIR = Path(__file__).parent / "locales"
DEFAULT_LOCALE = "zh_CN"
LOCALES = ("zh_CN", "en")


class CataloguesNotCompiledError(RuntimeError):
    """The .mo files are missing: the install step (`make install`) compiles them."""


def normalize_locale(code: str | None) -> str:
    """Map a Telegram `language_code` or a POSIX locale to one we have: en* -> en, anything else -> zh_CN."""
    if code and code.strip().lower().replace("-", "_").startswith("en"):
        return "en"
    return DEFAULT_LOCALE


def locale_from_env(environ: Mapping[str, str] | None = None) -> str:
    """The command line's language, from LANGUAGE / LC_ALL / LC_MESSAGES / LANG as gettext reads them."""
    env = os.environ if environ is None else environ
    for var in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = env.get(var, "")
        if value and value not in ("C", "POSIX", "C.UTF-8"):
            return normalize_locale(value.split(":")[0])
    return DEFAULT_LOCALE


class Translator:
    """`_` and `ngettext` bound to one locale."""

    def __init__(self, locale: str, catalogue: gettext.NullTranslations) -> None:
        self.locale = locale
        self._catalogue = catalogue

    def __call__(self, message: str) -> str:
        return self._catalogue.gettext(message)

    def n(self, singular: str, plural: str, count: int) -> str:
        return self._catalogue.ngettext(singular, plural, count)


@cache
def translator(locale: str) -> Translator:
    locale = normalize_locale(locale) if locale not in LOCALES else locale
    mo = LOCALES_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.mo"
    if not mo.exists():
        raise CataloguesNotCompiledError(
            f"{mo} is missing: run `make install` (it compiles the translations with pybabel)"
        )
    with mo.open("rb") as fh:
        return Translator(locale, gettext.GNUTranslations(fh))
