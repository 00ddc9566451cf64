"""Cohere sequence classification for reward models of every scale (tiny Cohere reward models and
Cohere-architecture reward models at 8b/32b alike). Imports only transformers, when called."""

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
