# One rule per stage of the derived graph (src/ganflow/stages/graph.py): the same stages, commands,
# inputs, outputs and params that `ganflow graph` writes into dvc.yaml. No logic lives here; each
# rule calls the CLI.
#
#   snakemake --cores 4 results/pix2pix/fid.json
#
# Reruns: a rule's params carry the resolved value (defaults applied) of every params key its
# stage reads, and its inputs include every source file it runs, so a change reruns exactly the
# stages that read it, then what follows.
include: "workflow/common.smk"


# `snakemake --report report.html [target]`: outputs flagged by workflow/common.smk's REPORT_RULES.
report: "workflow/report/workflow.rst"


rule all:  # the default target: every stage's outputs
    input: [o.path for s in STAGES.values() for o in s.outs]


for stage in STAGES.values():
    rule:
        name: stage.name
        input: stage.deps
        output: [rule_output(o) for o in stage.outs]
        log: f"logs/{stage.name}.log"
        params: values=json.dumps(PARAM_VALUES[stage.name], sort_keys=True), cmd=stage.cmd
        threads: kind_threads(stage.kind)
        resources: **KINDS.get(stage.kind, {}).get("resources", {})
        # A constant string: a shell directive is evaluated when the job runs, after this loop has
        # moved on, so anything stage-specific must come in through params (bound now). The last
        # command marks the stage as built by this run (only those are recorded in dvc.lock).
        shell: "export GANFLOW_THREADS={threads} OMP_NUM_THREADS={threads}; {params.cmd} 2>&1 | tee {log}; "
               + MARK_BUILT


onsuccess:
    record_with_dvc(built_by_this_run())


onerror:  # the jobs that did finish are real results: record them too
    record_with_dvc(built_by_this_run())
