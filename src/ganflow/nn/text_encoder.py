"""A small caption encoder phi(t), trained to match captions to their images (text2img's input).

GAN-CLS (Reed et al. 2016) conditions on a caption embedding learned beforehand with an
image-text matching objective; here the objective is the symmetric contrastive loss of CLIP
(Radford et al. 2021) over a batch of (image, caption) pairs: each caption must pick out its
own image among the batch's images and vice versa.

Text side: words (lower-case runs of letters and digits) -> embeddings -> two 1-D convolutions
(width 3: sees "leaning left", not just "left") -> mean and max pooled over the caption's words
-> linear -> unit length.  Padding is masked at every layer, so a caption's embedding does not
depend on how long the other captions of its batch are.
Image side (used only while training the matching): DCGAN-like strided convolutions -> unit length.
"""
from __future__ import annotations

import re
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

FORMAT = 1
PAD, UNK = 0, 1
_TOKEN = re.compile(r"[a-z0-9]+")


def tokenize(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def build_vocab(texts: list[str]) -> list[str]:
    """Index -> word: '<pad>', '<unk>', then every word of ``texts`` in sorted order."""
    return ["<pad>", "<unk>", *sorted({w for t in texts for w in tokenize(t)})]


def encode(texts: list[str], vocab: list[str]) -> torch.Tensor:
    """(N, L) word indices, padded with PAD; unknown words map to UNK."""
    index = {w: i for i, w in enumerate(vocab)}
    ids = [[index.get(w, UNK) for w in tokenize(t)] or [UNK] for t in texts]
    out = torch.full((len(ids), max(map(len, ids))), PAD, dtype=torch.long)
    for i, row in enumerate(ids):
        out[i, :len(row)] = torch.tensor(row)
    return out


class TextEncoder(nn.Module):
    def __init__(self, vocab_size: int, word_dim: int = 64, width: int = 128, embed_dim: int = 64):
        super().__init__()
        self.config = {"vocab_size": vocab_size, "word_dim": word_dim, "width": width, "embed_dim": embed_dim}
        self.words = nn.Embedding(vocab_size, word_dim, padding_idx=PAD)
        self.conv1 = nn.Conv1d(word_dim, width, 3, padding=1)
        self.conv2 = nn.Conv1d(width, width, 3, padding=1)
        self.out = nn.Linear(2 * width, embed_dim)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        mask = (ids != PAD).unsqueeze(1).float()                  # (N, 1, L)
        h = self.words(ids).transpose(1, 2) * mask                # (N, word_dim, L)
        h = F.relu(self.conv1(h)) * mask                          # zero at pads: as if they were not there
        h = F.relu(self.conv2(h)) * mask
        mean = h.sum(2) / mask.sum(2).clamp(min=1)
        peak = h.masked_fill(mask == 0, float("-inf")).amax(2)
        return F.normalize(self.out(torch.cat([mean, peak], 1)), dim=1)


class ImageEncoder(nn.Module):
    """[-1, 1] images -> unit vectors; the matching partner the text encoder is trained against."""

    def __init__(self, channels: int, embed_dim: int = 64, width: int = 32):
        super().__init__()
        w = width
        self.net = nn.Sequential(
            nn.Conv2d(channels, w, 4, 2, 1), nn.LeakyReLU(0.2, True),
            nn.Conv2d(w, 2 * w, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * w), nn.LeakyReLU(0.2, True),
            nn.Conv2d(2 * w, 4 * w, 4, 2, 1, bias=False), nn.BatchNorm2d(4 * w), nn.LeakyReLU(0.2, True),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4 * w, embed_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.net(x), dim=1)


def matching_loss(image_emb: torch.Tensor, text_emb: torch.Tensor, temperature: float) -> torch.Tensor:
    """Symmetric cross-entropy over the batch's similarity matrix: pair i must beat pairs j != i."""
    logits = image_emb @ text_emb.t() / temperature
    target = torch.arange(len(logits), device=logits.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target))


class CaptionEmbedder:
    """A trained encoder with its vocabulary: captions in, (N, embed_dim) unit vectors out."""

    def __init__(self, encoder: TextEncoder, vocab: list[str]):
        self.encoder, self.vocab = encoder.eval(), vocab
        self.dim = encoder.config["embed_dim"]

    @torch.no_grad()
    def __call__(self, texts: list[str], batch_size: int = 512) -> torch.Tensor:
        if not texts:
            return torch.zeros(0, self.dim)
        return torch.cat([self.encoder(encode(texts[i:i + batch_size], self.vocab))
                          for i in range(0, len(texts), batch_size)])


def save_text_encoder(path: Path | str, encoder: TextEncoder, vocab: list[str], meta: dict) -> None:
    torch.save({"format": FORMAT, "config": encoder.config, "vocab": list(vocab),
                "state_dict": encoder.state_dict(), "meta": meta}, path)


def load_text_encoder(path: Path | str) -> tuple[CaptionEmbedder, dict]:
    """(embedder, meta) from save_text_encoder's file; read with weights_only, errors name the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no text encoder here")
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise ValueError(f"{path}: not a ganflow text-encoder file (format {FORMAT})")
    encoder = TextEncoder(**ckpt["config"])
    encoder.load_state_dict(ckpt["state_dict"], strict=True)
    return CaptionEmbedder(encoder, ckpt["vocab"]), ckpt["meta"]
