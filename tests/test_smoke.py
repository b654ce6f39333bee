from __future__ import annotations

from conftest import invoke


def test_build_then_check_in_sync(project):
    cfg = project()
    first = invoke("build", "-c", str(cfg))
    assert first.code == 0, first.err
    assert "0 unchanged" in first.out
    again = invoke("build", "-c", str(cfg))
    assert again.code == 0
    assert " 0 written" in again.out
    checked = invoke("check", "-c", str(cfg))
    assert checked.code == 0, checked.err


def test_check_reports_drift_with_exit_1(project):
    cfg = project()
    assert invoke("build", "-c", str(cfg)).code == 0
    target = cfg.parent / "generated/tenant/tenant-a/routes/nginx_httproute.yaml"
    target.write_text(target.read_text().replace("tenant-a.traefik.local", "evil.example"))
    res = invoke("check", "-c", str(cfg))
    assert res.code == 1
    assert "changed  tenant/tenant-a/routes/nginx_httproute.yaml" in res.err
    assert "+    - tenant-a.traefik.local" in res.err
