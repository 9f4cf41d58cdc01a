r"""What the speed benchmarks in tools/ share: the machine, memory, timing, tables and
measurements in a fresh process.

- ``machine_info``: what timings depend on (CPU model and cores, the 1-minute load
  average, Python, platform; GPUs and library versions).
- Memory in MiB: ``current_rss_mib``, ``peak_rss_mib`` (ru_maxrss), ``reset_peak_rss``
  with ``peak_rss_since_reset_mib`` (Linux VmHWM), and ``peak_memory_mib`` (the GPU
  allocator's peak where TensorFlow sees a GPU, else the process's peak RSS).
- ``time_steps(run_steps, seconds, repeats)``: steps/s of a loop of training steps. One
  call traces; the number of steps n per call is grown 4-fold until a call takes a
  quarter of ``seconds``, then set so that a call takes about ``seconds``; of
  ``repeats`` calls of n steps, the fastest gives the rate and

      CPU share = process CPU seconds / wall seconds / usable cores

  (near 1 when the process had the machine; lower when other work took cores).
- ``run_worker`` / ``print_result``: one measurement in a fresh Python process, so its
  memory is its own; the child prints its record as one JSON line.
- ``markdown_table``, ``write_report`` (a report printed and written as .md and .json),
  ``format_seconds``; progress lines are ``tfmi.console.progress``.
"""

import argparse
import json
import os
import pathlib
import platform
import resource
import statistics
import subprocess
import sys
import time

from tfmi.console import progress
from tfmi.json_files import write_json

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
RESULT_PREFIX = "RESULT "


# --- the machine ----------------------------------------------------------------------


def usable_cpus():
    """CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def load_average():
    """The 1-minute load average (runnable processes), None where the OS has none."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else None


