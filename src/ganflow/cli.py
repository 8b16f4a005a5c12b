"""ganflow's one command line: ``ganflow <stage> [--exp NAME | --dataset NAME]``.

Snakemake rules and DVC stages call these subcommands and nothing else.  Each subcommand loads
params.yaml once (validated), runs one stage, and exits non-zero with a readable sentence on error.
"""
from __future__ import annotations

import argparse
import contextlib
import errno
import importlib
import io
import logging
import os
import sys
import time
import traceback
import warnings

from ganflow import __version__
from ganflow.errors import GanflowError, file_being_read

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
    "text_encoder": ("train a captioned set's caption encoder (text2img): data/text_encoders/<dataset>/", "dataset"),
    "reproduce": ("rerun an experiment in a temp place; compare every metric with the recorded one", "exp"),
    "seeds": ("train, sample and evaluate with K seeds: results/<exp>/seeds.json (mean, std, every value)", "exp"),
    "export": ("the test outputs as the course's submission CSV: results/<exp>/submission.csv", "exp"),
    "answer_key": ("staff side: answer key and masked inputs as CSV: data/grading/<dataset>/", "dataset"),
    "grade": ("score a folder of submission CSVs: results/grading/ (leaderboard, findings)", None),
    "summary": ("one experiment at a glance: results/<exp>/summary.md, .html", "exp"),
    "compare": ("all experiments side by side: results/compare/", None),
}


# Tools: subcommands that are not pipeline stages (no params.yaml); each module in stages/ adds
# its own arguments (add_arguments) and runs itself (main).
TOOLS: dict[str, str] = {
    "fid": "FID of two image folders, or a folder and an .npz stats file (like pytorch-fid)",
    "list": "models, dataset sources, data sets and experiments",
    "doctor": "check torch, device, weights, dvc, disk; say what to fix",
    "translate": "run a trained model on your own images (a file or a folder)",
    "generate": "new images from a trained model (-n N, --class, --caption)",
    "graph": "derive the stage graph from params.yaml and the code; write dvc.yaml (--check, --list)",
    "tables": "the README's measured-number tables from results/ (each value [low, high], baselines, seed spread, machine)",
}
TOOL_MODULES = {"list": "listing"}  # a tool whose module name differs from its command


def _env_threads() -> int | None:
    value = os.environ.get("GANFLOW_THREADS", "")
    return int(value) if value.isdigit() and int(value) > 0 else None


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ganflow", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"ganflow {__version__}")
    loud = parser.add_mutually_exclusive_group()
    loud.add_argument("-q", "--quiet", action="store_true", help="no progress bars or progress lines; errors only")
    loud.add_argument("-v", "--verbose", action="store_true",
                      help="also timings, warnings, debug logs and where an error was raised")
    sub = parser.add_subparsers(dest="stage", required=True, metavar="STAGE")
    for name, (help_text, target) in STAGES.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
        if target:
            p.add_argument(f"--{target}", required=True, help=f"the {target} name in params.yaml")
        if name == "train":
            p.add_argument("--force", action="store_true", help="discard a resume checkpoint made with other params")
        if name == "reproduce":
            p.add_argument("--tolerance", type=float, default=None,
                           help="relative tolerance per number (default: bit for bit where this machine's "
                                "numerics match the record, else the recorded seed spread, else 5%%)")
            p.add_argument("--keep", action="store_true", help="keep the temporary workspace for inspection")
        if name == "seeds":
            p.add_argument("-k", type=int, default=3, help="how many seeds: train.<exp>.seed + 0..k-1 (default 3)")
        if name in ("pair", "mask"):
            p.add_argument("--workers", type=_positive_int, default=_env_threads(),
                           help="worker processes for the images (default: $GANFLOW_THREADS, which Snakemake "
                                "sets per job, else every core); the output is the same for any number")
        if name in ("train", "sample", "evaluate", "classifier", "text_encoder", "seeds"):
            p.add_argument("--threads", type=int, default=_env_threads(),
                           help="torch CPU threads (default: $GANFLOW_THREADS, which Snakemake sets per job)")
    for name, help_text in TOOLS.items():
        importlib.import_module(f"ganflow.stages.{TOOL_MODULES.get(name, name)}").add_arguments(
            sub.add_parser(name, help=help_text, description=help_text))
    return parser


