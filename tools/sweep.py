r"""Runs one config over several config arguments and seeds, one workdir each.

    python tools/sweep.py --config configs/gaussian_staircase.py \
        --args infonce nwj tuba dv js smile interpolated mine --root runs/staircase
    python tools/sweep.py --config configs/gaussian_staircase.py --args nwj \
        --seeds 0 1 2 --root runs/nwj_seeds -- --config.total_steps=5000

Workdirs are ROOT/ARG (or ROOT/ARG/seed_N with several seeds). Each run goes through
``python -m trainers.train`` and resumes if its workdir already holds checkpoints, so
an interrupted sweep continues where it stopped. Anything after ``--`` is passed to
every run. Runs go one after another unless ``--parallel`` is larger than 1.
"""

import argparse
import os
import subprocess
import sys
import time

from tfmi.console import Progress

PROGRESS = Progress(stdout=True)  # progress lines, on stdout with the results: the tool's output is its log


def plan(config, args, seeds, root, extra):
    """The (workdir, command) of every run of the sweep."""
    runs = []
    for arg in args or [""]:
        for seed in seeds:
            name = arg.replace(",", "_").replace("=", "-") or "default"
            workdir = os.path.join(root, name)
            if len(seeds) > 1:
                workdir = os.path.join(workdir, f"seed_{seed}")
            spec = f"{config}:{arg}" if arg else config
            command = [
                sys.executable, "-m", "trainers.train", "--config", spec,
                "--workdir", workdir, f"--config.seed={seed}", *extra,
            ]
            runs.append((workdir, command))
    return runs


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    extra = []
    if "--" in argv:
        extra = argv[argv.index("--") + 1 :]
        argv = argv[: argv.index("--")]
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, help="config file, e.g. configs/gaussian_staircase.py")
    parser.add_argument("--args", nargs="*", default=[], help="config arguments, one run each")
    parser.add_argument("--seeds", nargs="*", type=int, default=[0], help="seeds, one run each")
    parser.add_argument("--root", required=True, help="directory that receives one workdir per run")
    parser.add_argument("--parallel", type=int, default=1, help="runs at the same time")
    options = parser.parse_args(argv)
    runs = plan(options.config, options.args, options.seeds, options.root, extra)
    pending, running, failed = list(runs), [], []
    start = time.time()
    while pending or running:
        while pending and len(running) < options.parallel:
            workdir, command = pending.pop(0)
            os.makedirs(workdir, exist_ok=True)
            log = open(os.path.join(workdir, "train.log"), "a")
            PROGRESS(f"[{len(runs) - len(pending)}/{len(runs)}] {' '.join(command[1:])}")
            running.append((workdir, subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT), log))
        for item in list(running):
            workdir, process, log = item
            if process.poll() is not None:
                log.close()
                running.remove(item)
                if process.returncode:
                    failed.append(workdir)
                    PROGRESS(f"FAILED ({process.returncode}): {workdir}; see {workdir}/train.log")
        time.sleep(0.5)
    print(f"{len(runs) - len(failed)}/{len(runs)} runs finished in {time.time() - start:.0f} s.")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
