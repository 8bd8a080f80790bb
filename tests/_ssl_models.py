"""Tiny randomly initialised pretrained-model folders, built with the transformers config classes and saved
with ``save_pretrained`` exactly as a hub copy is laid out (weights, config, feature extractor)."""

from __future__ import annotations

from pathlib import Path

FAMILIES = ("wav2vec2", "hubert", "wavlm")

# small enough for a test, with the real architecture: 7 strided convolutions (400-sample receptive
# field, 320-sample hop at 16 kHz), convolutional position embeddings, transformer layers
_TINY = dict(hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
             conv_dim=(8,) * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2)


def speech_encoder(folder: Path, family: str = "wav2vec2", seed: int = 0) -> Path:
    """A tiny wav2vec2 / HuBERT / WavLM model + feature extractor saved to ``folder``. As for the
    base models on the hub: wav2vec2 and WavLM normalise each clip, HuBERT (hubert-base-ls960) does not."""
    import torch
    from transformers import (
        HubertConfig,
        HubertModel,
        Wav2Vec2Config,
        Wav2Vec2FeatureExtractor,
        Wav2Vec2Model,
        WavLMConfig,
        WavLMModel,
    )
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    config_cls, model_cls = {"wav2vec2": (Wav2Vec2Config, Wav2Vec2Model), "hubert": (HubertConfig, HubertModel),
                             "wavlm": (WavLMConfig, WavLMModel)}[family]
    torch.manual_seed(seed)
    model_cls(config_cls(**_TINY)).save_pretrained(folder)
    Wav2Vec2FeatureExtractor(sampling_rate=16000, do_normalize=family != "hubert",
                             return_attention_mask=family == "wavlm").save_pretrained(folder)
    return Path(folder)
