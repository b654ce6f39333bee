"""What ``check_repository`` costs at fleet scale (issue 17), from a whole plan and from
:class:`gitopsgen.repocheck.RepoFacts` collected tenant by tenant.

    python benchmarks/fleet.py 20000 > /tmp/fleet/tenants.yaml
    gitopsgen build -q -c /tmp/fleet/tenants.yaml
    python benchmarks/repocheck_facts.py /tmp/fleet/tenants.yaml [--plan]

Prints the size of the facts (tracemalloc: what they hold once the documents are
gone), the time to collect them, and the time and traced peak of the walk itself;
``--plan`` also times the walk from the whole plan (which holds every document).
"""

from __future__ import annotations

import gc
import sys
import time
import tracemalloc

from gitopsgen.config import Project, load
from gitopsgen.repocheck import RepoFacts, check_repository


def stream_facts(project: Project) -> RepoFacts:
    """The facts as a streaming check collects them: each tenant's files rendered,
    added, and their documents dropped."""
    from gitopsgen.platform import resolve
    from gitopsgen.render import Context, render_cluster_files, render_tenant_files

    platform = resolve(project.config, project.flux_root)
    ctx = Context(platform)
    facts = RepoFacts()
    for cluster in platform.clusters:
        for tenant in cluster.tenants:
            for out in render_tenant_files(ctx, cluster, tenant):
                facts.add(out.path, out)
        for out in render_cluster_files(ctx, cluster):
            facts.add(out.path, out)
    return facts


def _walk(project: Project, facts: object, label: str) -> None:
    gc.collect()
    start = time.perf_counter()
    findings = check_repository(project, facts)  # type: ignore[arg-type]
    took = time.perf_counter() - start
    tracemalloc.start()
    check_repository(project, facts)  # type: ignore[arg-type]
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(f"{label}: {took:.2f} s, traced peak {peak / 1e6:.1f} MB, {len(findings)} finding(s)")


def main(argv: list[str]) -> None:
    project = load(argv[0])
    start = time.perf_counter()
    facts = stream_facts(project)
    print(f"collect facts while rendering: {time.perf_counter() - start:.2f} s")
    objects = len(facts._gkn)
    flux = len(facts._flux)
    print(f"facts: {len(facts)} files, {objects} objects, {flux} Flux")
    _walk(project, facts, "check_repository(project, facts)")
    del facts
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    facts = stream_facts(project)
    gc.collect()
    held = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    print(f"facts held after rendering: {held / 1e6:.1f} MB (tracemalloc, paths included)")
    if "--plan" in argv:
        from gitopsgen.plan import plan_project

        del facts
        plan = plan_project(project)
        _walk(project, plan, "check_repository(project, plan)")


if __name__ == "__main__":
    main(sys.argv[1:])
