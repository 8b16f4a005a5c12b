# Snakemake rules derived from dvc.yaml, the one definition of the stage graph: one rule per DVC
# stage, with the same command, inputs and outputs. No logic lives here; each rule calls the CLI.
#
#   snakemake --cores 4 results/pix2pix/fid.json
#
# Reruns: a rule's `params` carry the values of the params.yaml keys its DVC stage declares, so
# Snakemake's params trigger reruns exactly the stages whose params changed, then what follows.
from pathlib import Path


include: "workflow/graph.smk"


# `snakemake --report report.html [target]`: outputs flagged by workflow/graph.smk's REPORT_RULES.
report: "workflow/report/workflow.rst"


def _output(o):
    out = directory(o.path) if o.is_dir else o.path
    return report(out, **o.in_report) if o.in_report else out


rule all:  # the default target: every stage's outputs
    input: [o.path for s in STAGES.values() for o in s.outputs]


for stage_name, stage in STAGES.items():
    rule:
        name: stage_name
        input: stage.inputs
        output: [_output(o) for o in stage.outputs]
        log: f"logs/{stage_name}.log"
        params: values=stage.param_values, cmd=stage.cmd
        threads: stage.threads
        # A constant string: a shell directive is evaluated when the job runs, after this loop has
        # moved on, so anything stage-specific must come in through params (bound now).
        shell: "export GANFLOW_THREADS={threads} OMP_NUM_THREADS={threads}; {params.cmd} 2>&1 | tee {log}"


onsuccess:
    record_with_dvc([name for name, s in STAGES.items() if all(Path(o.path).exists() for o in s.outputs)])
