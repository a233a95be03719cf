"""Helpers to run czifs mounts from tests and always clean them up."""
import contextlib
import os
import signal
import subprocess
import time


def is_mounted(path):
    with open("/proc/self/mounts") as f:
        return any(line.split()[1] == str(path) for line in f)


def wait_for(pred, timeout=10.0, step=0.02):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(step)
    return pred()


def force_unmount(path):
    if is_mounted(path):
        subprocess.run(["fusermount3", "-uz", str(path)], capture_output=True)


def default_signals():
    """Runs in the child before exec: SIGINT and SIGQUIT back to their default.
    A shell running this suite in the background (`bash .ci/run &`) ignores
    them, the ignoring is inherited, and libfuse keeps an ignored SIGINT
    ignored, so a test of Ctrl-C would wait for a daemon that never heard it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGQUIT, signal.SIG_DFL)


@contextlib.contextmanager
def mounted(czifs, sources, mnt, *extra, log=None):
    """Mounts in the foreground (-f) and yields the process; unmounts on exit."""
    mnt.mkdir(parents=True, exist_ok=True)
    if not isinstance(sources, (list, tuple)):
        sources = [sources]
    cmd = [czifs, "-f"] + [str(s) for s in sources] + [str(mnt)] + list(extra)
    stderr = open(log, "w") if log else subprocess.DEVNULL
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=stderr,
                            preexec_fn=default_signals)
    try:
        if not wait_for(lambda: is_mounted(mnt) or proc.poll() is not None):
            raise RuntimeError(f"{cmd} did not mount")
        if proc.poll() is not None:
            raise RuntimeError(f"{cmd} exited with {proc.returncode}")
        yield proc
    finally:
        if proc.poll() is None and is_mounted(mnt):
            subprocess.run(["fusermount3", "-u", str(mnt)], capture_output=True)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        force_unmount(mnt)
        if log:
            stderr.close()


def stats(mnt):
    import json
    with open(os.path.join(str(mnt), ".czifs-stats")) as f:
        return json.load(f)