def run(argv: list[str] | None = None) -> int:
    """Run one command and return 0; ganflow's errors propagate as exceptions (notebooks, tests,
    drivers that call ganflow in-process catch ``GanflowError``)."""
    args = build_parser().parse_args(argv)
    with _verbosity(args.quiet, args.verbose, args.stage):
        return _run(args)


def main(argv: list[str] | None = None) -> int:
    """The console script: every error becomes one sentence on stderr and an exit code.

    1: a ganflow error (bad params, missing input, corrupt file: the message says which and what
    to do); 70 (EX_SOFTWARE): anything else escaped, which is a ganflow bug or an input nobody
    foresaw: the message names the command and the file it was reading, ``-v`` shows the traceback;
    130: interrupted.  argparse's own usage errors keep their exit code 2."""
    argv = sys.argv[1:] if argv is None else list(argv)
    command = _command_name(argv)
    try:
        return run(argv)
    except GanflowError as e:
        print(f"ganflow {command}: {_without_prefix(str(e), command)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"ganflow {command}: interrupted; finished outputs were left untouched", file=sys.stderr)
        return 130
    except Exception as e:  # the last resort: no bare traceback for anything a user can type
        where = file_being_read(e)
        print(f"ganflow {command}: unexpected {type(e).__name__}"
              + (f" while reading {where}" if where else "") + f": {e}\n"
              "This is a bug in ganflow or an input it does not know how to refuse; rerun with -v "
              "for the traceback and report it.", file=sys.stderr)
        return 70


def _command_name(argv: list[str]) -> str:
    """The subcommand in argv (for messages), without parsing it twice."""
    names = set(STAGES) | set(TOOLS)
    return next((a for a in argv if a in names), "")


def _without_prefix(message: str, command: str) -> str:
    """Library messages often start with the stage's name already ("pair: ..."): don't say it twice."""
    prefix = f"{command}: "
    return message[len(prefix):] if command and message.startswith(prefix) else message


@contextlib.contextmanager
def _verbosity(quiet: bool, verbose: bool, stage: str):
    """--quiet: every tqdm bar off (TQDM_DISABLE, also in child processes) and stdout silenced;
    errors still reach stderr.  --verbose: debug logging, Python warnings, the time taken, and
    the traceback of an error (where it was raised), not only its sentence."""
    if quiet:
        before = os.environ.get("TQDM_DISABLE")
        os.environ["TQDM_DISABLE"] = "1"
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                yield
        finally:  # main() may be called in-process (tests, notebooks): leave the environment as it was
            if before is None:
                del os.environ["TQDM_DISABLE"]
            else:
                os.environ["TQDM_DISABLE"] = before
        return
    if not verbose:
        yield
        return
    root = logging.getLogger()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    t0 = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("default")
            yield
    except BaseException:
        traceback.print_exc()
        raise
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        print(f"ganflow {stage}: {time.perf_counter() - t0:.1f} s", file=sys.stderr)


def _run(args: argparse.Namespace) -> int:
    if args.stage in TOOLS:
        return importlib.import_module(f"ganflow.stages.{TOOL_MODULES.get(args.stage, args.stage)}").main(args)
    from ganflow.params import load_params

    from ganflow.locks import stage_lock

    params = load_params(args.params)
    # Under `dvc repro`, a dvc.yaml that no longer matches params.yaml would run a graph that lies
    # about what is stale: refuse before anything is built.
    from ganflow.stages.graph import check_when_run_by_dvc

    check_when_run_by_dvc(params, args.params)
    stage = importlib.import_module(f"ganflow.stages.{args.stage}")
    kwargs = {k: v for k, v in vars(args).items() if k not in ("stage", "params", "quiet", "verbose")}
    target = kwargs.get("exp") or kwargs.get("dataset")
    try:
        with stage_lock(args.stage, target):
            stage.run(params, **kwargs)
    except OSError as e:
        if e.errno == errno.ENOSPC:
            # Outputs are written to temporary names first: nothing half-written is left under a final name.
            raise GanflowError(f"the disk is full ({e.filename or 'while writing'}); "
                               "free some space and rerun: finished outputs were left untouched") from None
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
