"""CelebA, aligned and cropped: 202,599 faces (178 x 218 JPEG), 40 binary attributes, landmarks.

    datasets:
      celeba:
        source: celeba
        image_size: 128
        options:
          attributes: [Black_Hair, Blond_Hair, Brown_Hair, Male, Young]   # StarGAN's five
          max_images: 20000                                               # optional cap

Four files from the authors' Google Drive, md5-pinned as torchvision pins them
(torchvision/datasets/celeba.py); Drive's "can't scan for viruses" page is followed by
data/download.py.  ``pair`` writes the "attributes" layout (one 0/1 column per selected
attribute, from the file's -1/1), keeps the official partition (0 train, 1 val, 2 test), and
writes landmarks.csv with the mouth corners moved into the resized image, which
``mask.<dataset>.method: landmarks`` reads.
"""
from __future__ import annotations

from pathlib import Path

from pydantic import field_validator

from ganflow.data import layouts
from ganflow.data.layouts import Problem
from ganflow.data.sources import Source, SplitSpec, register_source
from ganflow.data.sources.common import ArchiveOptions, RemoteFile, extract, fetch_remote, place
from ganflow.errors import DataError

IMAGES = RemoteFile("img_align_celeba.zip", md5="00d2c5bc6d35e252742224ab0c1e8fcb",
                    gdrive="0B7EVK8r0v71pZjFTYXZWM3FlRnM")
ATTRS = RemoteFile("list_attr_celeba.txt", md5="75e246fa4810816ffd6ee81facbd244c",
                   gdrive="0B7EVK8r0v71pblRyaVFSWGxPY0U")
LANDMARKS = RemoteFile("list_landmarks_align_celeba.txt", md5="cc24ecafdb5b50baae59b03474781f8c",
                       gdrive="0B7EVK8r0v71pd0FJY3Blby1HUTQ")
PARTITION = RemoteFile("list_eval_partition.txt", md5="d32c9cbf5e040fd4025c592c306e6668",
                       gdrive="0B7EVK8r0v71pY0NSMzRuSXJEVkk")
FILES = (IMAGES, ATTRS, LANDMARKS, PARTITION)

ATTRIBUTES = (
    "5_o_Clock_Shadow", "Arched_Eyebrows", "Attractive", "Bags_Under_Eyes", "Bald", "Bangs", "Big_Lips",
    "Big_Nose", "Black_Hair", "Blond_Hair", "Blurry", "Brown_Hair", "Bushy_Eyebrows", "Chubby", "Double_Chin",
    "Eyeglasses", "Goatee", "Gray_Hair", "Heavy_Makeup", "High_Cheekbones", "Male", "Mouth_Slightly_Open",
    "Mustache", "Narrow_Eyes", "No_Beard", "Oval_Face", "Pale_Skin", "Pointy_Nose", "Receding_Hairline",
    "Rosy_Cheeks", "Sideburns", "Smiling", "Straight_Hair", "Wavy_Hair", "Wearing_Earrings", "Wearing_Hat",
    "Wearing_Lipstick", "Wearing_Necklace", "Wearing_Necktie", "Young",
)
LANDMARK_COLUMNS = ("lefteye_x", "lefteye_y", "righteye_x", "righteye_y", "nose_x", "nose_y",
                    "leftmouth_x", "leftmouth_y", "rightmouth_x", "rightmouth_y")
PARTITION_SPLIT = {"0": "train", "1": "val", "2": "test"}


class CelebAOptions(ArchiveOptions):
    attributes: list[str] = ["Black_Hair", "Blond_Hair", "Brown_Hair", "Male", "Young"]

    @field_validator("attributes")
    @classmethod
    def _known(cls, v: list[str]) -> list[str]:
        unknown = [a for a in v if a not in ATTRIBUTES]
        if unknown:
            raise ValueError(f"unknown CelebA attribute(s) {unknown}; known: {list(ATTRIBUTES)}")
        if not v or len(set(v)) != len(v):
            raise ValueError("must list at least one attribute, each once")
        return v


