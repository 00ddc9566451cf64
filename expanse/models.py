"""Model classes transformers lacks, registered with its Auto classes; shared by every scale (the tiny
reward model's training, and the reward model that scores at 8b/32b, which may be a Cohere one).
A top-level module of its own so that importing it pulls in neither the tiny corpus code nor the
arbiter package; it imports only transformers, when called."""

from __future__ import annotations


def register_cohere_sequence_classification() -> None:
    """transformers 5 has no CohereForSequenceClassification: build the generic one and register
    it with the Auto classes (unregistered, AutoModelForSequenceClassification silently skips it)."""
    from transformers import AutoModelForSequenceClassification, CohereConfig
    from transformers.modeling_layers import GenericForSequenceClassification
    from transformers.models.cohere.modeling_cohere import CoherePreTrainedModel

    class CohereForSequenceClassification(GenericForSequenceClassification, CoherePreTrainedModel):
        pass

    AutoModelForSequenceClassification.register(CohereConfig, CohereForSequenceClassification, exist_ok=True)
