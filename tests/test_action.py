"""The composite GitHub Action (action.yml) as a runner runs it.

The metadata is validated against SchemaStore's schema of action metadata (a copy in
tests/data/github-action, its source named there). Then every `run:` step's script
runs, in order, the way the runner runs a composite step with `shell: bash`
(`bash --noprofile --norc -eo pipefail {0}`, GitHub's "workflow syntax: jobs.<job_id>.
steps[*].shell" documentation), in a temporary Git repository of a pull request, with
the runner's environment (GITHUB_OUTPUT, GITHUB_STEP_SUMMARY, GITHUB_PATH, RUNNER_TEMP,
GITHUB_BASE_REF, ...). The `${{ }}` expressions of `env:` are evaluated from the inputs,
the event and the steps' outputs; a `gh` on PATH records what it is asked to do and
keeps the pull request's comments, so the test sees one comment created on the first
push and the same comment updated on the second.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from conftest import GIT_ENV, REPO, SEED_TENANTS, invoke
from gitopsgen import __version__

pytestmark = pytest.mark.slow

ACTION = REPO / "action.yml"
SCHEMA = REPO / "tests/data/github-action/github-action.schema.json"
BASH = shutil.which("bash")
GIT = shutil.which("git")
PR_NUMBER = "7"
REPOSITORY = "acme/platform"
WIRING = {
    "clusters/host-cluster/kustomization.yaml": "../../generated/clusters/host-cluster",
    "infrastructure/traefik/config/kustomization.yaml": (
        "../../../generated/infrastructure/traefik/config"
    ),
}

# A `gh` that records each call and plays the pull request's comments.
FAKE_GH = """#!{python}
import json, os, sys
args = sys.argv[1:]
with open(os.environ["FAKE_GH_LOG"], "a") as log:
    log.write(json.dumps(args) + "\\n")
state_file = os.environ["FAKE_GH_STATE"]
state = json.load(open(state_file)) if os.path.exists(state_file) else {{"comments": []}}
assert args[0] == "api", args
method, path, fields = "GET", None, {{}}
i = 1
while i < len(args):
    a = args[i]
    if a in ("--method", "-X"):
        method = args[i + 1]; i += 2; continue
    if a in ("-F", "--field"):
        key, _, value = args[i + 1].partition("=")
        if value.startswith("@"):
            value = open(value[1:]).read()
        fields[key] = value; i += 2; continue
    if a == "--paginate":
        i += 1; continue
    path = a; i += 1
if method == "GET" and path.endswith("/comments"):
    comments = state["comments"]
    # Two pages, as --paginate prints them: one JSON array after another.
    half = len(comments) // 2
    print(json.dumps(comments[:half]))
    print(json.dumps(comments[half:]))
elif method == "POST":
    comment = {{"id": 1000 + len(state["comments"]), "body": fields["body"]}}
    state["comments"].append(comment)
    print(json.dumps(comment))
elif method == "PATCH":
    cid = int(path.rsplit("/", 1)[1])
    for comment in state["comments"]:
        if comment["id"] == cid:
            comment["body"] = fields["body"]
    print("{{}}")
else:
    sys.exit("fake gh: unexpected call " + " ".join(args))
