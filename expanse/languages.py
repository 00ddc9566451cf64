"""The 23 Aya Expanse languages: ISO 639-1 code, English name, script, default family.

The default family is only a suggestion for params.yaml; params.yaml decides. `django` is the
locale directory of the Django gettext catalogs the tiny corpus is read from.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True)
class Language:
    code: str
    name: str
    script: str
    family: str
    django: str


LANGUAGES: dict[str, Language] = {
    lang.code: lang
    for lang in [
        Language("ar", "Arabic", "Arab", "semitic_turkic_iranian", "ar"),
        Language("zh", "Chinese", "Hans", "asian", "zh_Hans"),
        Language("cs", "Czech", "Latn", "slavic_greek", "cs"),
        Language("nl", "Dutch", "Latn", "germanic", "nl"),
        Language("en", "English", "Latn", "germanic", "en"),
        Language("fr", "French", "Latn", "romance", "fr"),
        Language("de", "German", "Latn", "germanic", "de"),
        Language("el", "Greek", "Grek", "slavic_greek", "el"),
        Language("he", "Hebrew", "Hebr", "semitic_turkic_iranian", "he"),
        Language("hi", "Hindi", "Deva", "asian", "hi"),
        Language("id", "Indonesian", "Latn", "asian", "id"),
        Language("it", "Italian", "Latn", "romance", "it"),
        Language("ja", "Japanese", "Jpan", "asian", "ja"),
        Language("ko", "Korean", "Kore", "asian", "ko"),
        Language("fa", "Persian", "Arab", "semitic_turkic_iranian", "fa"),
        Language("pl", "Polish", "Latn", "slavic_greek", "pl"),
        Language("pt", "Portuguese", "Latn", "romance", "pt"),
        Language("ro", "Romanian", "Latn", "romance", "ro"),
        Language("ru", "Russian", "Cyrl", "slavic_greek", "ru"),
        Language("es", "Spanish", "Latn", "romance", "es"),
        Language("tr", "Turkish", "Latn", "semitic_turkic_iranian", "tr"),
        Language("uk", "Ukrainian", "Cyrl", "slavic_greek", "uk"),
        Language("vi", "Vietnamese", "Latn", "asian", "vi"),
    ]
}

CODES: tuple[str, ...] = tuple(LANGUAGES)


def lingua_language(code: str):
    """The lingua `Language` for an ISO 639-1 code (lingua imported lazily: it is heavy)."""
    from lingua import IsoCode639_1
    from lingua import Language as LinguaLanguage

    return LinguaLanguage.from_iso_code_639_1(getattr(IsoCode639_1, code.upper()))


@lru_cache(maxsize=2)
def detector(high_accuracy: bool = False):
    """One lingua detector over the 23 languages, built once per process. Low-accuracy mode is
    fast and small (0.94 on short texts); high-accuracy mode needs ~10 s and ~0.5 GB to load."""
    from lingua import LanguageDetectorBuilder

    builder = LanguageDetectorBuilder.from_languages(*[lingua_language(c) for c in LANGUAGES])
    return (builder if high_accuracy else builder.with_low_accuracy_mode()).build()
