"""``python -m ganzoo ARGS`` that, as the process exits (after the CLI's last line, before
the interpreter's teardown), prints how many DistributedDataParallel wrappers are still
alive. tests/test_distributed.py runs it under torchrun: a rank's wrappers hold the
process group, and a group left to the interpreter's teardown can abort the rank.

    python -m torch.distributed.run --standalone --nproc-per-node 2 tests/helpers/ganzoo_exit_check.py train ...
"""

import atexit
import gc
import os
import runpy
import sys


def _report() -> None:
    from torch.nn.parallel import DistributedDataParallel

    alive = sum(isinstance(thing, DistributedDataParallel) for thing in gc.get_objects())
    print(f"rank {os.environ.get('RANK', '-')}: DDP wrappers alive at exit: {alive}", file=sys.stderr)


atexit.register(_report)
sys.argv = ["ganzoo", *sys.argv[1:]]
runpy.run_module("ganzoo", run_name="__main__", alter_sys=True)
