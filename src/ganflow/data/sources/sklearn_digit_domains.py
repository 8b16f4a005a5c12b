"""scikit-learn's handwritten digits as StarGAN domains: one 0/1 column per digit class.

    datasets:
      digit_domains:
        source: sklearn_digit_domains
        image_size: 16

The 1,797 digits of ``sklearn.datasets.load_digits()`` (8 x 8, intensities 0..16, about 180 per
class) in the "attributes" layout: manifest.csv has ``digit_0`` .. ``digit_9``, exactly one of
them 1 per row, so the domains are mutually exclusive (dataset.json says ``"exclusive": true``;
StarGAN then uses a cross-entropy domain loss, as on RaFD).  Which digits are the domains is
the model's choice (``train.<exp>.net.domains``).  Images: intensity / 16, white ink on black,
upsampled bicubically to image_size by the pairing code; split by the seeded rule.

fetch writes data/raw/<dataset>/digits.npz (images uint8 0..16, target), as the package holds them.
"""
from __future__ import annotations

from pathlib import Path

from ganflow.data import layouts
from ganflow.data.sources import CommonOptions, Source, SplitSpec, register_source
from ganflow.data.sources.sklearn_digits import RAW_FILE, fetch_digits, read_raw

ATTRIBUTES = [f"digit_{d}" for d in range(10)]


def _table(options: CommonOptions, raw_dir: Path, split: SplitSpec) -> layouts.Table:
    images, labels = read_raw(raw_dir)
    rows = [layouts.Row(f"digit_{i:04d}", None, {"image": layouts.Img(f"{RAW_FILE}[{i}]", array=img)},
                        {a: int(label == d) for d, a in enumerate(ATTRIBUTES)})
            for i, (img, label) in enumerate(zip(images, labels))]
    return layouts.Table("attributes", rows, Path(raw_dir), None, channels=1, attributes=list(ATTRIBUTES),
                         extra={"exclusive": True, "attribute_rule": "digit_k is 1 where the label is k"})


register_source(Source(
    name="sklearn_digit_domains",
    description="scikit-learn's 1,797 handwritten 8x8 digits, one 0/1 domain column per class (StarGAN)",
    offline=True,
    size="1,797 images of 8x8, 30 KB",
    licence="UCI optdigits (Alpaydin & Kaynak 1998), CC BY 4.0; shipped with scikit-learn (BSD)",
    fetch=fetch_digits,
    layout="attributes",
    table=_table,
))
