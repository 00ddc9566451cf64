"""Reward-model arbiter: AutoModelForSequenceClassification with one label, scoring the chat
(prompt, completion) with the model's own chat template. The arbiter at 8b/32b (e.g. Skywork
reward models); at tiny the reward model trained by rules/tiny.smk. `load_reward_model` is the one
way the workflow builds it (arbiter scoring, arbiter accuracy, the reward-model judge, merge search)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from expanse.schema import ModelSource


def load_reward_model(model: ModelSource, *, batch_size: int, gpus: int = 0) -> RewardModel:
    """The reward model of a resolved model reference (the checkpoint directory or hub ID and its
    from_pretrained keywords), scoring `batch_size` chats at a time in fp32 on CPU, in bf16 on
    `gpus` GPUs."""
    return RewardModel(model.location, load=model.load, batch_size=batch_size, gpus=gpus)


class RewardModel:
    def __init__(self, location: str, *, load: dict, batch_size: int, gpus: int = 0, max_length: int = 4096):
        import torch
        from transformers import AutoModelForSequenceClassification

        from expanse.checkpoint import load_tokenizer
        from expanse.models import register_cohere_sequence_classification

        register_cohere_sequence_classification()  # tiny Cohere reward models; harmless otherwise
        self.torch = torch
        self.tokenizer = load_tokenizer(location, load, padding_side="right")
        kwargs = {"dtype": torch.bfloat16 if gpus else torch.float32}
        if gpus > 1:
            kwargs["device_map"] = "auto"
        self.model = AutoModelForSequenceClassification.from_pretrained(location, num_labels=1, **load, **kwargs).eval()
        if gpus == 1:
            self.model.to("cuda")
        if self.model.config.pad_token_id is None:
            self.model.config.pad_token_id = self.tokenizer.pad_token_id
        self.batch_size, self.max_length = batch_size, max_length

    def score(self, prompts: list[str], completions: list[str]) -> list[float]:
        torch, out = self.torch, []
        for start in range(0, len(prompts), self.batch_size):
            chats = [
                [{"role": "user", "content": p}, {"role": "assistant", "content": c}]
                for p, c in zip(prompts[start : start + self.batch_size], completions[start : start + self.batch_size])
            ]
            enc = self.tokenizer.apply_chat_template(
                chats, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt", return_dict=True
            )
            enc = {k: v.to(self.model.device) for k, v in enc.items()}
            with torch.no_grad():
                logits = self.model(**enc).logits[:, 0].float()
            out += [round(float(x), 6) for x in logits]
        return out
