"""The image's entry point: `tempo …` with one server worker per CPU the container may use.

The runtime image has no shell to compute `$(nproc)` in, so this module sets WEB_CONCURRENCY
(which `tempo serve --workers` reads) before handing over to the `tempo` command line. A
WEB_CONCURRENCY or --workers given by the operator still wins. It lives outside the `tempo`
package because only the container needs it: on a laptop, `tempo serve` keeps one worker.
"""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path

CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")


def usable_cpus(cpu_max: Path = CGROUP_CPU_MAX) -> int:
    """CPUs this process may run on, capped by a cgroup v2 CPU quota (`docker --cpus`, ECS).

    os.cpu_count() would report every CPU of the host, even in a container limited to two.
    """
    cpus = len(os.sched_getaffinity(0))
    try:
        quota, period = cpu_max.read_text().split()
        if quota != "max":
            cpus = min(cpus, math.ceil(int(quota) / int(period)))
    except (OSError, ValueError, ZeroDivisionError):
        pass  # no cgroup v2 CPU controller (or an unreadable one): the affinity mask decides
    return max(1, cpus)


def main() -> None:
    if not os.environ.get("WEB_CONCURRENCY"):
        os.environ["WEB_CONCURRENCY"] = str(usable_cpus())
    from tempo.cli import main as tempo_main

    sys.argv[0] = "tempo"  # usage and help lines name the command, not this file
    tempo_main()


if __name__ == "__main__":
    main()
