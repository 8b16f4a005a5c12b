"""The caption encoder: tokens, padding invariance, saving, and learning to match captions to images."""
from __future__ import annotations

import pytest
import torch

from ganflow.nn.text_encoder import (
    PAD,
    UNK,
    ImageEncoder,
    TextEncoder,
    build_vocab,
    encode,
    load_text_encoder,
    matching_loss,
    save_text_encoder,
    tokenize,
)


def test_tokens_vocabulary_and_unknown_words():
    assert tokenize("A thick 7, leaning-right!") == ["a", "thick", "7", "leaning", "right"]
    vocab = build_vocab(["a thin one", "a thick 7"])
    assert vocab[:2] == ["<pad>", "<unk>"] and vocab[2:] == sorted(["a", "thin", "one", "thick", "7"])
    ids = encode(["a thin one", "purple 7"], vocab)
    assert ids.shape == (2, 3)
    assert ids[1, 0] == UNK and ids[1, 2] == PAD and vocab[ids[1, 1]] == "7"


def test_a_caption_embeds_the_same_alone_or_beside_a_longer_one():
    torch.manual_seed(0)
    vocab = build_vocab(["a thin one leaning left in fine strokes", "a 7"])
    enc = TextEncoder(len(vocab), word_dim=8, width=16, embed_dim=6).eval()
    alone = enc(encode(["a 7"], vocab))
    padded = enc(encode(["a 7", "a thin one leaning left in fine strokes"], vocab))[:1]
    assert torch.allclose(alone, padded, atol=1e-6)
    assert torch.allclose(alone.norm(dim=1), torch.ones(1))


def test_matching_loss_is_low_for_matching_pairs_and_high_for_swapped_ones():
    e = torch.nn.functional.normalize(torch.randn(8, 5), dim=1)
    right = matching_loss(e, e, temperature=0.05)
    swapped = matching_loss(e, e.roll(1, 0), temperature=0.05)
    assert float(right) < 0.5 < float(swapped)


def test_save_and_load_round_trip(tmp_path):
    vocab = build_vocab(["a thin one", "a thick 7"])
    enc = TextEncoder(len(vocab), word_dim=8, width=16, embed_dim=6)
    save_text_encoder(tmp_path / "e.pt", enc, vocab, {"dataset": "x"})
    embedder, meta = load_text_encoder(tmp_path / "e.pt")
    assert meta == {"dataset": "x"} and embedder.dim == 6
    assert torch.allclose(embedder(["a thick 7"]), enc.eval()(encode(["a thick 7"], vocab)))
    torch.save({"weights": 1}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="other.pt"):
        load_text_encoder(tmp_path / "other.pt")


def test_training_teaches_captions_to_find_their_images():
    """Two-word captions naming a colour and a side; images show that colour on that side."""
    torch.manual_seed(0)
    words = [(c, s) for c in ("dark", "bright") for s in ("left", "right")]
    texts, images = [], []
    for i in range(64):
        c, s = words[i % 4]
        img = torch.full((1, 8, 8), -1.0)
        half = (slice(None), slice(None), slice(0, 4) if s == "left" else slice(4, 8))
        img[half] = 0.0 if c == "dark" else 1.0
        images.append(img)
        texts.append(f"{c} {s}")
    x, vocab = torch.stack(images), build_vocab(texts)
    ids = encode(texts, vocab)
    text_enc, img_enc = TextEncoder(len(vocab), 8, 16, 8), ImageEncoder(1, 8, width=8)
    opt = torch.optim.Adam([*text_enc.parameters(), *img_enc.parameters()], lr=3e-3)
    for _ in range(150):
        pick = torch.arange(4) + 4 * torch.randint(16, (1,))  # one of each kind: no false negatives
        loss = matching_loss(img_enc(x[pick]), text_enc(ids[pick]), 0.1)
        opt.zero_grad()
        loss.backward()
        opt.step()
    text_enc.eval(), img_enc.eval()
    sim = text_enc(encode([f"{c} {s}" for c, s in words], vocab)) @ img_enc(x[:4]).t()
    assert (sim.argmax(1) == torch.arange(4)).all()


def test_a_captioned_experiment_without_a_text_encoder_is_named(base_params):
    from ganflow.params import ParamsError, parse_params

    base_params.setdefault("text_encoder", {}).pop("digits_captioned", None)
    base_params["text_encoder"]["nowhere"] = {}
    with pytest.raises(ParamsError) as err:
        parse_params(base_params)
    assert "text_encoder.digits_captioned: missing (experiment 'text2img'" in str(err.value)
    assert "text_encoder.nowhere: no dataset of that name" in str(err.value)
