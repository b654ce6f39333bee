"""ips: every pool address with its holder, in text, JSON and markdown."""

from __future__ import annotations

import json

from conftest import SEED_TENANTS, invoke


def test_text_compresses_free_runs(project):
    res = invoke("ips", "-c", str(project()))
    assert res.code == 0, res.err
    assert res.out.splitlines() == [
        "pool 172.18.0.200-172.18.0.220: 21 addresses, 7 held, 14 free",
        "172.18.0.200               reserved: traefik",
        "172.18.0.201-172.18.0.209  free (9 addresses)",
        "172.18.0.210               tenant a (vcluster-a)",
        "172.18.0.211               tenant b (vcluster-b)",
        "172.18.0.212               reserved: grafana",
        "172.18.0.213               reserved: prometheus",
        "172.18.0.214               tenant c (vcluster-c)",
        "172.18.0.215-172.18.0.218  free (4 addresses)",
        "172.18.0.219               reserved: vcluster-platform",
        "172.18.0.220               free",
    ]


def test_json_lists_every_address(project):
    res = invoke("ips", "-c", str(project()), "--format", "json")
    assert res.code == 0, res.err
    doc = json.loads(res.out)
    assert doc["size"] == 21 and doc["free"] == 14
    assert doc["pool"] == ["172.18.0.200-172.18.0.220"]
    addresses = doc["addresses"]
    assert [a["address"] for a in addresses] == [f"172.18.0.{n}" for n in range(200, 221)]
    assert addresses[0] == {"address": "172.18.0.200", "kind": "reserved", "holder": "traefik"}
    assert addresses[10] == {"address": "172.18.0.210", "kind": "tenant", "holder": "a"}
    assert addresses[1] == {"address": "172.18.0.201", "kind": "free", "holder": None}


def test_markdown_is_the_readme_table(project):
    res = invoke("ips", "-c", str(project()), "--format", "markdown")
    assert res.code == 0, res.err
    assert res.out == (
        "The MetalLB pool is `172.18.0.200-172.18.0.220`. Current allocations:\n"
        "\n"
        "| Service | IP |\n"
        "|---------|-----|\n"
        "| traefik | 172.18.0.200 |\n"
        "| vcluster-a | 172.18.0.210 |\n"
        "| vcluster-b | 172.18.0.211 |\n"
        "| grafana | 172.18.0.212 |\n"
        "| prometheus | 172.18.0.213 |\n"
        "| vcluster-c | 172.18.0.214 |\n"
        "| vcluster-platform | 172.18.0.219 |\n"
        "\n"
        "Free: 172.18.0.201-172.18.0.209, 172.18.0.215-172.18.0.218, 172.18.0.220 "
        "(14 of 21 addresses).\n"
    )


def test_several_ranges_and_a_full_pool(project):
    cfg = project(
        "version: 1\n"
        "pool: [10.0.1.0/31, 10.0.0.5-10.0.0.5]\n"
        "reserved: {gw: 10.0.0.5}\n"
        "tenants:\n"
        "  - {name: a, ip: 10.0.1.0}\n"
        "  - {name: b, ip: 10.0.1.1}\n"
    )
    res = invoke("ips", "-c", str(cfg))
    assert res.code == 0, res.err
    assert res.out.splitlines() == [
        "pool 10.0.1.0/31, 10.0.0.5-10.0.0.5: 3 addresses, 3 held, 0 free",
        "10.0.0.5  reserved: gw",
        "10.0.1.0  tenant a (vcluster-a)",
        "10.0.1.1  tenant b (vcluster-b)",
    ]
    md = invoke("ips", "-c", str(cfg), "--format", "markdown")
    assert "Free: none (0 of 3 addresses)." in md.out


def test_invalid_file_exits_2(project):
    cfg = project(SEED_TENANTS.replace("ip: 172.18.0.214", "ip: 172.18.0.300"))
    res = invoke("ips", "-c", str(cfg))
    assert res.code == 2
    assert "not a valid IPv4 address" in res.err
