"""FrozenCLIPEmbedder: OpenAI CLIP ViT-L/14's text encoder (SDXL's first text encoder), built offline."""

from collections.abc import Mapping

import torch
from sgm.conditioners.autocast import reference_autocast
from sgm.conditioners.general import AbstractEmbModel
from sgm.conditioners.norms import use_kernel_layer_norms
from sgm.conditioners.prompt_chunks import ChunkedPromptEmbedder
from sgm.conditioners.tokenizer import EOT_TOKEN_ID, VOCAB_SIZE, ClipTokenizer
from torch import nn
from transformers import CLIPTextConfig, CLIPTextModel

# openai/clip-vit-large-patch14's text_config; eos_token_id 2 makes transformers pool at the argmax id (the end token).
CLIP_TEXT_CONFIGS: dict[str, dict] = {
    "openai/clip-vit-large-patch14": {
        "vocab_size": VOCAB_SIZE,
        "hidden_size": 768,
        "intermediate_size": 3072,
        "projection_dim": 768,
        "num_hidden_layers": 12,
        "num_attention_heads": 12,
        "max_position_embeddings": 77,
        "hidden_act": "quick_gelu",
        "layer_norm_eps": 1e-5,
        "bos_token_id": 0,
        "pad_token_id": 1,
        "eos_token_id": 2,
    },
}


def clip_text_config(version: str | Mapping) -> CLIPTextConfig:
    """The `CLIPTextConfig` of a known model name, or of a mapping of config fields (tiny test models)."""
    if isinstance(version, Mapping):
        fields = {**CLIP_TEXT_CONFIGS["openai/clip-vit-large-patch14"], **version}
    elif version in CLIP_TEXT_CONFIGS:
        fields = CLIP_TEXT_CONFIGS[version]
    else:
        known = ", ".join(CLIP_TEXT_CONFIGS)
        raise ValueError(f"unknown CLIP text model {version!r}: use one of {known} or a dict of CLIPTextConfig fields")
    return CLIPTextConfig(**fields)


class CLIPTextTransformer(nn.Module):
    """Holds transformers' CLIP text model as `text_model`, so keys read `text_model.*` as in official files.

    transformers 5 has no `text_model.` level and 4.31+ keeps `embeddings.position_ids` out of the state dict; the
    official layout has both. `state_dict()` adds `text_model.embeddings.position_ids`; loading accepts it or not.
    """

    POSITION_IDS = "text_model.embeddings.position_ids"

    def __init__(self, config: CLIPTextConfig):
        super().__init__()
        model = use_kernel_layer_norms(CLIPTextModel(config))
        self.text_model = getattr(model, "text_model", model)  # transformers 4 nests it one level down
        self.register_state_dict_post_hook(self._add_position_ids)
        self.register_load_state_dict_pre_hook(self._take_position_ids)

    def _position_ids_persistent(self) -> bool:
        return "position_ids" not in self.text_model.embeddings._non_persistent_buffers_set

    @staticmethod
    def _add_position_ids(module, state_dict, prefix, local_metadata):
        key = prefix + module.POSITION_IDS
        if key not in state_dict:
            state_dict[key] = module.text_model.embeddings.position_ids

    @staticmethod
    def _take_position_ids(module, state_dict, prefix, *args):
        key = prefix + module.POSITION_IDS
        if module._position_ids_persistent():
            state_dict.setdefault(key, module.text_model.embeddings.position_ids)
        else:
            state_dict.pop(key, None)  # recomputed: arange(max_position_embeddings)

    def forward(self, input_ids: torch.Tensor, output_hidden_states: bool = False):
        return self.text_model(input_ids=input_ids, output_hidden_states=output_hidden_states)


class FrozenCLIPEmbedder(ChunkedPromptEmbedder, AbstractEmbModel):
    """CLIP text embeddings: the last layer, the pooled end-token state, or hidden layer `layer_idx`.

    `version` names the architecture (`"openai/clip-vit-large-patch14"`) or is a dict of `CLIPTextConfig` fields;
    nothing is downloaded: the weights come from the sgm checkpoint. `device` is kept for config compatibility:
    tokens go to the device the embedder's weights are on. Long and weighted prompts: see `prompt_chunks`
    (`layer="pooled"` gives the first chunk's pooled state, unweighted).
    """

    pad_token_id = EOT_TOKEN_ID  # as transformers' CLIPTokenizer pads for the reference

    LAYERS = ("last", "pooled", "hidden")

    def __init__(
        self,
        version: str | Mapping = "openai/clip-vit-large-patch14",
        device: str = "cuda",
        max_length: int = 77,
        freeze: bool = True,
        layer: str = "last",
        layer_idx: int | None = None,
        always_return_pooled: bool = False,
    ):
        super().__init__()
        if layer not in self.LAYERS:
            raise ValueError(f"layer must be one of {self.LAYERS}, got {layer!r}")
        config = clip_text_config(version)
        if layer == "hidden" and (layer_idx is None or abs(layer_idx) > config.num_hidden_layers):
            raise ValueError(f"layer 'hidden' needs a layer_idx with |layer_idx| <= {config.num_hidden_layers}")
        self.tokenizer = ClipTokenizer(clean="transformers")
        self.transformer = CLIPTextTransformer(config)
        self.device = device
        self.max_length = max_length
        self.layer = layer
        self.layer_idx = layer_idx
        self.return_pooled = always_return_pooled
        if freeze:
            self.freeze()

    def freeze(self):
        self.transformer = self.transformer.eval()
        for param in self.parameters():
            param.requires_grad = False

    @property
    def prompt_length(self) -> int:
        return self.max_length

    def forward(self, text: str | list[str], *, min_chunks: int = 1):
        z, pooled = self.encode_prompts(text, self._encode_tokens, min_chunks)
        if self.layer == "pooled":
            z = pooled[:, None, :]
        if self.return_pooled:
            return z, pooled
        return z

    def _encode_tokens(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(the chosen layer's token states, the pooled end-token state) of token rows."""
        tokens = tokens.to(self.transformer.text_model.embeddings.token_embedding.weight.device)
        with reference_autocast(tokens.device):
            outputs = self.transformer(tokens, output_hidden_states=self.layer == "hidden")
        if self.layer == "hidden":
            return outputs.hidden_states[self.layer_idx], outputs.pooler_output
        return outputs.last_hidden_state, outputs.pooler_output

    def encode(self, text: str | list[str]):
        return self(text)
