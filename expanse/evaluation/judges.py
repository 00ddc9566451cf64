"""Registry of pairwise judges. A judge compares two answers to the same prompt and returns "A",
"B" or "tie" per prompt; expanse.evaluation.pairwise asks it in both orders.

- `reward_model`: a sequence-classification reward model scores each answer; the higher score wins,
  a difference of at most `tie_margin` is a tie (the tiny scale's judge: the trained reward model).
- `llm`: a judge model, served by the generation backend registry, reads the prompt and both
  answers with a pairwise prompt and ends with [[A]], [[B]] or [[C]] (tie); anything else counts
  as a tie and is counted as unparsed.

The contract of a judge: a class constructed as `Judge(*, model, judge, generation, seed, gpus=0)`,
where `model` is the resolved ModelSource (the scale's reward model, or the llm judge's model), `judge` the
validated JudgeCfg (expanse.evaluation.config) and `generation` the scale's GenerationCfg; its
`compare(prompts, answers_a, answers_b, lang)` returns one verdict ("A", "B" or "tie") per prompt,
and `unparsed` counts the verdicts it could not read (always 0 for a judge that cannot fail to).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from expanse.registry import Registry

if TYPE_CHECKING:
    from expanse.evaluation.config import JudgeCfg
    from expanse.generation.config import GenerationCfg
    from expanse.schema import ModelSource

JUDGES = Registry(
    "judge",
    {
        "reward_model": "expanse.evaluation.judges:RewardModelJudge",
        "llm": "expanse.evaluation.judges:LLMJudge",
    },
    requires=("compare", "unparsed"),
    contract="Judge(*, model, judge, generation, seed, gpus=0).compare(prompts, answers_a, answers_b, lang) -> "
    "[verdict]; .unparsed: int",
)


def get_judge(method: str):
    """The judge class registered under `method` (see the module docstring); UnknownNameError otherwise."""
    return JUDGES.get(method)


class RewardModelJudge:
    unparsed: int = 0

    def __init__(self, *, model: ModelSource, judge: JudgeCfg, generation: GenerationCfg, seed: int, gpus: int = 0):
        from expanse.arbiter.reward_model import load_reward_model

        self.rm = load_reward_model(model, batch_size=judge.batch_size, gpus=gpus)
        self.tie_margin = judge.tie_margin
        self.unparsed = 0
        self._cache: dict[tuple[str, str], float] = {}

    def _scores(self, prompts: list[str], answers: list[str]) -> list[float]:
        todo = sorted({(p, a) for p, a in zip(prompts, answers)} - self._cache.keys())
        if todo:
            scores = self.rm.score([p for p, _ in todo], [a for _, a in todo])
            self._cache.update(zip(todo, scores))
        return [self._cache[(p, a)] for p, a in zip(prompts, answers)]

    def compare(self, prompts: list[str], answers_a: list[str], answers_b: list[str], lang: str) -> list[str]:
        return [
            reward_verdict(a, b, self.tie_margin)
            for a, b in zip(self._scores(prompts, answers_a), self._scores(prompts, answers_b))
        ]


def reward_verdict(reward_a: float, reward_b: float, tie_margin: float) -> str:
    if abs(reward_a - reward_b) <= tie_margin:
        return "tie"
    return "A" if reward_a > reward_b else "B"


JUDGE_PROMPT = """Please act as an impartial judge and evaluate the quality of the responses provided by two AI \
assistants to the user prompt below. The user wrote in {language}; a response in another language is a poor \
response. Judge helpfulness, correctness, fluency and whether the response follows the prompt. Do not let the \
order of the responses, their length or the assistants' names influence you. After a short explanation, output \
your final verdict strictly in one of these formats: "[[A]]" if assistant A is better, "[[B]]" if assistant B is \
better, "[[C]]" for a tie.

<|User Prompt|>
{prompt}

<|The Start of Assistant A's Answer|>
{answer_a}
<|The End of Assistant A's Answer|>

<|The Start of Assistant B's Answer|>
{answer_b}
<|The End of Assistant B's Answer|>"""

_VERDICT = re.compile(r"\[\[([ABC])\]\]")


def judge_conversation(prompt: str, answer_a: str, answer_b: str, language: str) -> list[dict]:
    return [
        {
            "role": "user",
            "content": JUDGE_PROMPT.format(language=language, prompt=prompt, answer_a=answer_a, answer_b=answer_b),
        }
    ]


def parse_verdict(text: str) -> str | None:
    """The last [[A]] / [[B]] / [[C]] in the judge's text ("tie" for C); None when there is none."""
    found = _VERDICT.findall(text)
    if not found:
        return None
    return {"A": "A", "B": "B", "C": "tie"}[found[-1]]


def judge_generation(generation: GenerationCfg, judge: JudgeCfg) -> GenerationCfg:
    """The scale's generation settings made greedy and unpenalised, with the judge's length."""
    return generation.replaced(
        temperature=0.0,
        top_p=1.0,
        min_new_tokens=0,
        repetition_penalty=1.0,
        no_repeat_ngram_size=0,
        max_new_tokens=judge.max_new_tokens,
        batch_size=judge.batch_size,
    )


class LLMJudge:
    unparsed: int = 0

    def __init__(self, *, model: ModelSource, judge: JudgeCfg, generation: GenerationCfg, seed: int, gpus: int = 0):
        from expanse.generation import get_backend

        cfg = judge_generation(generation, judge)
        self.backend = get_backend(cfg.backend)(model.location, load=model.load, generation=cfg, seed=seed, gpus=gpus)
        self.unparsed = 0

    def compare(self, prompts: list[str], answers_a: list[str], answers_b: list[str], lang: str) -> list[str]:
        from expanse.languages import LANGUAGES

        language = LANGUAGES[lang].name
        conversations = [judge_conversation(p, a, b, language) for p, a, b in zip(prompts, answers_a, answers_b)]
        verdicts = []
        for (completion,) in self.backend.generate(conversations, n=1):
            verdict = parse_verdict(completion.text)
            self.unparsed += verdict is None
            verdicts.append(verdict or "tie")
        return verdicts
