r"""Builds docs/reproduction.md, the reproduction report of Tschannen et al. (2020) and
Sordoni et al. (2021), from the per-seed files under docs/reproduction_runs/.

    # Tschannen et al.: write the per-seed JSON of every finished run below the roots
    python tools/reproduction_report.py --export runs/tsch_fig3_seeds runs/tsch_noniid_seeds \
        runs/tsch_fig2_seeds runs/tsch_fig4_seeds --sweep-log runs/tsch_fig3.log runs/tsch_more.log \
        --commit fac427b
    # Fig. 1's one seed, from its plot_tschannen --table JSON (its workdirs are gone)
    python tools/reproduction_report.py --export-table docs/tschannen_fig1_reduced_table.json
    # DEMI's Fig. 2 (bottom): its runs' per-seed JSON (DEMI runs go to RUNS/demi_synthetic)
    python tools/reproduction_report.py --export runs/demi_seeds/demi_bo_bottom_* \
        --sweep-log runs/demi_bottom.log --commit fac427b
    # the wall time of runs exported by other tools (staircase, DEMI's top), from their workdirs
    python tools/reproduction_report.py --wall-times runs/staircase_seeds runs/demi_seeds
    # the report alone (every call ends with it)
    python tools/reproduction_report.py

``--export``: a run is exported once it is trained to its config's total_steps and, for
image-halves runs, evaluated at that step (tools/eval_checkpoints.py); others, and roots
that do not exist yet, are listed and skipped, so the command can be rerun as sweeps
finish. Files go to RUNS/tschannen/FIGURE/RUN/seed_N.json (FIGURE fig1-fig4 or noniid,
RUN the workdir's folder), or RUNS/demi_synthetic/RUN/seed_N.json for DEMI's runs.
``--sweep-log``: tools/sweep.py logs, to record each run's exact config argument
and extra flags in its command. ``--wall-times`` writes WALL_TIMES (JSON), which the
report's "CPU hours" reads beside the Tschannen files' own wall times.

The report keeps its hand-written section (between "<!-- Hand-written section" and
"<!-- End of the hand-written section -->", tfmi.evaluation.benchmarking.write_markdown).
Library: tfmi.evaluation.reproduction (statistics, claims over seeds, tables).
"""

import argparse
import datetime
import json
import os

from tfmi.console import progress
from tfmi.evaluation import reproduction
from tfmi.evaluation.benchmarking import write_markdown
from tfmi.json_files import write_json
from tfmi.workdir import WorkdirError, find_workdirs


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", default="docs/reproduction_runs", help="the per-seed folders")
    parser.add_argument("--out", default="docs/reproduction.md", help="the report")
    parser.add_argument("--experiments", default="docs/experiments.md", help="the one-seed claims table")
    parser.add_argument("--export", nargs="*", default=[], help="roots (or workdirs) of Tschannen et al. runs")
    parser.add_argument("--sweep-log", nargs="*", default=[], help="tools/sweep.py logs of those runs")
    parser.add_argument("--commit", default=None, help="the commit the runs ran from")
    parser.add_argument("--export-table", default=None, help="a one-seed plot_tschannen --table JSON")
    parser.add_argument("--table-command", default=None,
                        help="the command that regenerates --export-table's runs (default: the figure's own)")
    parser.add_argument("--wall-times", nargs="*", default=[], help="roots whose workdirs' wall time to measure")
    parser.add_argument("--wall-times-file", default="docs/reproduction_runs/tschannen/wall_times.json",
                        help="where --wall-times writes and the report reads")
    args = parser.parse_args(argv)
    tschannen = os.path.join(args.runs, "tschannen")
    roots = [root for root in args.export if os.path.exists(root)]
    for root in sorted(set(args.export) - set(roots)):
        progress(f"skipped {root}: it does not exist (yet)")
    if roots:
        try:
            workdirs = find_workdirs(roots)
        except WorkdirError as error:
            raise SystemExit(f"error: {error}") from None
        written, skipped = reproduction.export_runs(workdirs, args.runs, args.sweep_log, args.commit)
        for workdir, why in skipped:
            progress(f"skipped {workdir}: {why}")
        progress(f"wrote {len(written)} per-seed files under {args.runs} ({len(skipped)} runs skipped)")
    if args.export_table:
        written = reproduction.export_table_seeds(args.export_table, tschannen, args.table_command)
        progress(f"wrote {len(written)} one-seed files from {args.export_table}")
    if args.wall_times:
        measured = reproduction.measure_wall_times(args.wall_times)
        os.makedirs(os.path.dirname(os.path.abspath(args.wall_times_file)), exist_ok=True)
        write_json({"measured": datetime.date.today().isoformat(), "roots": measured}, args.wall_times_file)
        progress(f"wrote {args.wall_times_file} ({', '.join(measured)})")
    wall_times = None
    if os.path.exists(args.wall_times_file):
        with open(args.wall_times_file) as handle:
            wall_times = json.load(handle)
    docs = os.path.dirname(os.path.abspath(args.out))
    markdown = reproduction.build_report(args.runs, docs, args.experiments, wall_times)
    write_markdown(args.out, markdown)
    progress(f"wrote {args.out}")


if __name__ == "__main__":
    main()