json.dump(state, open(state_file, "w"))
"""


def _git(cwd: Path, *args: str) -> str:
    assert GIT is not None
    env = {**os.environ, **GIT_ENV}
    proc = subprocess.run([GIT, *args], cwd=cwd, capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def _metadata() -> dict[str, Any]:
    data = yaml.safe_load(ACTION.read_text())
    assert isinstance(data, dict)
    return data


def test_action_metadata_is_valid() -> None:
    schema = json.loads(SCHEMA.read_text())
    validator = jsonschema.Draft7Validator(schema)
    errors = sorted(validator.iter_errors(_metadata()), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors]
    # And the schema is the one that rejects a broken action (it checks something).
    broken = _metadata()
    broken["runs"]["steps"][0].pop("shell")
    assert list(validator.iter_errors(broken))


def test_run_scripts_take_values_from_env_only() -> None:
    """No `${{ }}` inside a script: inputs reach it through env, never as shell text."""
    for step in _metadata()["runs"]["steps"]:
        if "run" in step:
            assert "${{" not in step["run"], step["name"]
            assert step["shell"] == "bash"


@dataclass
class Runner:
    """Runs the action's steps as the GitHub runner does, one job after another."""

    workspace: Path
    action_path: Path
    temp: Path
    bin: Path
    inputs: dict[str, str] = field(default_factory=dict)
    path_dirs: list[str] = field(default_factory=list)

    def env(self, step_env: dict[str, str], files: dict[str, Path]) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "RUNNER_"))}
        env.pop("NO_COLOR", None)
        env.update(GIT_ENV)
        env.update(
            {
                "CI": "true",
                "GITHUB_ACTIONS": "true",
                "GITHUB_REPOSITORY": REPOSITORY,
                "GITHUB_EVENT_NAME": "pull_request",
                "GITHUB_BASE_REF": "main",
                "GITHUB_HEAD_REF": "add-tenant-d",
                "GITHUB_WORKSPACE": str(self.workspace),
                "GITHUB_ACTION_PATH": str(self.action_path),
                "RUNNER_TEMP": str(self.temp),
                "GITHUB_OUTPUT": str(files["output"]),
                "GITHUB_STEP_SUMMARY": str(files["summary"]),
                "GITHUB_PATH": str(files["path"]),
                "GITHUB_ENV": str(files["env"]),
                "FAKE_GH_LOG": str(self.temp / "gh-calls.jsonl"),
                "FAKE_GH_STATE": str(self.temp / "gh-state.json"),
            }
        )
        env["PATH"] = os.pathsep.join([*self.path_dirs, str(self.bin), env.get("PATH", "")])
        env.update(step_env)
        return env

    def expression(self, expr: str, outputs: dict[str, dict[str, str]]) -> str:
        defaults = {k: v.get("default", "") for k, v in _metadata()["inputs"].items()}
        context: dict[str, str] = {
            "github.action_path": str(self.action_path),
            "github.token": "ghs_test_token",
            "github.event.pull_request.number": PR_NUMBER,
        }
        for name, default in defaults.items():
            value = self.inputs.get(name, default)
            context[f"inputs.{name}"] = self.expression_text(value, outputs, context)
        for step_id, values in outputs.items():
            for key, value in values.items():
                context[f"steps.{step_id}.outputs.{key}"] = value
        expr = expr.strip()
        if expr.startswith("steps.") and expr not in context:
            return ""  # an output the step did not set is empty, as on GitHub
        assert expr in context, f"the test cannot evaluate ${{{{ {expr} }}}}"
        return context[expr]

    def expression_text(
        self, text: str, outputs: dict[str, dict[str, str]], context: dict[str, str]
    ) -> str:
        return re.sub(r"\$\{\{(.*?)\}\}", lambda m: context[m.group(1).strip()], text)

    def run(self) -> tuple[int, list[dict[str, Any]]]:
        """All steps; stops at the first that fails, as a job does. Returns the exit code
        of the last step that ran and each step's record."""
        outputs: dict[str, dict[str, str]] = {}
        records: list[dict[str, Any]] = []
        assert BASH is not None
        for n, step in enumerate(_metadata()["runs"]["steps"]):
            assert "run" in step, "the test runs run: steps only; the action uses none other"
            files = {
                name: self.temp / f"step{n}-{name}" for name in ("output", "summary", "path", "env")
            }
            for f in files.values():
                f.write_text("")
            step_env = {
                key: re.sub(r"\$\{\{(.*?)\}\}", lambda m: self.expression(m.group(1), outputs), v)
                for key, v in step.get("env", {}).items()
            }
            script = self.temp / f"step{n}.sh"
            script.write_text(step["run"])
            proc = subprocess.run(
                [BASH, "--noprofile", "--norc", "-eo", "pipefail", str(script)],
                cwd=self.workspace,
                env=self.env(step_env, files),
                capture_output=True,
                text=True,
                timeout=600,
            )
            record = {
                "name": step["name"],
                "code": proc.returncode,
                "stdout": proc.stdout,
                "stderr": proc.stderr,
                "summary": files["summary"].read_text(),
            }
            records.append(record)
            if "id" in step:
                outputs[step["id"]] = _parse_output(files["output"].read_text())
            self.path_dirs = [
                *reversed(files["path"].read_text().split()),
                *self.path_dirs,
            ]
            if proc.returncode != 0:
                return proc.returncode, records
        return 0, records

    def gh_calls(self) -> list[list[str]]:
        log = self.temp / "gh-calls.jsonl"
        if not log.exists():
            return []
        return [json.loads(line) for line in log.read_text().splitlines()]

    def comments(self) -> list[dict[str, Any]]:
        state = self.temp / "gh-state.json"
        comments: list[dict[str, Any]] = json.loads(state.read_text())["comments"]
        return comments


