"""ganflow's one command line: ``ganflow <stage> [--exp NAME | --dataset NAME]``.

Snakemake rules and DVC stages call these subcommands and nothing else.  Each subcommand loads
params.yaml once (validated), runs one stage, and exits non-zero with a readable sentence on error.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys

from ganflow import __version__

# stage -> (one-line help, the argument that names what it works on)
STAGES: dict[str, tuple[str, str]] = {
    "fetch": ("bring a data set's raw files into data/raw/<dataset>/", "dataset"),
    "pair": ("resize, check and split raw images into data/pairs/<dataset>/", "dataset"),
    "mask": ("paint mouths white: data/masked/<dataset>/ (homework layout)", "dataset"),
    "weights": ("get the FID Inception weights into data/weights/ (sha256-checked)", None),
    "train": ("train an experiment's GAN: results/<exp>/model/, losses.csv", "exp"),
    "sample": ("run the generator on every test input: results/<exp>/samples/", "exp"),
    "evaluate": ("FID and RMSE of the samples: results/<exp>/fid.json, rmse.json", "exp"),
    "plot": ("loss curves and sample grids: results/<exp>/plots/", "exp"),
    "classifier": ("train a labelled set's domain classifier: data/classifiers/<dataset>/", "dataset"),
    "export": ("the test outputs as the course's submission CSV: results/<exp>/submission.csv", "exp"),
    "answer_key": ("staff side: answer key and masked inputs as CSV: data/grading/<dataset>/", "dataset"),
    "grade": ("score a folder of submission CSVs: results/grading/ (leaderboard, findings)", None),
}


# Tools: subcommands that are not pipeline stages (no params.yaml); each module in stages/ adds
# its own arguments (add_arguments) and runs itself (main).
TOOLS: dict[str, str] = {
    "fid": "FID of two image folders, or a folder and an .npz stats file (like pytorch-fid)",
}


def _env_threads() -> int | None:
    value = os.environ.get("GANFLOW_THREADS", "")
    return int(value) if value.isdigit() and int(value) > 0 else None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ganflow", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"ganflow {__version__}")
    sub = parser.add_subparsers(dest="stage", required=True, metavar="STAGE")
    for name, (help_text, target) in STAGES.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
        if target:
            p.add_argument(f"--{target}", required=True, help=f"the {target} name in params.yaml")
        if name == "train":
            p.add_argument("--force", action="store_true", help="discard a resume checkpoint made with other params")
        if name in ("train", "sample", "evaluate", "classifier"):
            p.add_argument("--threads", type=int, default=_env_threads(),
                           help="torch CPU threads (default: $GANFLOW_THREADS, which Snakemake sets per job)")
    for name, help_text in TOOLS.items():
        importlib.import_module(f"ganflow.stages.{name}").add_arguments(
            sub.add_parser(name, help=help_text, description=help_text))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.stage in TOOLS:
        return importlib.import_module(f"ganflow.stages.{args.stage}").main(args)
    from ganflow.params import load_params

    params = load_params(args.params)
    stage = importlib.import_module(f"ganflow.stages.{args.stage}")
    kwargs = {k: v for k, v in vars(args).items() if k not in ("stage", "params")}
    stage.run(params, **kwargs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
