"""text_encoder: train the caption encoder of a captioned data set -> data/text_encoders/<dataset>/.

The encoder (nn/text_encoder.py) learns, with an image encoder as its partner, to match each
training caption to its own image among a batch of images (a symmetric contrastive loss).
text2img then conditions on its frozen output.  Writes, atomically:

  encoder.pt     config, vocabulary (from the training captions) and weights; weights_only-loadable
  encoder.json   how well captions find their images on the test split (recall@1/@5, and how often
                 the nearest image has the caption's class), params, data hash, code version
"""
from __future__ import annotations

import numpy as np
import torch
from tqdm.auto import tqdm

from ganflow.atomic import atomic_dir, write_json
from ganflow.data.tensors import to_tensor
from ganflow.errors import DataError, ParamsError
from ganflow.hashing import sha256_file
from ganflow.nn.text_encoder import ImageEncoder, TextEncoder, build_vocab, encode, matching_loss, save_text_encoder
from ganflow.params import Params
from ganflow.provenance import code_version, hash_tree, package_versions
from ganflow.stages import paths
from ganflow.stages.tasks.unconditional import read_meta, read_split, split_captions
from ganflow.train.device import pick_device


def _flatten(captions: list[list[str]]) -> tuple[list[str], torch.Tensor]:
    """All captions in one list, and for each its image's index."""
    texts = [c for caps in captions for c in caps]
    owner = torch.tensor([i for i, caps in enumerate(captions) for _ in caps])
    return texts, owner


@torch.no_grad()
def retrieval(text_enc: TextEncoder, img_enc: ImageEncoder, images: torch.Tensor, tokens: torch.Tensor,
              owner: torch.Tensor, labels: np.ndarray) -> dict:
    """Each caption against every image of the set: is its own image the nearest (top 1, top 5)?"""
    text_enc.eval(), img_enc.eval()
    img = torch.cat([img_enc(images[i:i + 256]) for i in range(0, len(images), 256)])
    txt = torch.cat([text_enc(tokens[i:i + 512]) for i in range(0, len(tokens), 512)])
    sim = txt @ img.t()
    top5 = sim.topk(min(5, sim.shape[1]), dim=1).indices
    nearest = top5[:, 0].numpy()
    return {"recall_at_1": float((top5[:, 0] == owner).float().mean()),
            "recall_at_5": float((top5 == owner[:, None]).any(1).float().mean()),
            "nearest_image_class_accuracy": float((labels[nearest] == labels[owner.numpy()]).mean()),
            "chance_recall_at_1": 1.0 / len(images), "n_images": len(images), "n_captions": len(tokens)}


def run(params: Params, dataset: str, threads: int | None = None) -> None:
    if threads:
        torch.set_num_threads(threads)
    params.dataset(dataset)
    if dataset not in params.text_encoder:
        raise ParamsError(f"text_encoder: params.yaml has no text_encoder.{dataset} section; add one "
                         f"(an empty mapping {{}} takes the defaults)")
    c = params.text_encoder[dataset]
    meta = read_meta(dataset)
    if meta.get("layout") != "captioned":
        raise DataError(f"text_encoder: {paths.pairs_dir(dataset) / 'dataset.json'}: layout {meta.get('layout')!r} "
                         "has no captions; the text encoder needs a captioned data set")
    train_rows, train_imgs = read_split(dataset, "train")
    test_rows, test_imgs = read_split(dataset, "test")
    train_texts, train_owner = _flatten(split_captions(train_rows, dataset))
    test_texts, test_owner = _flatten(split_captions(test_rows, dataset))
    vocab = build_vocab(train_texts)
    x_train, x_test = to_tensor(list(train_imgs)), to_tensor(list(test_imgs))
    t_train, t_test = encode(train_texts, vocab), encode(test_texts, vocab)
    # Per image: where its captions start in the flat list and how many it has.
    counts = torch.bincount(train_owner, minlength=len(x_train))
    starts = torch.cumsum(counts, 0) - counts

    torch.manual_seed(c.seed)
    device = pick_device(c.device)
    text_enc = TextEncoder(len(vocab), c.word_dim, c.width, c.embed_dim).to(device)
    img_enc = ImageEncoder(x_train.shape[1], c.embed_dim).to(device)
    opt = torch.optim.Adam([*text_enc.parameters(), *img_enc.parameters()], lr=c.lr)
    gen = torch.Generator().manual_seed(c.seed)
    bs = min(c.batch_size, len(x_train))
    history = []
    for step in tqdm(range(1, c.steps + 1), desc=f"text_encoder {dataset}", unit="step", dynamic_ncols=True):
        # Distinct images, one of each one's captions: no batch holds two captions of one image,
        # which would make a right answer count as a wrong one.
        idx = torch.randperm(len(x_train), generator=gen)[:bs]
        pick = starts[idx] + (torch.rand(bs, generator=gen) * counts[idx]).long()
        loss = matching_loss(img_enc(x_train[idx].to(device)), text_enc(t_train[pick].to(device)), c.temperature)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % 100 == 0 or step == c.steps:
            history.append({"step": step, "loss": round(float(loss.detach()), 5)})
    text_enc, img_enc = text_enc.cpu(), img_enc.cpu()
    labels_test = test_rows["label"].to_numpy() if "label" in test_rows else np.arange(len(test_rows))
    scores = retrieval(text_enc, img_enc, x_test, t_test, test_owner, labels_test)

    target = paths.text_encoder_dir(dataset)
    data = paths.pairs_dir(dataset)
    record_meta = {"dataset": dataset, "embed_dim": c.embed_dim, "data_sha256": hash_tree(data)}
    with atomic_dir(target) as tmp:
        save_text_encoder(tmp / "encoder.pt", text_enc, vocab, record_meta)
        write_json(tmp / "encoder.json", {
            "what": "caption encoder for text2img, trained to match captions to their images",
            "objective": "symmetric InfoNCE over the batch's (image, caption) similarity matrix "
                         f"(temperature {c.temperature})",
            "test": scores, "vocab_size": len(vocab), "n_train_images": len(x_train),
            "n_train_captions": len(train_texts), "final_loss": history[-1]["loss"], "history": history,
            "encoder_sha256": sha256_file(tmp / "encoder.pt"), "network": f"TextEncoder {text_enc.config}",
            "params": c.model_dump(mode="json"), **record_meta, "data": str(data),
            "code": code_version(), "packages": package_versions(), "device": str(device),
        })
    print(f"text_encoder: {dataset}: test captions find their own image {scores['recall_at_1']:.1%} of the time "
          f"(top 5: {scores['recall_at_5']:.1%}, chance {scores['chance_recall_at_1']:.2%}); nearest image has the "
          f"caption's class {scores['nearest_image_class_accuracy']:.1%} -> {target}")
