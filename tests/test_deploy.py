"""The deployment files, checked offline (issue 6).

No Docker engine runs where these tests run, so no image is built and no container started
(CI's image workflow does that). The linters of these files (hadolint, cfn-lint, checkov,
actionlint, zizmor, `compose config`) run in `make lint`; what is checked here is what no
linter knows:

- the image's Python against requires-python, the runtime stage's shape (nonroot, exec
  form, nothing but copies from the builder);
- the image's install, replayed outside Docker: the same `uv export` and `uv pip install
  --target` commands, Tempo's wheel, and the same entry point started with `env -i` and
  only the image's ENV plus Tempo's settings, against a real PostgreSQL;
- compose.yaml (and the dev container's overlay, which `make lint` does not check) as
  docker-compose resolves it: what it gives the Tempo services are settings Tempo reads,
  wired to the services that exist;
- the same agreement for infra/template.yaml's containers and function;
- the workflows: actions pinned by commit SHA, least privilege, what each one runs.
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer.main
import uvicorn.config
import yaml
from packaging.specifiers import SpecifierSet
from sqlalchemy.engine import make_url

from tempo.app import create_app_behind_proxy
from tempo.cli import app as cli_app
from tempo.core.settings import Settings
from tests.fixtures.app import TOKEN
from tests.fixtures.processes import (
    READY_SECONDS,
    SERVE_STOPPED,
    HTTPServerProcess,
    find_uv,
    free_port,
    started,
)

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "docker" / "Dockerfile"
DEVCONTAINER_DOCKERFILE = ROOT / ".devcontainer" / "Dockerfile"
WORKFLOWS = ROOT / ".github" / "workflows"
TEMPLATE = ROOT / "infra" / "template.yaml"

# The Python that each Debian release ships, which is what distroless's python3 image runs.
DEBIAN_PYTHON = {"debian12": "3.11", "debian13": "3.13"}

# Variables the Tempo containers get that are not Settings fields, and who reads them.
WEB_CONCURRENCY = "WEB_CONCURRENCY"  # `tempo serve --workers`
FORWARDED_ALLOW_IPS = "FORWARDED_ALLOW_IPS"  # trusted proxies: uvicorn's, and Tempo's on granian


def run(
    args: list[str | Path], *, timeout: float = 120, **kwargs: Any
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=timeout, **kwargs
    )


def settings_names() -> set[str]:
    return {name.upper() for name in Settings.model_fields}


def workers_envvar() -> str | None:
    serve = typer.main.get_command(cli_app).commands["serve"]
    option = next(p for p in serve.params if p.name == "workers")
    return option.envvar


def test_non_settings_variables_are_read_by_someone() -> None:
    assert workers_envvar() == WEB_CONCURRENCY
    assert FORWARDED_ALLOW_IPS in inspect.getsource(uvicorn.config)
    assert FORWARDED_ALLOW_IPS in inspect.getsource(create_app_behind_proxy)
    assert not {WEB_CONCURRENCY, FORWARDED_ALLOW_IPS} & settings_names()


# --- Dockerfiles --------------------------------------------------------------------------


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]

    def one(self, keyword: str) -> str:
        found = self.all(keyword)
        assert len(found) == 1, f"{keyword} in stage {self.name or self.base}: {found}"
        return found[0]

    def env(self) -> dict[str, str]:
        values: dict[str, str] = {}
        for args in self.all("ENV"):
            for pair in shlex.split(args):
                key, _, value = pair.partition("=")
                values[key] = value
        return values


def dockerfile_stages(path: Path) -> list[Stage]:
    """Stages with their instructions, continuation lines joined and comments dropped."""
    logical: list[str] = []
    pending = ""
    for line in path.read_text().splitlines():
        if line.lstrip().startswith("#"):
            continue  # Docker drops comment lines, inside continuations too
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    stages: list[Stage] = []
    for line in filter(str.strip, logical):
        keyword, _, args = line.strip().partition(" ")
        keyword, args = keyword.upper(), " ".join(args.split())
        if keyword == "FROM":
            base, _, name = args.partition(" AS ")
            stages.append(Stage(base=base, name=name or None))
        else:
            stages[-1].instructions.append((keyword, args))
    return stages


def exec_form(args: str) -> list[str]:
    value = json.loads(args)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), args
    return value


def healthcheck_argv(stage: Stage) -> list[str]:
    options, _, command = stage.one("HEALTHCHECK").partition("CMD ")
    assert options.startswith("--"), "HEALTHCHECK options, then CMD in exec form"
    return exec_form(command)


def test_runtime_stage_is_distroless_nonroot_exec_form_and_only_copies() -> None:
    stages = dockerfile_stages(DOCKERFILE)
    runtime = stages[-1]  # the default target
    assert runtime.base == "gcr.io/distroless/python3-debian13:nonroot"
    # No RUN: there is no shell to run it, and no build tool or cache can come in that way.
    assert {kw for kw, _ in runtime.instructions} <= {
        "ENV",
        "COPY",
        "WORKDIR",
        "USER",
        "EXPOSE",
        "HEALTHCHECK",
        "ENTRYPOINT",
        "CMD",
    }
    assert all(args.startswith("--from=builder ") for args in runtime.all("COPY"))
    assert runtime.one("USER") == "65532:65532"
    entrypoint, cmd = exec_form(runtime.one("ENTRYPOINT")), exec_form(runtime.one("CMD"))
    assert entrypoint == ["/usr/bin/python3.13", "-m", "tempo_container"]
    assert cmd[0] == "serve"
    port = cmd[cmd.index("--port") + 1]
    assert runtime.one("EXPOSE") == port
    assert healthcheck_argv(runtime)[:2] == ["/usr/bin/python3.13", "-c"]
    assert f"127.0.0.1:{port}/healthz" in healthcheck_argv(runtime)[2]
    # Every install in the builder goes through uv's cache mount or --no-cache, never a layer.
    for stage in stages[:-1]:
        for args in stage.all("RUN"):
            if "uv pip install" in args or "uv build" in args:
                assert "--mount=type=cache" in args or "--no-cache" in args, args


def test_image_python_matches_requires_python() -> None:
    stages = {stage.name: stage for stage in dockerfile_stages(DOCKERFILE)}
    builder = re.fullmatch(r"python:(\d+\.\d+)-slim-(\w+)", stages["builder"].base)
    runtime = re.fullmatch(
        r"gcr\.io/distroless/python3-(debian\d+):nonroot", stages["runtime"].base
    )
    lambda_ = re.fullmatch(r"public\.ecr\.aws/lambda/python:(\d+\.\d+)", stages["lambda"].base)
    assert builder and runtime and lambda_
    version = DEBIAN_PYTHON[runtime[1]]
    # The builder compiles bytecode and picks wheels for the interpreter that will run them.
    assert builder[1] == version == lambda_[1] == "3.13"
    assert builder[2] == "trixie"  # Debian 13, the runtime's release
    assert stages["builder"].env()["UV_PYTHON"] == f"/usr/local/bin/python{version}"
    assert exec_form(stages["runtime"].one("ENTRYPOINT"))[0] == f"/usr/bin/python{version}"
    assert healthcheck_argv(stages["runtime"])[0] == f"/usr/bin/python{version}"
    assert f"/var/lang/bin/python{version}" in stages["lambda"].one("RUN")

    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert version in SpecifierSet(requires), f"the image's {version} is outside {requires}"
    assert "3.11" in SpecifierSet(requires), "local development stays on 3.11"
    locked = tomllib.loads((ROOT / "uv.lock").read_text())["requires-python"]
    assert version in SpecifierSet(locked)
    # The dev container runs the image's Python on the image's Debian release.
    dev = dockerfile_stages(DEVCONTAINER_DOCKERFILE)[-1].base
    assert dev == f"mcr.microsoft.com/devcontainers/python:{version}-trixie"


# The image's commands (docker/Dockerfile). Resolving names from requirements.txt needs the
# package index (uv's cache holds wheels, not always index pages), so these two commands may
# reach the registry, as in the image build; the others run --offline.
EXPORT = (
    "uv export --locked --no-dev --no-emit-project --prune pgserver"
    " --format requirements.txt --output-file requirements.txt"
)
INSTALL_DEPENDENCIES = (
    "uv pip install --no-deps --require-hashes --target site-packages -r requirements.txt"
)
BUILD_WHEEL = "uv build --wheel --out-dir dist"
INSTALL_WHEEL = "uv pip install --no-deps --target site-packages dist/*.whl"


def test_the_test_replays_the_dockerfile_commands() -> None:
    builder = " ".join(dockerfile_stages(DOCKERFILE)[0].all("RUN"))
    for command in (EXPORT, INSTALL_DEPENDENCIES, BUILD_WHEEL, INSTALL_WHEEL):
        assert command in builder


def locked_closure(lock: dict[str, Any], roots: list[dict[str, Any]], skip: str) -> set[str]:
    """Names reachable from `roots` in uv.lock (extras included), not going through `skip`."""
    packages: dict[str, list[dict[str, Any]]] = {}
    for package in lock["package"]:
        packages.setdefault(package["name"], []).append(package)
    seen: set[tuple[str, str]] = set()
    todo = [(dep["name"], extra) for dep in roots for extra in ["", *dep.get("extra", [])]]
    while todo:
        name, extra = todo.pop()
        if name == skip or (name, extra) in seen:
            continue
        seen.add((name, extra))
        for version in packages[name]:  # every locked version: the export spans all markers
            if extra:
                deps = version.get("optional-dependencies", {}).get(extra, [])
            else:
                deps = version.get("dependencies", [])
            todo += [(dep["name"], e) for dep in deps for e in ["", *dep.get("extra", [])]]
    return {name for name, _ in seen}


def exported_names(uv: Path, *extra: str) -> set[str]:
    result = run(
        [uv, "export", "--locked", "--no-dev", "--no-emit-project", "--no-hashes", "--offline"]
        + list(extra),
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    return {line.split("==")[0] for line in lines if "==" in line and not line.startswith(" ")}


def test_image_leaves_out_the_embedded_database_and_only_what_it_alone_needs() -> None:
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    tempo = next(p for p in lock["package"] if p["name"] == "tempo")
    everything = locked_closure(lock, tempo["dependencies"], skip="")
    without_pgserver = locked_closure(lock, tempo["dependencies"], skip="pgserver")
    uv = find_uv()
    assert exported_names(uv) == everything
    assert exported_names(uv, "--prune", "pgserver") == without_pgserver
    left_out = everything - without_pgserver
    assert "pgserver" in left_out
    assert not left_out & {"asyncpg", "sqlalchemy", "uvicorn", "fastapi", "polars"}


def replace_after(argv: list[str], option: str, value: str) -> list[str]:
    index = argv.index(option) + 1
    return [*argv[:index], value, *argv[index + 1 :]]


@pytest.fixture
def image_tree(tmp_path: Path) -> Path:
    """What the builder stage puts in /app, made here with the Dockerfile's own commands."""
    uv = find_uv()
    app = tmp_path / "app"
    app.mkdir()
    # The build context after .dockerignore: no caches, no local state.
    for name in ("pyproject.toml", "uv.lock", "README.md"):
        shutil.copy2(ROOT / name, app / name)
    shutil.copytree(ROOT / "src", app / "src", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(ROOT / "docker" / "tempo_container.py", app / "tempo_container.py")

    def expand(word: str) -> list[str]:
        return sorted(str(p.relative_to(app)) for p in app.glob(word)) if "*" in word else [word]

    def uv_run(command: str, *more: str, offline: bool = True) -> None:
        # No shell here: expand the one glob (dist/*.whl) the way the Dockerfile's shell does.
        words = [w for word in shlex.split(command)[1:] for w in expand(word)]
        extra = ["--offline"] if offline else []
        result = run([uv, *words, *more, *extra, "--quiet"], cwd=app)
        assert result.returncode == 0, f"{command}\n{result.stderr}"

    uv_run(EXPORT)
    uv_run(INSTALL_DEPENDENCIES, "--python", sys.executable, offline=False)
    uv_run(BUILD_WHEEL, offline=False)  # the build backend comes from the index too
    uv_run(INSTALL_WHEEL, "--python", sys.executable)
    site = app / "site-packages"
    shutil.copy2(app / "tempo_container.py", site)
    shutil.rmtree(site / "bin", ignore_errors=True)
    return app


@pytest.mark.slow
async def test_wheel_runs_like_the_image_with_an_empty_environment(
    image_tree: Path, database_url: str, tmp_path: Path
) -> None:
    site = image_tree / "site-packages"
    assert (site / "tempo" / "migrations").is_dir(), "migrations ship inside the wheel"
    # So does the data tempo etl majors and the demo leaderboard read, with its SOURCES.md.
    for name in ("women-stem.csv", "messages.csv", "users.csv", "SOURCES.md"):
        assert (site / "tempo" / "bundled" / name).is_file(), f"{name} ships inside the wheel"
    # And the bundled image model, with its labels and the JSON that says how to feed it.
    for name in ("digits.onnx", "digits.labels.txt", "digits.json"):
        assert (site / "tempo" / "images" / "model" / name).is_file(), f"{name} ships too"
    assert not (site / "pgserver").exists()
    for dev_only in ("pytest", "mypy", "ruff", "hadolint", "cfnlint", "playwright"):
        assert not (site / dev_only).exists(), dev_only
    # PYTHONPATH, which the image uses instead of a venv, does not process .pth files.
    assert not list(site.glob("*.pth"))

    # An interpreter with an empty site-packages stands for distroless's /usr/bin/python3.13.
    bare = tmp_path / "bare"
    result = run([find_uv(), "venv", "--quiet", "--offline", "--python", sys.executable, bare])
    assert result.returncode == 0, result.stderr
    python = str(bare / "bin" / "python")

    runtime = dockerfile_stages(DOCKERFILE)[-1]
    data = tmp_path / "data"
    data.mkdir()
    env = runtime.env() | {
        "PYTHONPATH": str(site),
        "DATA_DIR": str(data),
        "DELTA_DIR": str(data / "delta"),
        "DATABASE_URL": database_url,
        "API_TOKEN": TOKEN,
        WEB_CONCURRENCY: "2",  # unset in the image: one per CPU; fixed here
    }
    # The image ships bytecode compiled at build time (UV_COMPILE_BYTECODE). Here it is
    # written on first import instead: compiling all of site-packages up front takes longer.
    del env["PYTHONDONTWRITEBYTECODE"]
    assert {k for k in env if not k.startswith("PYTHON")} <= settings_names() | {WEB_CONCURRENCY}

    entrypoint = exec_form(runtime.one("ENTRYPOINT")) + exec_form(runtime.one("CMD"))
    # env -i: no PATH, no HOME, no shell; only the image's ENV and Tempo's settings.
    empty_env = [shutil.which("env") or "/usr/bin/env", "-i", *(f"{k}={v}" for k, v in env.items())]

    def image(output: dict[str, Any]) -> HTTPServerProcess:
        port = str(free_port())
        argv = replace_after(
            replace_after([python, *entrypoint[1:]], "--host", "127.0.0.1"), "--port", port
        )
        return HTTPServerProcess(
            [*empty_env, *argv], f"http://127.0.0.1:{port}/healthz", method="GET",
            request_timeout=5, timeout=READY_SECONDS,  # three processes import Tempo on two cores
            cwd=str(image_tree), expected_returncode=SERVE_STOPPED, **output,
        )  # fmt: skip

    log = tmp_path / "server.log"
    with started(image, log) as server:
        base = f"http://127.0.0.1:{server.port}"
        async with httpx.AsyncClient(base_url=base, timeout=5) as client:
            ready = await client.get("/readyz")
            assert ready.status_code == 200, ready.text
            docs = await client.get("/docs")
            assert docs.status_code == 200
            # Swagger UI comes from the image's own site-packages (fastapi-offline), no CDN.
            scripts = re.findall(r'<script src="(/[^"]+)"', docs.text)
            assert scripts
            assert [(await client.get(s)).status_code for s in scripts] == [200] * len(scripts)

        # The image's HEALTHCHECK, as the container runtime runs it (exec form, same ENV).
        check = healthcheck_argv(runtime)
        check = [python, check[1], check[2].replace("127.0.0.1:8000", base.split("//")[1])]
        result = run([*empty_env, *check], timeout=30)
        assert result.returncode == 0, result.stderr
    assert "Traceback" not in log.read_text(), log.read_text()


def test_entry_point_counts_the_cpus_of_its_cgroup_quota(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location(
        "tempo_container", ROOT / "docker" / "tempo_container.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    affinity = len(os.sched_getaffinity(0))
    cpu_max = tmp_path / "cpu.max"
    cases = {
        "max 100000\n": affinity,
        "50000 100000\n": 1,
        "150000 100000\n": min(2, affinity),
        "not a quota": affinity,
    }
    for text, expected in cases.items():
        cpu_max.write_text(text)
        assert module.usable_cpus(cpu_max) == expected, text
    assert module.usable_cpus(tmp_path / "missing") == affinity


# --- compose ------------------------------------------------------------------------------


def compose_command() -> list[str]:
    if found := shutil.which("docker-compose"):
        return [found]
    docker = shutil.which("docker")
    if docker and run([docker, "compose", "version"]).returncode == 0:
        return [docker, "compose"]
    pytest.fail("neither docker-compose nor `docker compose`: run `make deploy-tools`")


def compose_config(tmp_path: Path, *args: str) -> dict[str, Any]:
    # A clean environment and an empty env file: what a fresh checkout gets.
    env_file = tmp_path / "empty.env"
    env_file.touch()
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path)}
    command = [*compose_command(), "--env-file", str(env_file), *args, "config"]
    result = run(command, cwd=ROOT, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load(result.stdout)
    assert isinstance(config, dict)
    return config


@pytest.fixture(scope="module")
def compose(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return compose_config(tmp_path_factory.mktemp("compose"), "--profile", "loadtest")


def environment(service: dict[str, Any]) -> dict[str, str | None]:
    env = service.get("environment", {})
    if isinstance(env, list):  # the list form, from other compose versions
        env = dict(item.partition("=")[::2] for item in env)
    return dict(env)


def ports(service: dict[str, Any]) -> set[tuple[str, int, int]]:
    """(host ip, published, target), from the short or the long syntax."""
    found = set()
    for port in service.get("ports", []):
        if isinstance(port, dict):
            published, target = port["published"], port["target"]
            found.add((port.get("host_ip", ""), int(published), int(target)))
        else:
            host_ip, published, target = str(port).split("/")[0].rsplit(":", 2)
            found.add((host_ip, int(published), int(target)))
    return found


def mounts(service: dict[str, Any]) -> set[tuple[str, str]]:
    """(source, target), from the short or the long syntax."""
    found = set()
    for volume in service.get("volumes", []):
        if isinstance(volume, dict):
            found.add((str(volume["source"]), str(volume["target"])))
        else:
            source, target = str(volume).split(":")[:2]
            found.add((source, target))
    return found


def conditions(service: dict[str, Any]) -> dict[str, str]:
    depends = service.get("depends_on", {})
    if isinstance(depends, list):
        return dict.fromkeys(depends, "service_started")
    return {name: spec["condition"] for name, spec in depends.items()}


def test_compose_config_is_valid_with_every_profile_and_the_dev_container(
    compose: dict[str, Any], tmp_path: Path
) -> None:
    assert set(compose["services"]) == {
        "postgres",
        "migrate",
        "api",
        "minio",
        "createbuckets",
        "locust-master",
        "locust-worker",
        "prometheus",
        "grafana",
    }
    with_dev = compose_config(tmp_path, "-f", "compose.yaml", "-f", ".devcontainer/compose.yaml")
    dev = with_dev["services"]["dev"]
    assert Path(dev["build"]["context"]) == ROOT / ".devcontainer"
    assert (str(ROOT), "/workspaces/tempo") in mounts(dev)
    assert set(environment(dev)) <= settings_names()
    dev_db = make_url(str(environment(dev)["DATABASE_URL"]))
    assert (dev_db.host, dev_db.port) == ("postgres", 5432)

    devcontainer = json.loads((ROOT / ".devcontainer" / "devcontainer.json").read_text())
    assert devcontainer["dockerComposeFile"] == ["../compose.yaml", "compose.yaml"]
    assert devcontainer["service"] == "dev"
    assert "runServices" not in devcontainer, "the dev container starts the whole stack"


def test_compose_gives_tempo_only_settings_it_reads(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    services = compose["services"]
    known = settings_names()
    for name in known:  # only what compose gives counts, not this machine's environment
        monkeypatch.delenv(name, raising=False)
    for name in ("migrate", "api"):
        env = environment(services[name])
        assert set(env) - known <= {WEB_CONCURRENCY}, f"{name}: {set(env) - known}"
        given = {k.lower(): v for k, v in env.items() if k in known and v is not None}
        settings = Settings(_env_file=None, **given)
        assert settings.environment == "production"
        assert not settings.api_token_is_placeholder
    assert services["migrate"]["command"] == ["migrate"]


def test_compose_services_are_wired_to_each_other(compose: dict[str, Any]) -> None:
    services = compose["services"]
    api, postgres, minio = services["api"], services["postgres"], services["minio"]
    env = environment(api)

    database = make_url(str(env["DATABASE_URL"]))
    pg_env = environment(postgres)
    assert (database.host, database.port) == ("postgres", 5432)
    assert (database.username, database.password, database.database) == (
        pg_env["POSTGRES_USER"],
        pg_env["POSTGRES_PASSWORD"],
        pg_env["POSTGRES_DB"],
    )
    assert environment(services["migrate"])["DATABASE_URL"] == env["DATABASE_URL"]
    for tempo in (api, services["migrate"]):
        assert (tempo["image"], tempo["build"]["dockerfile"]) == (
            "tempo:local",
            "docker/Dockerfile",
        )
    # The named volume sits where the image's DATA_DIR is, which the nonroot user owns.
    assert ("tempo-data", dockerfile_stages(DOCKERFILE)[-1].env()["DATA_DIR"]) in mounts(api)
    assert ("pgdata", "/var/lib/postgresql/data") in mounts(postgres)
    assert "pgdata" in compose["volumes"]
    assert postgres["healthcheck"]["test"][:2] == ["CMD", "pg_isready"]

    assert env["S3_ENDPOINT_URL"] == "http://minio:9000"
    minio_env = environment(minio)
    assert (env["S3_ACCESS_KEY_ID"], env["S3_SECRET_ACCESS_KEY"]) == (
        minio_env["MINIO_ROOT_USER"],
        minio_env["MINIO_ROOT_PASSWORD"],
    )
    buckets = environment(services["createbuckets"])
    assert (buckets["RAW_BUCKET"], buckets["RESULT_BUCKET"]) == (
        env["RAW_BUCKET"],
        env["RESULT_BUCKET"],
    )
    script = " ".join(services["createbuckets"]["command"])
    assert "RAW_BUCKET" in script and "RESULT_BUCKET" in script and "mc mb" in script

    assert conditions(api) == {
        "postgres": "service_healthy",
        "migrate": "service_completed_successfully",
        "createbuckets": "service_completed_successfully",
    }
    assert conditions(services["migrate"]) == {"postgres": "service_healthy"}
    assert conditions(services["createbuckets"]) == {"minio": "service_healthy"}

    # The port the server listens on, the one compose publishes, the image's, the locusts'.
    port = int(api["command"][api["command"].index("--port") + 1])
    assert ports(api) == {("127.0.0.1", 8000, port)}
    runtime = dockerfile_stages(DOCKERFILE)[-1]
    assert exec_form(runtime.one("CMD")) == api["command"]
    assert int(runtime.one("EXPOSE")) == port
    master, worker = services["locust-master"], services["locust-worker"]
    assert master["profiles"] == worker["profiles"] == ["loadtest"]
    assert f"http://api:{port}" in master["command"]
    assert worker["command"][worker["command"].index("--master-host") + 1] == "locust-master"
    assert "/mnt/locust/locustfile.py" in master["command"]
    assert (ROOT / "loadtest" / "locustfile.py").is_file()


# --- infrastructure -----------------------------------------------------------------------


def template() -> dict[str, Any]:
    from cfnlint.decode import decode  # the loader that knows !Ref, !Sub and the rest

    loaded, problems = decode(str(TEMPLATE))
    assert not problems and loaded is not None
    return dict(loaded)


def test_cloudformation_gives_tempo_only_settings_it_reads() -> None:
    resources = template()["Resources"]
    known = settings_names()
    containers = resources["TaskDefinition"]["Properties"]["ContainerDefinitions"]
    by_name = {c["Name"]: c for c in containers}
    assert set(by_name) == {"migrate", "api"}
    for container in containers:
        names = {e["Name"] for e in container.get("Environment", []) + container["Secrets"]}
        assert names - known <= {WEB_CONCURRENCY, FORWARDED_ALLOW_IPS}, names - known
        assert {"DATABASE_URL", "API_TOKEN"} <= {s["Name"] for s in container["Secrets"]}
    function = resources["PipelineFunction"]["Properties"]
    assert set(function["Environment"]["Variables"]) <= known

    api = by_name["api"]
    runtime = dockerfile_stages(DOCKERFILE)[-1]
    assert api["Command"] == exec_form(runtime.one("CMD"))
    assert api["DependsOn"] == [{"ContainerName": "migrate", "Condition": "SUCCESS"}]
    assert by_name["migrate"]["Command"] == ["migrate"]
    assert api["HealthCheck"]["Command"] == ["CMD", *healthcheck_argv(runtime)]
    port = int(runtime.one("EXPOSE"))
    assert api["PortMappings"][0]["ContainerPort"] == port
    assert resources["TargetGroup"]["Properties"]["Port"] == port
    assert resources["TargetGroup"]["Properties"]["HealthCheckPath"] == "/healthz"

    metrics = {
        resources[name]["Properties"]["TargetTrackingScalingPolicyConfiguration"][
            "PredefinedMetricSpecification"
        ]["PredefinedMetricType"]
        for name in ("CpuScaling", "RequestScaling")
    }
    assert metrics == {"ECSServiceAverageCPUUtilization", "ALBRequestCountPerTarget"}
    assert function["PackageType"] == "Image"
    assert function["Events"]["RawObjectCreated"]["Properties"]["Bucket"] == {"Ref": "RawBucket"}
    lambda_stage = next(s for s in dockerfile_stages(DOCKERFILE) if s.name == "lambda")
    assert exec_form(lambda_stage.one("CMD")) == ["tempo.lambda_handler.handler"]


# --- workflows ----------------------------------------------------------------------------


def workflow_files() -> list[Path]:
    return sorted(WORKFLOWS.glob("*.yml"))


def uses(workflow: dict[str, Any]) -> Iterator[str]:
    for job in workflow["jobs"].values():
        for step in job.get("steps", []):
            if "uses" in step:
                yield step["uses"]


def test_workflows_cover_the_pipeline_pinned_and_least_privileged() -> None:
    workflows = {path.stem: yaml.safe_load(path.read_text()) for path in workflow_files()}
    assert set(workflows) == {"install", "lint", "format", "test", "image", "pipeline"}
    pinned = re.compile(r"^[\w.-]+/[\w.-]+@[0-9a-f]{40}$")
    for name, workflow in workflows.items():
        text = (WORKFLOWS / f"{name}.yml").read_text()
        for ref in uses(workflow):
            assert pinned.match(ref), f"{name}: {ref} is not pinned to a commit"
            assert re.search(re.escape(ref) + r" # v\d", text), f"{name}: {ref} needs # vX.Y.Z"
        # Nothing by default; each job asks for what it needs (read the code, at most).
        assert workflow["permissions"] == {}, name
        for job in workflow["jobs"].values():
            assert job["permissions"] == {"contents": "read"}, name
        # Triggers: YAML reads `on` as True.
        triggers = workflow[True]
        if name == "pipeline":
            assert set(triggers) == {"workflow_dispatch", "schedule"}
        else:
            assert {"push", "pull_request"} <= set(triggers), name

    def runs(name: str) -> str:
        return " ".join(
            step.get("run", "")
            for job in workflows[name]["jobs"].values()
            for step in job.get("steps", [])
        )

    assert "ruff check" in runs("lint") and "mypy" in runs("lint")
    assert "cfn-lint infra/template.yaml" in runs("lint")
    assert "zizmor" in runs("lint") and "actionlint" in runs("lint")
    assert "ruff format --check" in runs("format")
    assert "pytest" in runs("test")
    assert workflows["test"]["jobs"]["test"]["services"]["postgres"]["image"].startswith(
        "postgres:"
    )
    assert "docker buildx build" in runs("image") and "hadolint" in runs("image")
    assert "docker compose up" in runs("image")
    assert "tempo aggregate" in runs("pipeline") and "tempo feed" in runs("pipeline")

    readme = (ROOT / "README.md").read_text()
    for badge in ("install", "lint", "test", "format"):
        assert f"actions/workflows/{badge}.yml/badge.svg" in readme, badge