def _fetch(options: CelebAOptions, raw_dir: Path, downloads: Path) -> list[dict]:
    records = []
    for f in FILES:
        path, record = fetch_remote(f, [], options, downloads / "celeba")
        records.append(record)
        if f is IMAGES:
            extract(path, raw_dir / "data", options)
        else:
            place(path, raw_dir / f.name)
    if not (raw_dir / "data" / "img_align_celeba").is_dir():
        raise DataError(f"fetch: {IMAGES.name} has no img_align_celeba/ folder")
    return records


def read_table_file(path: Path, header: tuple[str, ...] | None) -> dict[str, list[str]]:
    """CelebA's text lists: [count line, header line,] then "<file> v1 v2 ..." rows.

    Returns {file: values}; a wrong header, row width or count is an error naming the line.
    """
    lines = path.read_text().splitlines()
    rows_from = 0
    if header is not None:
        if len(lines) < 2 or tuple(lines[1].split()) != header:
            raise DataError(f"pair: {path}: line 2 should be the header {' '.join(header)}")
        rows_from = 2
    out, width = {}, None if header is None else len(header) + 1
    for n, line in enumerate(lines[rows_from:], start=rows_from + 1):
        parts = line.split()
        if not parts:
            continue
        if width is None:
            width = len(parts)
        if len(parts) != width:
            raise DataError(f"pair: {path}, line {n}: {len(parts)} fields, expected {width}")
        out[parts[0]] = parts[1:]
    if header is not None and lines[0].strip().isdigit() and int(lines[0]) != len(out):
        raise DataError(f"pair: {path}: line 1 announces {lines[0].strip()} rows, found {len(out)}")
    return out


def _table(options: CelebAOptions, raw_dir: Path, split: SplitSpec) -> layouts.Table:
    partition = read_table_file(raw_dir / PARTITION.name, None)
    attrs = read_table_file(raw_dir / ATTRS.name, ATTRIBUTES)
    marks = read_table_file(raw_dir / LANDMARKS.name, LANDMARK_COLUMNS)
    images = raw_dir / "data" / "img_align_celeba"
    cols = [ATTRIBUTES.index(a) for a in options.attributes]
    rows, problems = [], []
    for name, (part,) in sorted(partition.items()):
        path = images / name
        missing = [f.name for f, table in ((ATTRS, attrs), (LANDMARKS, marks)) if name not in table]
        if part not in PARTITION_SPLIT:
            problems.append(Problem(f"{raw_dir / PARTITION.name}", f"{name}: partition {part!r} is not 0, 1 or 2"))
        elif missing:
            problems.append(Problem(str(path), f"not listed in {', '.join(missing)}"))
        elif not path.is_file():
            problems.append(Problem(str(path), f"listed in {PARTITION.name} but not in {IMAGES.name}"))
        else:
            values = attrs[name]
            if any(values[c] not in ("1", "-1") for c in cols):
                problems.append(Problem(str(path), f"attribute values {[values[c] for c in cols]} are not -1/1"))
                continue
            lm = [float(v) for v in marks[name][6:10]]   # leftmouth x, y, rightmouth x, y
            rows.append(layouts.Row(layouts.safe_id(Path(name).stem), PARTITION_SPLIT[part],
                                    {"image": layouts.Img(str(path), path)},
                                    {a: int(values[c] == "1") for a, c in zip(options.attributes, cols)},
                                    landmarks=(lm[0], lm[1], lm[2], lm[3])))
    return layouts.Table("attributes", rows, raw_dir, "upstream: list_eval_partition.txt (0 train, 1 val, 2 test)",
                         channels=3, attributes=list(options.attributes), problems=problems)


register_source(Source(
    name="celeba",
    description="CelebA aligned & cropped faces with 40 attributes, landmarks and the official partition",
    offline=False,
    size="img_align_celeba.zip ~1.4 GB (202,599 JPEGs, 178x218) + three text lists ~30 MB",
    licence="non-commercial research and educational use only (CelebA agreement, MMLAB CUHK)",
    fetch=_fetch,
    layout="attributes",
    urls=tuple(f"https://drive.google.com/uc?export=download&id={f.gdrive}" for f in FILES),
    options=CelebAOptions,
    table=_table,
))