def _parse_output(text: str) -> dict[str, str]:
    """GITHUB_OUTPUT: `key=value` lines (the action writes no multi-line values)."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        assert "<<" not in line, line
        key, sep, value = line.partition("=")
        assert sep, f"not key=value: {line!r}"
        out[key] = value
    return out


def _action_checkout(dest: Path) -> Path:
    """What `uses: owner/gitopsgen@rev` checks out: the repository's files."""
    dest.mkdir()
    for name in ("pyproject.toml", "README.md", "action.yml"):
        shutil.copyfile(REPO / name, dest / name)
    shutil.copytree(
        REPO / "src" / "gitopsgen",
        dest / "src" / "gitopsgen",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )
    return dest


def _pull_request(repo: Path) -> None:
    """main: the seed platform, built and wired; the PR branch adds tenant d."""
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    (repo / "tenants.yaml").write_text(SEED_TENANTS)
    assert invoke("build", "-q", "-c", "tenants.yaml", cwd=repo).code == 0
    for rel, entry in WIRING.items():
        (repo / rel).parent.mkdir(parents=True)
        (repo / rel).write_text(f"resources:\n  - {entry}\n")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "platform")
    # actions/checkout with fetch-depth: 0 leaves the base branch as origin/main.
    _git(repo, "update-ref", "refs/remotes/origin/main", "HEAD")
    _git(repo, "checkout", "-q", "-b", "add-tenant-d")
    cfg = repo / "tenants.yaml"
    cfg.write_text(cfg.read_text() + "  - name: d\n    ip: 172.18.0.215\n")
    assert invoke("build", "-q", "-c", "tenants.yaml", cwd=repo).code == 0
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "add tenant d")


@pytest.mark.skipif(BASH is None or GIT is None, reason="needs bash and git")
def test_action_steps_comment_once_then_update(tmp_path: Path) -> None:
    temp = tmp_path / "runner-temp"
    temp.mkdir()
    fake_bin = tmp_path / "fake-bin"
    fake_bin.mkdir()
    gh = fake_bin / "gh"
    gh.write_text(FAKE_GH.format(python=sys.executable))
    gh.chmod(0o755)
    repo = tmp_path / "platform"
    _pull_request(repo)
    runner = Runner(repo, _action_checkout(tmp_path / "action"), temp, fake_bin)

    # First push: the tree is in sync, tenant d is added; one comment is created.
    code, steps = runner.run()
    assert code == 0, json.dumps(steps, indent=1)
    install, check, diff, comment, decide = steps
    assert install["stdout"].strip() == f"gitopsgen, version {__version__}"
    assert check["stdout"] == "generated: in sync with tenants.yaml (70 files)\n"
    assert check["summary"].startswith("### gitopsgen check: ok\n")
    assert "+ tenant d (" in diff["summary"]
    assert comment["stdout"].strip() == "created a comment"
    calls = runner.gh_calls()
    assert [c[:3] for c in calls] == [
        ["api", f"repos/{REPOSITORY}/issues/{PR_NUMBER}/comments", "--paginate"],
        ["api", "--method", "POST"],
    ]
    (first,) = runner.comments()
    assert first["body"].startswith("<!-- gitopsgen: this comment is updated on every push -->\n")
    assert "+ tenant d (" in first["body"]
    assert "### gitopsgen check" not in first["body"]  # check is ok: only the diff

    # Second push: a hand edit of a generated file. check annotates it, the same
    # comment is updated (now with the check section), and fail-on: drift fails the job.
    route = repo / "generated/tenant/tenant-d/routes/nginx_httproute.yaml"
    route.write_text(route.read_text().replace("tenant-d.traefik.local", "evil.example.com"))
    _git(repo, "commit", "-q", "-am", "hand edit")
    code, steps = runner.run()
    assert code == 1, json.dumps(steps, indent=1)
    check, decide = steps[1], steps[-1]
    assert decide["name"] == "Fail on the chosen risks"
    assert check["stdout"].splitlines() == [
        "::error file=generated/tenant/tenant-d/routes/nginx_httproute.yaml::changed: differs "
        "from what gitopsgen build writes; generated files are not edited by hand: change "
        "tenants.yaml and run `gitopsgen build`",
        "generated: 1 file(s) out of sync with tenants.yaml; run `gitopsgen build`",
    ]
    assert "::error::gitopsgen check: drift" in decide["stdout"]
    calls = runner.gh_calls()
    assert [c[:3] for c in calls][2:] == [
        ["api", f"repos/{REPOSITORY}/issues/{PR_NUMBER}/comments", "--paginate"],
        ["api", "--method", "PATCH"],
    ]
    assert calls[3][3] == f"repos/{REPOSITORY}/issues/comments/{first['id']}"
    assert sum(1 for c in calls if "POST" in c) == 1
    assert sum(1 for c in calls if "PATCH" in c) == 1
    (updated,) = runner.comments()
    assert updated["id"] == first["id"]
    assert "### gitopsgen check: drift" in updated["body"]
    assert "generated/tenant/tenant-d/routes/nginx_httproute.yaml" in updated["body"]
    assert "+ tenant d (" in updated["body"]


