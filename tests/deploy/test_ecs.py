"""deploy/ecs/: the Fargate task definition and the CloudFormation template.

The template passes cfn-lint (the real linter, informational checks included), which
validates every resource against CloudFormation's schemas, Fargate's cpu/memory pairs among
them. task-definition.json is validated against botocore's model of RegisterTaskDefinition,
the input `aws ecs register-task-definition --cli-input-json` takes, and checked for what
ggwatch needs. The template's task definition must say the same as the JSON file, and its task
role's policy must be deploy/iam/ggwatch-readonly.json.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast

import botocore.session
import pytest
from botocore.validate import ParamValidator

from ggwatch.settings import Settings, load_settings
from tests.deploy.cfn import load_template, run_cfn_lint
from tests.deploy.test_container import image_user

REPO = Path(__file__).resolve().parents[2]
ECS = REPO / "deploy" / "ecs"
TASK_DEFINITION = ECS / "task-definition.json"
TEMPLATE = ECS / "ggwatch.yaml"
READONLY_POLICY = REPO / "deploy" / "iam" / "ggwatch-readonly.json"

# Fargate's task-level cpu (units) and the memory (MiB) each allows.
FARGATE_MEMORY = {
    256: {512, 1024, 2048},
    512: set(range(1024, 4096 + 1, 1024)),
    1024: set(range(2048, 8192 + 1, 1024)),
    2048: set(range(4096, 16384 + 1, 1024)),
    4096: set(range(8192, 30720 + 1, 1024)),
    8192: set(range(16384, 61440 + 1, 4096)),
    16384: set(range(32768, 122880 + 1, 8192)),
}


def is_intrinsic(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and len(value) == 1
        and next(iter(value)) in {"Ref", "Fn::GetAtt", "Fn::Sub", "Fn::If", "Fn::Join"}
    )


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template(TEMPLATE)


@pytest.fixture(scope="module")
def task() -> dict[str, Any]:
    return cast(dict[str, Any], json.loads(TASK_DEFINITION.read_text(encoding="utf-8")))


def resources(template: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [r for r in template["Resources"].values() if r["Type"] == kind]


def resource(template: dict[str, Any], kind: str) -> dict[str, Any]:
    found = resources(template, kind)
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


# -- CloudFormation -----------------------------------------------------------------------------


def test_cfn_lint_passes() -> None:
    result = run_cfn_lint(TEMPLATE)
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_cfn_lint_finds_what_it_should(tmp_path: Path) -> None:
    # The linter reads the real template: an invalid Fargate size is reported.
    text = TEMPLATE.read_text(encoding="utf-8")
    assert 'Memory: "512"' in text
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace('Memory: "512"', 'Memory: "300"'), encoding="utf-8")
    result = run_cfn_lint(bad)
    assert result.returncode != 0
    assert "E3047" in result.stdout


def test_service_runs_one_fargate_task_in_private_subnets(template: dict[str, Any]) -> None:
    service = resource(template, "AWS::ECS::Service")["Properties"]
    assert service["LaunchType"] == "FARGATE"
    assert service["DesiredCount"] == 1
    # Never two daemons at once: the old task stops before the new one starts.
    assert service["DeploymentConfiguration"]["MaximumPercent"] == 100
    assert service["DeploymentConfiguration"]["MinimumHealthyPercent"] == 0
    network = service["NetworkConfiguration"]["AwsvpcConfiguration"]
    assert network["AssignPublicIp"] == "DISABLED"
    assert network["Subnets"] == {"Ref": "PrivateSubnetIds"}
    assert template["Parameters"]["PrivateSubnetIds"]["Type"] == "List<AWS::EC2::Subnet::Id>"
    assert service["TaskDefinition"] == {"Ref": "TaskDefinition"}


def test_security_group_admits_only_the_metrics_port(template: dict[str, Any]) -> None:
    group = resource(template, "AWS::EC2::SecurityGroup")["Properties"]
    (ingress,) = group["SecurityGroupIngress"]
    assert (ingress["IpProtocol"], ingress["FromPort"], ingress["ToPort"]) == ("tcp", 8419, 8419)
    assert ingress["CidrIp"] == {"Ref": "MetricsIngressCidr"}
    (egress,) = group["SecurityGroupEgress"]
    assert (egress["IpProtocol"], egress["FromPort"], egress["ToPort"]) == ("tcp", 443, 443)
    service = resource(template, "AWS::ECS::Service")["Properties"]
    assert service["NetworkConfiguration"]["AwsvpcConfiguration"]["SecurityGroups"] == [
        {"Ref": "SecurityGroup"}
    ]


def test_task_role_policy_is_the_readonly_policy_file(template: dict[str, Any]) -> None:
    if not READONLY_POLICY.is_file():
        pytest.fail(f"{READONLY_POLICY.relative_to(REPO)} does not exist: the template embeds it")
    expected = json.loads(READONLY_POLICY.read_text(encoding="utf-8"))
    policy = template["Resources"]["ReadOnlyPolicy"]
    assert policy["Type"] == "AWS::IAM::ManagedPolicy"
    assert policy["Properties"]["PolicyDocument"] == expected, (
        "ReadOnlyPolicy in deploy/ecs/ggwatch.yaml differs from deploy/iam/ggwatch-readonly.json"
    )
    role = template["Resources"]["TaskRole"]["Properties"]
    assert role["ManagedPolicyArns"] == [{"Ref": "ReadOnlyPolicy"}]
    assert "Policies" not in role  # nothing granted beyond the file
    (statement,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "ecs-tasks.amazonaws.com"}
    properties = template["Resources"]["TaskDefinition"]["Properties"]
    assert properties["TaskRoleArn"] == {"Fn::GetAtt": ["TaskRole", "Arn"]}


def test_execution_role_and_log_group(template: dict[str, Any]) -> None:
    execution = template["Resources"]["ExecutionRole"]["Properties"]
    policy = "arn:${AWS::Partition}:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
    assert execution["ManagedPolicyArns"] == [{"Fn::Sub": policy}]
    properties = template["Resources"]["TaskDefinition"]["Properties"]
    assert properties["ExecutionRoleArn"] == {"Fn::GetAtt": ["ExecutionRole", "Arn"]}
    logs = resource(template, "AWS::Logs::LogGroup")["Properties"]
    assert logs["RetentionInDays"] == {"Ref": "LogRetentionInDays"}
    assert template["Parameters"]["LogRetentionInDays"]["Default"] > 0
    options = properties["ContainerDefinitions"][0]["LogConfiguration"]["Options"]
    assert options["awslogs-group"] == {"Ref": "LogGroup"}


# -- the task definition file ---------------------------------------------------------------------


def test_task_definition_matches_the_ecs_api(task: dict[str, Any]) -> None:
    model = botocore.session.get_session().get_service_model("ecs")
    shape = model.operation_model("RegisterTaskDefinition").input_shape
    report = ParamValidator().validate(task, shape)
    assert not report.has_errors(), report.generate_report()


def test_api_validation_rejects_an_unknown_field(task: dict[str, Any]) -> None:
    model = botocore.session.get_session().get_service_model("ecs")
    shape = model.operation_model("RegisterTaskDefinition").input_shape
    bad = json.loads(json.dumps(task))
    bad["containerDefinitions"][0]["readOnlyRootFilesystem"] = True  # the field is readonlyRoot...
    assert "readOnlyRootFilesystem" in ParamValidator().validate(bad, shape).generate_report()


def test_task_definition_is_fargate(task: dict[str, Any]) -> None:
    assert task["networkMode"] == "awsvpc"
    assert task["requiresCompatibilities"] == ["FARGATE"]
    cpu, memory = int(task["cpu"]), int(task["memory"])
    assert memory in FARGATE_MEMORY[cpu], f"cpu {cpu} with memory {memory} is not a Fargate size"
    assert re.fullmatch(r"arn:aws:iam::ACCOUNT_ID:role/[\w+=,.@-]+", task["taskRoleArn"])
    assert re.fullmatch(r"arn:aws:iam::ACCOUNT_ID:role/[\w+=,.@-]+", task["executionRoleArn"])
    assert task["taskRoleArn"] != task["executionRoleArn"]


def test_container_runs_locked_down(task: dict[str, Any]) -> None:
    (c,) = task["containerDefinitions"]
    uid, gid = image_user()
    # uid:gid: with a uid alone Docker would run the process in group 0 (root).
    assert c["user"] == f"{uid}:{gid}" == "10001:10001"
    assert c["readonlyRootFilesystem"] is True
    assert c["privileged"] is False
    assert c["linuxParameters"]["capabilities"] == {"drop": ["ALL"]}
    assert c["essential"] is True
    assert c["command"] == ["run"]
    volumes = {v["name"]: v for v in task["volumes"]}
    writable = [m for m in c["mountPoints"] if not m["readOnly"]]
    assert [m["containerPath"] for m in writable] == ["/tmp"]
    assert volumes[writable[0]["sourceVolume"]] == {"name": writable[0]["sourceVolume"]}


def test_container_port_and_logs(task: dict[str, Any]) -> None:
    (c,) = task["containerDefinitions"]
    assert c["portMappings"] == [{"name": "http", "containerPort": 8419, "protocol": "tcp"}]
    log = c["logConfiguration"]
    assert log["logDriver"] == "awslogs"
    assert {"awslogs-group", "awslogs-region", "awslogs-stream-prefix"} <= log["options"].keys()


def test_environment_is_valid_ggwatch_settings(
    task: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    (c,) = task["containerDefinitions"]
    env = {item["name"]: item["value"] for item in c["environment"]}
    assert len(env) == len(c["environment"]), "a variable is set twice"
    for name, value in env.items():
        assert name.startswith("GGWATCH_")
        assert name.removeprefix("GGWATCH_").lower() in Settings.model_fields, name
        monkeypatch.setenv(name, value)
    settings = load_settings(None, env)
    assert settings.log_format == "json"
    assert settings.regions  # AWS_REGION alone is not read by botocore: name the Region
    assert settings.http_port == c["portMappings"][0]["containerPort"]


class _Health(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status if self.path == "/healthz" else 404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def health_server() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.mark.parametrize(("status", "healthy"), [(200, True), (503, False)])
def test_health_check_command_follows_healthz(
    task: dict[str, Any], health_server: ThreadingHTTPServer, status: int, healthy: bool
) -> None:
    # The image has no curl: the check runs the image's Python. Run the same code here against
    # a server answering /healthz with 200, then 503: the exit status must follow.
    (c,) = task["containerDefinitions"]
    check = c["healthCheck"]
    kind, python, flag, code = check["command"]
    assert (kind, python, flag) == ("CMD", "/opt/ggwatch/bin/python", "-c")
    assert "http://127.0.0.1:8419/healthz" in code
    assert check["timeout"] < check["interval"]
    port = health_server.server_address[1]
    _Health.status = status
    result = subprocess.run(
        [sys.executable, "-c", code.replace(":8419/", f":{port}/")],
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert (result.returncode == 0) is healthy


# -- the template says what the file says ---------------------------------------------------------

FREE_FORM_MAPS = {"options", "dockerLabels"}  # their keys are data, not property names

# Where the stack fills in what the file leaves as placeholders.
STACK_VALUES = {
    "Family",
    "TaskRoleArn",
    "ExecutionRoleArn",
    "ContainerDefinitions[0].Image",
    "ContainerDefinitions[0].Environment[0].Value",
    "ContainerDefinitions[0].LogConfiguration.Options.awslogs-group",
    "ContainerDefinitions[0].LogConfiguration.Options.awslogs-region",
}


def to_cloudformation(value: Any, free_form: bool = False) -> Any:
    """The ECS API's JSON (camelCase) as CloudFormation's properties (PascalCase)."""
    if isinstance(value, dict):
        return {
            (key if free_form else key[0].upper() + key[1:]): to_cloudformation(
                item, free_form=not free_form and key in FREE_FORM_MAPS
            )
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [to_cloudformation(item) for item in value]
    return value


def differences(cfn: Any, api: Any, path: str, filled: set[str]) -> list[str]:
    if is_intrinsic(cfn):
        filled.add(path)
        return [] if isinstance(api, str) else [f"{path}: {api!r} is not a placeholder"]
    if isinstance(cfn, dict) and isinstance(api, dict):
        found = [f"{path}.{k}: only in one" for k in cfn.keys() ^ api.keys()]
        for key in cfn.keys() & api.keys():
            found += differences(cfn[key], api[key], f"{path}.{key}".lstrip("."), filled)
        return found
    if isinstance(cfn, list) and isinstance(api, list):
        if len(cfn) != len(api):
            return [f"{path}: {len(cfn)} items in the template, {len(api)} in the file"]
        found = []
        for i, (a, b) in enumerate(zip(cfn, api, strict=True)):
            found += differences(a, b, f"{path}[{i}]", filled)
        return found
    return [] if cfn == api else [f"{path}: {cfn!r} in the template, {api!r} in the file"]


def test_conversion_keeps_free_form_keys() -> None:
    api = {"logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "g"}}}
    assert to_cloudformation(api) == {
        "LogConfiguration": {"LogDriver": "awslogs", "Options": {"awslogs-group": "g"}}
    }


def test_template_task_definition_is_the_file(
    template: dict[str, Any], task: dict[str, Any]
) -> None:
    properties = template["Resources"]["TaskDefinition"]["Properties"]
    filled: set[str] = set()
    found = differences(properties, to_cloudformation(task), "", filled)
    assert found == [], "deploy/ecs/ggwatch.yaml and task-definition.json differ:\n" + "\n".join(
        found
    )
    assert filled == STACK_VALUES


def test_comparison_sees_a_difference(template: dict[str, Any], task: dict[str, Any]) -> None:
    properties = template["Resources"]["TaskDefinition"]["Properties"]
    retries = properties["ContainerDefinitions"][0]["HealthCheck"]["Retries"]
    changed = json.loads(json.dumps(task))
    changed["containerDefinitions"][0]["healthCheck"]["retries"] = retries + 1
    found = differences(properties, to_cloudformation(changed), "", set())
    path = "ContainerDefinitions[0].HealthCheck.Retries"
    assert found == [f"{path}: {retries} in the template, {retries + 1} in the file"]
