"""Rule-based arbiter: is the answer in the prompt's language, non-repetitive and not too short?

fidelity = P(target language) - repetition - shortness, where P is lingua's confidence over the 23
languages, repetition is the share of repeated character 4-grams (script-independent, so it works
for Chinese and Japanese too), and shortness = max(0, 1 - chars / target_chars) / 2.
"""

from __future__ import annotations

from expanse.languages import detector, lingua_language


def repetition(text: str, n: int = 4) -> float:
    grams = [text[i : i + n] for i in range(max(0, len(text) - n + 1))]
    if len(grams) < 2:
        return 0.0
    return 1.0 - len(set(grams)) / len(grams)


def shortness(text: str, target_chars: int) -> float:
    return max(0.0, 1.0 - len(text.strip()) / target_chars) / 2


class LanguageFidelity:
    def __init__(self, *, target_chars: int, high_accuracy: bool = False):
        self.detector = detector(high_accuracy)
        self.target_chars = target_chars

    def lang_prob(self, text: str, lang: str) -> float:
        if not text.strip():
            return 0.0
        return float(self.detector.compute_language_confidence(text, lingua_language(lang)))

    def score(self, texts: list[str], langs: list[str]) -> list[tuple[float, float]]:
        """(lang_prob, fidelity) per text."""
        out = []
        for text, lang in zip(texts, langs):
            p = self.lang_prob(text, lang)
            out.append((round(p, 6), round(p - repetition(text) - shortness(text, self.target_chars), 6)))
        return out