@pytest.mark.skipif(BASH is None, reason="needs bash")
def test_fail_on_step_decides_from_the_outputs(tmp_path: Path) -> None:
    """The last step alone: each risk fails only when it happened; an unknown risk fails."""
    assert BASH is not None
    (step,) = [s for s in _metadata()["runs"]["steps"] if s["name"] == "Fail on the chosen risks"]
    script = tmp_path / "decide.sh"
    script.write_text(step["run"])

    def decide(**env: str) -> subprocess.CompletedProcess[str]:
        base = {"CHECK_CODE": "0", "CHECK_STATUS": "ok", "DIFF_CODE": "0", "CHANGED": "false"}
        base["REMOVED"] = "0"
        base["FAIL_ON"] = "drift"
        return subprocess.run(
            [BASH, "--noprofile", "--norc", "-eo", "pipefail", str(script)],
            env={"PATH": os.environ["PATH"], **base, **env},
            capture_output=True,
            text=True,
        )

    assert decide().returncode == 0
    assert decide(CHECK_CODE="1", CHECK_STATUS="drift").returncode == 1
    assert decide(CHECK_CODE="1", FAIL_ON="").returncode == 0
    assert decide(CHECK_CODE="2", CHECK_STATUS="invalid", FAIL_ON="").returncode == 1
    assert decide(REMOVED="20", FAIL_ON="removals").returncode == 1
    assert decide(REMOVED="20", FAIL_ON="drift,changes").returncode == 0
    assert decide(CHANGED="true", FAIL_ON="drift, changes").returncode == 1
    bad = decide(FAIL_ON="typo")
    assert bad.returncode == 1
    assert "unknown risk 'typo'" in bad.stdout


# --- the CI examples ---------------------------------------------------------------------

# A `curl` that records each call and plays GitLab's merge request notes API.
FAKE_CURL = """#!{python}
import json, os, sys, urllib.parse
args = sys.argv[1:]
with open(os.environ["FAKE_CURL_LOG"], "a") as log:
    log.write(json.dumps(args) + "\\n")
state_file = os.environ["FAKE_CURL_STATE"]
state = json.load(open(state_file)) if os.path.exists(state_file) else {{"notes": []}}
method, body, url, i = "GET", None, None, 0
while i < len(args):
    a = args[i]
    if a == "--request":
        method = args[i + 1]; i += 2; continue
    if a == "--header":
        assert args[i + 1] == "PRIVATE-TOKEN: glpat-test", args[i + 1]; i += 2; continue
    if a == "--data-urlencode":
        name, _, path = args[i + 1].partition("@")
        assert name == "body"
        body = open(path).read(); i += 2; continue
    if a.startswith("--"):
        i += 1; continue
    url = a; i += 1
parsed = urllib.parse.urlparse(url)
assert parsed.path.startswith("/api/v4/projects/42/merge_requests/5/notes"), url
if method == "GET":
    page = int(urllib.parse.parse_qs(parsed.query)["page"][0])
    print(json.dumps(state["notes"] if page == 1 else []))
elif method == "POST":
    state["notes"].append({{"id": 500 + len(state["notes"]), "body": body}})
elif method == "PUT":
    nid = int(parsed.path.rsplit("/", 1)[1])
    for note in state["notes"]:
        if note["id"] == nid:
            note["body"] = body
json.dump(state, open(state_file, "w"))
"""


