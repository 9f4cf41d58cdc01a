"""The start-up of a multi-worker run: every worker greets every other one before
TensorFlow starts, within a deadline (no TensorFlow here).

MultiWorkerMirroredStrategy waits inside TensorFlow until every task has registered:
without a bound, deaf to Python's signal handlers, and with TensorFlow's own SIGTERM
handler swallowing SIGTERM. So ``wait_for_workers`` waits first, in Python. Each
worker listens on its own port and connects to every other task's address; both ends
of a connection send one line and read the other's:

    tfmi-startup/1 <cluster digest> <job> <index> <process token>

A task has started once a greeting from it arrived, on either end (so a worker that
saw all the others and went on to TensorFlow was seen by them too). A greeting

  - carrying this process's own token: two names in TF_CONFIG reach this one process;
  - with another cluster digest: the workers were given different TF_CONFIG clusters;
  - from a task other than the one its address names: two names reach one worker;

is a mistake in TF_CONFIG and fails at once (ValueError). An address that accepts
connections but does not greet (another program holds the port, or a stale TensorFlow
server) is waited for like an absent one, and named as such when the deadline passes.
SIGTERM / SIGINT end the wait at once (``StartupInterrupted``).

TensorFlow's own wait that follows is short when every worker greeted; ``kill_after``
bounds it too (a worker may die in between).
"""

import contextlib
import hashlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import NamedTuple

from absl import logging

from tfmi import reachability

__all__ = ["StartupInterrupted", "Greeting", "wait_for_workers", "kill_after"]

PROTOCOL = "tfmi-startup/1"
PROBE_SECONDS = 1.0  # longest wait for one greeting
ROUND_SECONDS = 0.2  # pause between rounds of probes


class StartupInterrupted(Exception):
    """SIGTERM or SIGINT arrived while a multi-worker start-up was waiting for its workers.

    ``exit_status`` is the shell's convention for a process ended by that signal
    (128 + signal number: 130 for SIGINT, 143 for SIGTERM).
    """

    def __init__(self, signum):
        self.signum = signum
        self.exit_status = 128 + signum
        super().__init__(
            f"stopped by {signal.Signals(signum).name} while waiting for the other workers, "
            "before any training step; nothing was written. Run the same command again to start."
        )


class Greeting(NamedTuple):
    """What one worker tells another when they connect."""

    cluster: str  # digest of TF_CONFIG's cluster
    job: str
    index: int
    token: str  # random per process: tells this process from another

    @staticmethod
    def of(config, token):
        cluster = hashlib.sha256(json.dumps(config["cluster"], sort_keys=True).encode()).hexdigest()[:16]
        return Greeting(cluster, config["task"]["type"], config["task"]["index"], token)

    def line(self):
        return f"{PROTOCOL} {self.cluster} {self.job} {self.index} {self.token}\n".encode()

    @staticmethod
    def parse(data):
        """The Greeting in ``data``, or None when it is not one."""
        parts = data.decode("ascii", "replace").split()
        if len(parts) != 5 or parts[0] != PROTOCOL or not parts[3].isdigit():
            return None
        return Greeting(parts[1], parts[2], int(parts[3]), parts[4])

    def task(self):
        return f"{self.job} {self.index}"


def _exchange(connection, hello, timeout):
    """Sends ``hello`` on ``connection`` and returns the peer's Greeting, or the reason
    there was none (a string)."""
    connection.settimeout(timeout)
    data = b""
    try:
        connection.sendall(hello.line())
        while not data.endswith(b"\n") and len(data) < 256:
            chunk = connection.recv(256)
            if not chunk:
                break
            data += chunk
    except socket.timeout:
        pass  # the wait for the rest is over: what arrived is read below
    except OSError as error:
        return f"the connection failed ({error.strerror or type(error).__name__})"
    greeting = Greeting.parse(data)
    if greeting is not None:
        return greeting
    if data:
        return "the port answers but not with a tfmi worker's greeting: another program holds it"
    return "the port accepts connections but sends no tfmi greeting: another program holds it"


def _probe(address, hello, timeout):
    """The Greeting of the worker at ``address``, or why there was none."""
    try:
        with socket.create_connection(reachability.split_address(address), timeout=timeout) as connection:
            return _exchange(connection, hello, timeout)
    except OSError as error:
        return error.strerror or type(error).__name__


class _Listener:
    """This task's port, answering every connection with its greeting (a thread)."""

    def __init__(self, address, hello):
        self.hello = hello
        self.greeted = set()  # "job index" of the tasks that greeted this one
        self.problems = []  # ValueErrors found by the thread, raised by the waiter
        self.lock = threading.Lock()
        self.socket = _listen(address)
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stopped.is_set():
            try:
                connection, _ = self.socket.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with connection:
                answer = _exchange(connection, self.hello, PROBE_SECONDS)
            if isinstance(answer, Greeting) and answer.token != self.hello.token:
                with self.lock:
                    if answer.cluster != self.hello.cluster:
                        self.problems.append(_other_cluster(f"{answer.task()} (connecting from it)"))
                    self.greeted.add(answer.task())

    def close(self):
        self.stopped.set()
        self.socket.close()
        self.thread.join(PROBE_SECONDS + 1.0)