def machine_info(libraries=False):
    """The CPU (cores, usable cores, model), the load average now, with ``libraries`` the
    GPUs TensorFlow sees and the versions of TensorFlow, Keras and NumPy, then Python and
    the platform."""
    cpu_model = platform.processor()
    if os.path.exists("/proc/cpuinfo"):
        with open("/proc/cpuinfo") as cpuinfo:
            names = [line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")]
        cpu_model = names[0] if names else cpu_model
    info = {
        "cpu_count": os.cpu_count(),
        "cpus_usable": usable_cpus(),
        "cpu_model": cpu_model,
        "load_average_1m_at_start": load_average(),
    }
    if libraries:
        import keras
        import numpy as np
        import tensorflow as tf

        info.update(gpus=len(tf.config.list_physical_devices("GPU")), tensorflow=tf.__version__,
                    keras=keras.__version__, numpy=np.__version__)
    return {**info, "python": platform.python_version(), "platform": platform.platform()}


# --- memory ---------------------------------------------------------------------------


def current_rss_mib():
    """This process's resident set size now (Linux /proc), in MiB; None elsewhere."""
    try:
        with open("/proc/self/statm") as handle:
            pages = int(handle.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return None


def peak_rss_mib():
    """This process's peak resident set size so far, in MiB (ru_maxrss: KiB on Linux,
    bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024.0


def reset_peak_rss():
    """Resets this process's peak RSS (Linux: "5" to /proc/self/clear_refs resets VmHWM).

    Returns False where that is not possible; the peak then includes everything since
    the process started."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def peak_rss_since_reset_mib():
    """VmHWM of /proc/self/status (the peak RSS since the last reset), in MiB; else ru_maxrss."""
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return float(line.split()[1]) / 1024.0
    except (OSError, ValueError, IndexError):
        pass
    return peak_rss_mib()


def peak_memory_mib():
    """(peak memory in MiB, what it measures): the GPU allocator's peak since its last
    reset where TensorFlow sees a GPU, else this process's peak RSS."""
    import tensorflow as tf

    if tf.config.list_physical_devices("GPU"):
        return tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20, "GPU peak (MiB)"
    return peak_rss_mib(), "process peak RSS (MiB)"


# --- timing ---------------------------------------------------------------------------


def timed_call(run_steps, steps):
    """Wall-clock and process CPU seconds of ``run_steps(steps)``."""
    wall, cpu = time.perf_counter(), time.process_time()
    run_steps(steps)
    return {"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu}


def time_steps(run_steps, seconds, repeats):
    """Steps/s of ``run_steps(n)`` (runs n steps and waits for them), as the module
    docstring says. Returns trace_seconds (the first call, of one step), steps_per_call,
    calls (each call's wall and CPU seconds), rate (the best call's steps/s),
    rate_median and cpu_share."""
    trace_seconds = timed_call(run_steps, 1)["wall"]
    steps, elapsed = 1, 0.0
    while elapsed < seconds / 4:
        steps *= 4
        elapsed = timed_call(run_steps, steps)["wall"]
    steps = max(1, round(steps * seconds / elapsed))
    calls = [timed_call(run_steps, steps) for _ in range(repeats)]
    best = min(calls, key=lambda call: call["wall"])
    return {
        "trace_seconds": trace_seconds,
        "steps_per_call": steps,
        "calls": calls,
        "rate": steps / best["wall"],
        "rate_median": steps / statistics.median(call["wall"] for call in calls),
        "cpu_share": best["cpu"] / best["wall"] / usable_cpus(),
    }


# --- a measurement in a fresh process --------------------------------------------------


def print_result(record):
    """Prints ``record`` as the line that ``run_worker`` reads."""
    print(RESULT_PREFIX + json.dumps(record), flush=True)


def run_worker(script, arguments, timeout=None):
    """Runs ``python script *arguments`` in a fresh process with this repository on
    PYTHONPATH; returns the record of the last line its ``print_result`` printed.

    Raises RuntimeError holding the end of its stderr when it fails, prints no record
    or runs past ``timeout`` seconds."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO_ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    command = [sys.executable, str(script), *map(str, arguments)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"ran past the timeout of {timeout} s") from None
    lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    if done.returncode or not lines:
        tail = (done.stderr or done.stdout).strip()[-2000:]
        raise RuntimeError(tail or f"exit status {done.returncode}")
    return json.loads(lines[-1][len(RESULT_PREFIX):])


# --- reporting ------------------------------------------------------------------------


HAND_WRITTEN_START = "<!-- Hand-written section"
HAND_WRITTEN_END = "<!-- End of the hand-written section -->"


def write_markdown(path, markdown):
    """Writes a benchmark's generated ``markdown`` (its first line the page's title) to
    ``path``, keeping the hand-written section of the page already there: the lines from
    one starting with ``HAND_WRITTEN_START`` to ``HAND_WRITTEN_END``, put back under the
    title."""
    kept = ""
    if os.path.exists(path):
        with open(path) as handle:
            old = handle.read()
        start, end = old.find(HAND_WRITTEN_START), old.find(HAND_WRITTEN_END)
        if 0 <= start < end:
            kept = old[start : end + len(HAND_WRITTEN_END)] + "\n\n"
    title, _, rest = markdown.partition("\n")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as handle:
        handle.write(f"{title}\n\n{kept}{rest.lstrip()}")


def markdown_table(header, rows):
    """A markdown table from a header list and rows of cell strings."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def write_report(out, markdown, fields):
    """A benchmark's report: ``markdown`` printed and written to OUT.md (``write_markdown``),
    ``fields`` written to OUT.json, then a progress line naming both files."""
    print(markdown)
    write_markdown(f"{out}.md", markdown)
    write_json(fields, f"{out}.json")
    progress(f"Wrote {out}.md and {out}.json")


def format_seconds(seconds):
    """``seconds`` as "MmSSs"."""
    minutes, seconds = divmod(int(seconds), 60)
    return f"{minutes}m{seconds:02d}s"


def comma_list(kind):
    """An argparse type: "a,b" -> [kind("a"), kind("b")], blank items dropped."""
    return lambda text: [kind(item.strip()) for item in text.split(",") if item.strip()]


def seeded_parser(description, tasks, n_help, name):
    """The command line of a benchmark over tasks x data seeds: --tasks (default
    ``tasks``), --n (5,000; ``n_help``), --seeds (0-19), --results (bench_NAME_runs.json,
    resumable), --out (docs/bench_NAME); the tool adds its own options."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=comma_list(str), default=list(tasks))
    parser.add_argument("--n", type=int, default=5000, help=f"{n_help} (default 5,000)")
    parser.add_argument("--seeds", type=comma_list(int), default=list(range(20)), help="data seeds (default 0-19)")
    parser.add_argument("--results", default=f"bench_{name}_runs.json", help="JSON of every run (resumable)")
    parser.add_argument("--out", default=f"docs/bench_{name}", help="report path without extension")
    return parser
