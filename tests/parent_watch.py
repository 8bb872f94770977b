"""Run by test_batch_hygiene.py: a spawned worker that calls `die_with_parent` with only the parent-pipe watch (no
prctl, as off Linux) exits when its parent is SIGKILLed. Exit code 0 when it did, 1 when it survived."""
import multiprocessing as mp
import os
import signal
import sys
import time


def worker(q):
    from filmnet.batch.local import die_with_parent

    real, sys.platform = sys.platform, "other"  # skip PR_SET_PDEATHSIG: the pipe alone must do it
    die_with_parent()
    sys.platform = real
    q.put(os.getpid())
    time.sleep(120)


def parent(q):
    mp.get_context("spawn").Process(target=worker, args=(q,)).start()
    time.sleep(120)


if __name__ == "__main__":
    import psutil

    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    middle = ctx.Process(target=parent, args=(q,))
    middle.start()
    pid = q.get(timeout=240)
    os.kill(middle.pid, signal.SIGKILL)
    middle.join()
    try:
        psutil.Process(pid).wait(timeout=30)
    except psutil.TimeoutExpired:
        psutil.Process(pid).kill()
        print("the worker outlived its SIGKILLed parent")
        sys.exit(1)
    print("the worker ended with its parent")