def _listen(address):
    """A listening socket on the port of this task's ``address`` (all interfaces, as
    TensorFlow's server binds it); ValueError when another process holds the port."""
    _, port = reachability.split_address(address)
    try:
        if socket.has_dualstack_ipv6():
            listener = socket.create_server(("", port), family=socket.AF_INET6, dualstack_ipv6=True)
        else:
            listener = socket.create_server(("", port))
    except OSError as error:
        raise ValueError(
            f"TF_CONFIG gives this task the address {address}, but its port {port} cannot be "
            f"opened ({error.strerror or error}): another process holds it, or this task's "
            '"index" names another worker\'s address. Stop that process or fix TF_CONFIG.'
        ) from None
    listener.settimeout(ROUND_SECONDS)
    return listener


def _other_cluster(who):
    return ValueError(
        f"multiworker start-up: {who} was started with another TF_CONFIG cluster than this "
        "worker. Give every worker the same cluster in TF_CONFIG (only its task differs)."
    )


def _check_greeting(greeting, address, task, hello, own):
    """ValueError when the greeting from ``address`` (``task`` in TF_CONFIG) shows a
    mistake in TF_CONFIG."""
    if greeting.token == hello.token:
        raise ValueError(
            f"TF_CONFIG names {address} as {task}, but that address reaches this same worker "
            f"({hello.task()}, {own}): two names in the cluster resolve to one endpoint. Give "
            "every task its own host:port."
        )
    if greeting.cluster != hello.cluster:
        raise _other_cluster(f"{greeting.task()} at {address}")
    if greeting.task() != task:
        raise ValueError(
            f"TF_CONFIG names {address} as {task}, but {greeting.task()} answers there: two "
            "names in the cluster reach one worker, or that worker's TF_CONFIG task is wrong."
        )


def wait_for_workers(config, timeout):
    """Returns once every other task of ``config`` (``distribute.tf_config``'s dict) has
    greeted this one (module docstring); ValueError naming those that did not within
    ``timeout`` seconds, or at once for a mistake in TF_CONFIG; StartupInterrupted on
    SIGTERM / SIGINT."""
    me = config["task"]
    tasks = {address: f"{job} {index}" for job, addresses in config["cluster"].items()
             for index, address in enumerate(addresses)}
    own = config["cluster"][me["type"]][me["index"]]
    del tasks[own]
    hello = Greeting.of(config, secrets.token_hex(8))
    deadline = time.monotonic() + timeout
    logging.info("Multi-worker start-up as %s (%s): waiting up to %g s for %s.",
                 hello.task(), own, timeout, ", ".join(tasks) or "no other task")
    listener = _Listener(own, hello)
    reasons = {}
    try:
        with _signals_interrupt():
            while True:
                with listener.lock:
                    if listener.problems:
                        raise listener.problems[0]
                    pending = {address: task for address, task in tasks.items() if task not in listener.greeted}
                if not pending or time.monotonic() >= deadline:
                    break
                probe_seconds = min(PROBE_SECONDS, max(deadline - time.monotonic(), 0.1))
                answers = reachability.ask_all(pending, lambda address: _probe(address, hello, probe_seconds),
                                               probe_seconds * 2)
                for address, answer in answers.items():
                    if isinstance(answer, Greeting):
                        _check_greeting(answer, address, pending[address], hello, own)
                        with listener.lock:
                            listener.greeted.add(answer.task())
                    else:
                        reasons[address] = answer or f"no answer within {probe_seconds * 2:g} s"
                time.sleep(ROUND_SECONDS)
    finally:
        listener.close()
    if pending:
        missing = "; ".join(f"{address} ({task}: {reasons.get(address, 'not tried')})"
                            for address, task in pending.items())
        raise ValueError(
            f"multiworker start-up: no answer within {timeout:g} s from {missing}. Start the same "
            "command there (with TF_CONFIG naming that task), check the addresses in TF_CONFIG, "
            "or allow more time with config.start_timeout (seconds)."
        )


@contextlib.contextmanager
def _signals_interrupt():
    """SIGTERM and SIGINT raise StartupInterrupted in the block (main thread only)."""

    def interrupt(signum, frame):
        raise StartupInterrupted(signum)

    previous = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            previous[signum] = signal.signal(signum, interrupt)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


_WATCHDOG = """
import os, select, signal, sys
pid, seconds, message = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
def end(status):
    sys.stderr.write(message.replace("{status}", status) + "\\n")
    sys.stderr.flush()
    os.kill(pid, signal.SIGKILL)
    os._exit(0)
signal.signal(signal.SIGINT, lambda signum, frame: end("was stopped by SIGINT"))
if not select.select([sys.stdin], [], [], seconds)[0]:
    end(f"did not finish within {seconds:g} s")
"""


@contextlib.contextmanager
def kill_after(seconds, message):
    """Ends this process (SIGKILL) when the block has not finished within ``seconds``,
    or on Ctrl-C (SIGINT to the process group), after printing ``message`` with
    "{status}" replaced by what happened.

    For a wait inside native code that Python's signal handlers cannot interrupt: a
    small watcher process (no imports beyond the standard library) waits on a pipe
    that this process closes when the block ends (or when it dies).
    """
    watcher = subprocess.Popen(
        [sys.executable, "-c", _WATCHDOG, str(os.getpid()), str(seconds), message],
        stdin=subprocess.PIPE,
    )
    try:
        yield
    finally:
        watcher.stdin.close()
        watcher.wait()
