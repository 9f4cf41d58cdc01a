"""The workdir's single writer: an ``fcntl.flock`` on WORKDIR/lock, which the kernel
releases when its holder dies, and the checks that the workdir can be written. The
functions take the ``Workdir``; its methods of the same names call them."""

import contextlib
import errno
import fcntl
import os
import socket
import time

from absl import logging

from tfmi.workdir.layout import WorkdirError, _is_local


def check_usable(workdir):
    """Raises WorkdirError when the path is a file or lies below one."""
    if not _is_local(workdir.path):
        return
    path = os.path.abspath(workdir.path)
    if os.path.exists(path) and not os.path.isdir(path):
        raise WorkdirError(f"the workdir {workdir.path} is a file, not a directory; choose another --workdir.")
    parent = os.path.dirname(path)
    while parent and not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if parent and not os.path.isdir(parent):
        raise WorkdirError(
            f"the workdir {workdir.path} lies below {parent}, which is a file; choose another --workdir."
        )


@contextlib.contextmanager
def lock(workdir):
    """Holds the workdir's single-writer lock while the block runs.

    The lock is an ``fcntl.flock`` on WORKDIR/lock, which holds the pid and host of
    its holder. A second process is refused at once (WorkdirError naming the holder);
    a lock whose holder died is released by the kernel and taken over. Creates the
    workdir, and removes it again when the block leaves it empty (a refused run).
    Non-local paths (gs://...) are not locked.
    """
    if not _is_local(workdir.path):
        yield
        return
    check_usable(workdir)
    created = not os.path.exists(workdir.path)
    try:
        os.makedirs(workdir.path, exist_ok=True)
        descriptor = _acquire(workdir)
    except OSError as error:
        raise _os_error(workdir, "cannot write to", error) from None
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(workdir.lock_path)  # before the unlock: a waiting opener then retries
        os.close(descriptor)
        if created:
            with contextlib.suppress(OSError):
                os.rmdir(workdir.path)  # only when empty


def _acquire(workdir):
    while True:
        descriptor = os.open(workdir.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(descriptor, 200).decode(errors="replace").strip() or "a process that is starting"
            os.close(descriptor)
            raise WorkdirError(
                f"the workdir {workdir.path} is in use by another run ({holder}; lock file "
                f"{workdir.lock_path}). Wait for that run to end or stop it, or choose another "
                "--workdir."
            ) from None
        try:
            same = os.stat(workdir.lock_path).st_ino == os.fstat(descriptor).st_ino
        except FileNotFoundError:
            same = False  # its holder removed it between our open and our lock
        if same:
            break
        os.close(descriptor)
    previous = os.read(descriptor, 200).decode(errors="replace").strip()
    if previous:
        logging.info("Took over the lock of %s left by a run that ended (%s).", workdir.path, previous)
    os.ftruncate(descriptor, 0)
    os.lseek(descriptor, 0, os.SEEK_SET)
    started = time.strftime("%Y-%m-%d %H:%M:%S")
    os.write(descriptor, f"pid {os.getpid()} on host {socket.gethostname()}, since {started}\n".encode())
    return descriptor


def _os_error(workdir, doing, error):
    if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        reason = "it is read-only" if error.errno == errno.EROFS else "permission denied"
        return WorkdirError(
            f"{doing} the workdir {workdir.path}: {reason} ({error.filename or workdir.path}). Make it "
            "writable, or choose another --workdir (a read-only run can be read by the "
            "evaluation tools)."
        )
    if error.errno == errno.ENOSPC:
        return WorkdirError(f"{doing} the workdir {workdir.path}: the disk is full. Free space and run again.")
    return WorkdirError(
        f"{doing} the workdir {workdir.path}: {error.strerror or error} ({error.filename or workdir.path})."
    )


def check_writable(workdir):
    """Raises WorkdirError when the workdir or its checkpoint folder cannot be written."""
    if not _is_local(workdir.path):
        return
    for path in (workdir.path, workdir.checkpoint_dir):
        if os.path.isdir(path) and not os.access(path, os.W_OK):
            raise _os_error(workdir, "cannot write to", PermissionError(errno.EACCES, "permission denied", path))