def test_github_workflow_example_uses_the_action() -> None:
    workflow = yaml.safe_load((REPO / "examples/ci/github-actions.yml").read_text())
    paths = workflow[True]["pull_request"]["paths"]  # YAML 1.1 reads the key `on` as True
    assert {"tenants.yaml", "generated/**", "clusters/**", "infrastructure/**"} <= set(paths)
    assert workflow["permissions"]["pull-requests"] == "write"
    steps = workflow["jobs"]["gitopsgen"]["steps"]
    assert steps[0]["with"]["fetch-depth"] == 0
    (action,) = [s for s in steps if s["uses"].startswith("<owner>/gitopsgen@")]
    assert set(action["with"]) <= set(_metadata()["inputs"])


@pytest.mark.skipif(BASH is None or GIT is None, reason="needs bash and git")
def test_gitlab_template_posts_then_updates_one_note(tmp_path: Path) -> None:
    """The job's `script` (not its before_script, which installs with apt and pip) in a
    merge request pipeline's environment, with gitopsgen of this checkout on PATH."""
    assert BASH is not None
    job = yaml.safe_load((REPO / "examples/ci/gitlab-ci.yml").read_text())["gitopsgen"]
    assert job["variables"]["GIT_DEPTH"] == "0"
    assert {"tenants.yaml", "generated/**/*", "clusters/**/*"} <= set(job["rules"][0]["changes"])
    repo = tmp_path / "platform"
    _pull_request(repo)
    fake_bin = tmp_path / "fake-bin"
    fake_bin.mkdir()
    curl = fake_bin / "curl"
    curl.write_text(FAKE_CURL.format(python=sys.executable))
    curl.chmod(0o755)
    script = tmp_path / "job.sh"
    script.write_text("\n".join(job["script"]))
    log = tmp_path / "curl.jsonl"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "CI_"))}
    env.update(GIT_ENV)
    env.update({k: str(v) for k, v in job["variables"].items()})
    env.update(
        {
            "PATH": os.pathsep.join([str(fake_bin), str(Path(sys.executable).parent), env["PATH"]]),
            "CI": "true",
            "CI_PROJECT_DIR": str(repo),
            "CI_API_V4_URL": "https://gitlab.example/api/v4",
            "CI_PROJECT_ID": "42",
            "CI_MERGE_REQUEST_IID": "5",
            "CI_MERGE_REQUEST_TARGET_BRANCH_NAME": "main",
            "GITLAB_API_TOKEN": "glpat-test",
            "FAKE_CURL_LOG": str(log),
            "FAKE_CURL_STATE": str(tmp_path / "curl-state.json"),
        }
    )

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [BASH, "--noprofile", "--norc", "-eo", "pipefail", str(script)],
            cwd=repo,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )

    first = run()
    assert first.returncode == 0, first.stdout + first.stderr
    assert "created a note" in first.stdout
    (note,) = json.loads((tmp_path / "curl-state.json").read_text())["notes"]
    assert note["body"].startswith("<!-- gitopsgen: this note is updated on every push -->\n")
    assert "+ tenant d (" in note["body"]
    # A second push removes tenant c: the same note is updated; removals are not in
    # GITOPSGEN_FAIL_ON (drift), so the job passes, and fails when they are.
    cfg = repo / "tenants.yaml"
    cfg.write_text(cfg.read_text().replace("  - name: c\n    ip: 172.18.0.214\n", ""))
    assert invoke("build", "-q", "-c", "tenants.yaml", cwd=repo).code == 0
    second = run()
    assert second.returncode == 0, second.stdout + second.stderr
    assert "updated note 500" in second.stdout
    (note,) = json.loads((tmp_path / "curl-state.json").read_text())["notes"]
    assert "- tenant c (" in note["body"]
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    methods = [c[c.index("--request") + 1] if "--request" in c else "GET" for c in calls]
    # first push: the (empty) list of notes, create; second: the list, update
    assert methods == ["GET", "POST", "GET", "PUT"]
    env["GITOPSGEN_FAIL_ON"] = "drift,removals"
    third = run()
    assert third.returncode == 1
    assert "removes" in third.stdout and "Flux prunes" in third.stdout
