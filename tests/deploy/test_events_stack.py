"""deploy/events/ and the IAM policies of the event consumer and of multi-account targets.

- Both templates pass cfn-lint (informational checks too), which knows CloudFormation's
  resource schemas and IAM's action names.
- The templates are read as documents and "deployed" here with chosen parameters: conditions
  decided, Fn::If and AWS::NoValue resolved, so what is checked is what a stack would create.
- The event patterns are matched against sample events laid out as AWS sends them (see
  /work/shared/reference/greengrass-v2-facts.md). moto 5 answers TestEventPattern with an empty
  body (no Result), so the verdicts come from moto's own matcher (moto.events.models.EventPattern),
  and a second test puts the rules and events on moto's server on loopback and reads the queue:
  EventBridge to SQS, end to end, in moto's model.
- The daemon's new policies name real operations (botocore's models) and the resources the
  templates create.
"""

from __future__ import annotations

import copy
import json
import re
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import pytest
from moto.events.models import EventPattern
from moto.events.utils import EventMessageType
from moto.server import ThreadedMotoServer

from tests.deploy.cfn import load_template, run_cfn_lint

REPO = Path(__file__).resolve().parents[2]
EVENTS = REPO / "deploy" / "events" / "ggwatch-events.yaml"
MEMBER = REPO / "deploy" / "events" / "ggwatch-member.yaml"
IAM = REPO / "deploy" / "iam"
READONLY_POLICY = IAM / "ggwatch-readonly.json"
CLEANUP_POLICY = IAM / "ggwatch-cleanup.json"
EVENTS_POLICY = IAM / "ggwatch-events.json"
ASSUME_POLICY = IAM / "ggwatch-assume-targets.json"
ORG_POLICY = IAM / "ggwatch-organization.json"
REGIONS_POLICY = IAM / "ggwatch-regions.json"

REGION = "us-west-2"
MONITORING = "111111111111"
MEMBER_ACCOUNT = "222222222222"
QUEUE = {"Fn::GetAtt": ["Queue", "Arn"]}
BUS = "arn:${AWS::Partition}:events:${AWS::Region}:${%s}:event-bus/default"
MONITORING_BUS = {"Fn::Sub": BUS % "MonitoringAccountId"}


def load_json(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return loaded


@pytest.fixture(scope="module")
def events() -> dict[str, Any]:
    return load_template(EVENTS)


@pytest.fixture(scope="module")
def member() -> dict[str, Any]:
    return load_template(MEMBER)


# -- a stack as CloudFormation would create it ---------------------------------------------------
# Only the intrinsics these templates use in Conditions, Fn::If and AWS::NoValue; everything else
# (Ref to a resource, GetAtt, Sub) stays as written, which is what the tests compare against.

_DROP = object()


def _value(node: Any, values: dict[str, Any], conditions: dict[str, bool]) -> Any:
    if not isinstance(node, dict):
        return node
    ((name, arg),) = node.items()
    if name == "Ref":
        return values[arg]
    if name == "Condition":
        return conditions[arg]
    if name == "Fn::Join":
        return arg[0].join(_value(arg[1], values, conditions))
    if name == "Fn::Equals":
        return _value(arg[0], values, conditions) == _value(arg[1], values, conditions)
    if name == "Fn::Not":
        return not _value(arg[0], values, conditions)
    raise AssertionError(f"{name} in a condition: teach _value about it")


def _resolve(node: Any, conditions: dict[str, bool]) -> Any:
    if isinstance(node, dict):
        if list(node) == ["Fn::If"]:
            name, if_true, if_false = node["Fn::If"]
            return _resolve(if_true if conditions[name] else if_false, conditions)
        if node == {"Ref": "AWS::NoValue"}:
            return _DROP
        resolved = {k: _resolve(v, conditions) for k, v in node.items()}
        return {k: v for k, v in resolved.items() if v is not _DROP}
    if isinstance(node, list):
        return [v for v in (_resolve(item, conditions) for item in node) if v is not _DROP]
    return node


def deploy(
    template: dict[str, Any], account: str = MONITORING, **parameters: str
) -> dict[str, dict[str, Any]]:
    """The resources a stack of `template` creates in `account` with these parameters."""
    declared = template.get("Parameters", {})
    assert set(parameters) <= set(declared), set(parameters) - set(declared)
    values: dict[str, Any] = {"AWS::AccountId": account, "AWS::Region": REGION}
    for name, spec in declared.items():
        if name not in parameters and "Default" not in spec:
            raise AssertionError(f"parameter {name} has no default: pass it")
        raw = str(parameters.get(name, spec.get("Default")))
        values[name] = raw.split(",") if spec["Type"] == "CommaDelimitedList" else raw
    conditions: dict[str, bool] = {}
    for name, expression in template.get("Conditions", {}).items():  # declared before use here
        conditions[name] = bool(_value(expression, values, conditions))
    return {
        name: _resolve(resource, conditions)
        for name, resource in template["Resources"].items()
        if "Condition" not in resource or conditions[resource["Condition"]]
    }


def of_type(resources: dict[str, dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {n: r["Properties"] for n, r in resources.items() if r["Type"] == kind}


def test_deploy_decides_conditions(member: dict[str, Any]) -> None:
    # The helper itself: the same template gives different stacks for different parameters.
    plain = deploy(member, account=MEMBER_ACCOUNT, MonitoringAccountId=MONITORING)
    cleanup = deploy(member, account=MEMBER_ACCOUNT, MonitoringAccountId=MONITORING, Cleanup="true")
    at_home = deploy(member, account=MONITORING, MonitoringAccountId=MONITORING)
    assert len(plain["ReadRole"]["Properties"]["Policies"]) == 1
    assert len(cleanup["ReadRole"]["Properties"]["Policies"]) == 2
    assert "ForwardRole" in plain
    assert "ForwardRole" not in at_home
    with pytest.raises(AssertionError, match="MonitoringAccountId has no default"):
        deploy(member)


# -- cfn-lint --------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [EVENTS, MEMBER], ids=["events", "member"])
def test_cfn_lint_passes(path: Path) -> None:
    result = run_cfn_lint(path)
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_cfn_lint_finds_what_it_should(tmp_path: Path) -> None:
    # The linter reads the real template: a misspelt queue property is reported.
    text = EVENTS.read_text(encoding="utf-8")
    assert "ReceiveMessageWaitTimeSeconds: 20" in text
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace("WaitTimeSeconds: 20", "WaitTimeSecond: 20"), encoding="utf-8")
    result = run_cfn_lint(bad)
    assert result.returncode != 0
    assert "E3002" in result.stdout


# -- the monitoring account's stack ----------------------------------------------------------------


def test_queue_and_dead_letter_queue(events: dict[str, Any]) -> None:
    queues = of_type(deploy(events), "AWS::SQS::Queue")
    assert set(queues) == {"Queue", "DeadLetterQueue"}
    queue, dead = queues["Queue"], queues["DeadLetterQueue"]
    parameters = events["Parameters"]
    for properties in (queue, dead):
        assert properties["SqsManagedSseEnabled"] is True
        assert "KmsMasterKeyId" not in properties  # a customer key would need a key policy
    assert queue["ReceiveMessageWaitTimeSeconds"] == 20
    assert queue["VisibilityTimeout"] == {"Ref": "VisibilityTimeout"}
    assert parameters["VisibilityTimeout"]["Default"] == 120
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]},
        "maxReceiveCount": {"Ref": "MaxReceiveCount"},
    }
    assert parameters["MaxReceiveCount"]["Default"] == 5
    assert dead["MessageRetentionPeriod"] == 14 * 24 * 3600
    # Retention counts from the first enqueue: dead letters must outlive the queue's own.
    assert dead["MessageRetentionPeriod"] > queue["MessageRetentionPeriod"]
    assert queue["QueueName"] == {"Ref": "QueueName"}
    assert dead["QueueName"] == {"Ref": "DeadLetterQueueName"}


def rules_targeting(resources: dict[str, dict[str, Any]], arn: Any) -> set[str]:
    return {
        name
        for name, rule in of_type(resources, "AWS::Events::Rule").items()
        if any(target["Arn"] == arn for target in rule["Targets"])
    }


def test_rules_are_on_the_default_bus_and_target_the_queue(events: dict[str, Any]) -> None:
    resources = deploy(events)
    rules = of_type(resources, "AWS::Events::Rule")
    assert rules_targeting(resources, QUEUE) == set(rules) == {"GreengrassRule", "HealthRule"}
    for rule in rules.values():
        assert rule["EventBusName"] == "default"
        assert rule["State"] == "ENABLED"
        assert [t["Arn"] for t in rule["Targets"]] == [QUEUE]


def test_queue_policy_admits_exactly_the_rules_that_target_the_queue(
    events: dict[str, Any],
) -> None:
    resources = deploy(events)
    (policy,) = of_type(resources, "AWS::SQS::QueuePolicy").values()
    assert policy["Queues"] == [{"Ref": "Queue"}]
    allows = [s for s in policy["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"]
    (allow,) = allows
    assert allow["Principal"] == {"Service": "events.amazonaws.com"}
    assert allow["Action"] == "sqs:SendMessage"
    assert allow["Resource"] == QUEUE
    assert set(allow["Condition"]) == {"ArnEquals"}
    (source_arns,) = allow["Condition"]["ArnEquals"].values()
    assert list(allow["Condition"]["ArnEquals"]) == ["aws:SourceArn"]
    named = [arn["Fn::GetAtt"][0] for arn in source_arns]
    assert source_arns == [{"Fn::GetAtt": [name, "Arn"]} for name in named]
    assert sorted(named) == sorted(rules_targeting(resources, QUEUE))


def test_member_accounts_may_put_events_only_when_named(events: dict[str, Any]) -> None:
    assert of_type(deploy(events), "AWS::Events::EventBusPolicy") == {}

    members = [MEMBER_ACCOUNT, "333333333333"]
    resources = deploy(events, MemberAccountIds=",".join(members))
    (policy,) = of_type(resources, "AWS::Events::EventBusPolicy").values()
    assert policy["EventBusName"] == "default"
    statement = policy["Statement"]
    assert statement["Principal"] == {"AWS": {"Ref": "MemberAccountIds"}}
    assert statement["Effect"] == "Allow"
    assert statement["Action"] == "events:PutEvents"
    assert statement["Resource"] == {"Fn::Sub": BUS % "AWS::AccountId"}
    # Members may put exactly the sources the rules match, nothing else.
    sources = {
        source
        for rule in of_type(resources, "AWS::Events::Rule").values()
        for source in rule["EventPattern"]["source"]
    }
    allowed = statement["Condition"]["ForAllValues:StringEquals"]["events:source"]
    assert set(allowed) == sources == {"aws.greengrass", "aws.health"}


def test_outputs_are_exported_under_the_stack_name(events: dict[str, Any]) -> None:
    outputs = events["Outputs"]
    assert outputs["QueueUrl"]["Value"] == {"Ref": "Queue"}
    assert outputs["QueueArn"]["Value"] == QUEUE
    assert outputs["DeadLetterQueueUrl"]["Value"] == {"Ref": "DeadLetterQueue"}
    for name, output in outputs.items():
        assert output["Export"] == {"Name": {"Fn::Sub": f"${{AWS::StackName}}-{name}"}}


# -- the member account's stack --------------------------------------------------------------------


def read_role(**parameters: str) -> dict[str, Any]:
    resources = deploy(
        load_template(MEMBER),
        account=MEMBER_ACCOUNT,
        **{"MonitoringAccountId": MONITORING, **parameters},
    )
    role: dict[str, Any] = resources["ReadRole"]["Properties"]
    return role


def test_member_role_policy_is_the_readonly_policy_file() -> None:
    role = read_role()
    assert role["RoleName"] == {"Ref": "RoleName"}
    assert role["Policies"] == [
        {"PolicyName": "ggwatch-readonly", "PolicyDocument": load_json(READONLY_POLICY)}
    ], "ReadRole in ggwatch-member.yaml differs from deploy/iam/ggwatch-readonly.json"
    assert "ManagedPolicyArns" not in role  # nothing granted beyond the file


def test_member_role_lists_regions_only_when_asked() -> None:
    policies = read_role(AllRegions="true")["Policies"]
    assert policies[-1] == {
        "PolicyName": "ggwatch-regions",
        "PolicyDocument": load_json(REGIONS_POLICY),
    }


def test_member_role_with_cleanup_adds_the_cleanup_statements_but_s3() -> None:
    granted = [
        s for p in read_role(Cleanup="true")["Policies"] for s in p["PolicyDocument"]["Statement"]
    ]
    cleanup = load_json(CLEANUP_POLICY)["Statement"]
    without_s3 = [s for s in cleanup if not any(a.startswith("s3:") for a in s["Action"])]
    assert len(without_s3) < len(cleanup)  # the file has S3 statements to leave out
    assert granted == without_s3
    assert (
        granted[: len(load_json(READONLY_POLICY)["Statement"])]
        == (load_json(READONLY_POLICY)["Statement"])
    )


def trust(role: dict[str, Any]) -> dict[str, Any]:
    (statement,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Action"] == "sts:AssumeRole"
    result: dict[str, Any] = statement
    return result


def test_member_role_trusts_the_monitoring_account_or_the_principal_named() -> None:
    assert trust(read_role())["Principal"] == {
        "AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${MonitoringAccountId}:root"}
    }
    principal = f"arn:aws:iam::{MONITORING}:role/ggwatch"
    assert trust(read_role(TrustedPrincipalArn=principal))["Principal"] == {
        "AWS": {"Ref": "TrustedPrincipalArn"}
    }
    pattern = load_template(MEMBER)["Parameters"]["TrustedPrincipalArn"]["AllowedPattern"]
    assert re.fullmatch(pattern, principal)
    assert re.fullmatch(pattern, "")
    assert not re.fullmatch(pattern, MONITORING)  # an account id is MonitoringAccountId's job


def test_external_id_is_required_only_when_given(member: dict[str, Any]) -> None:
    assert "Condition" not in trust(read_role())
    assert trust(read_role(ExternalId="fleet-7f3a9c"))["Condition"] == {
        "StringEquals": {"sts:ExternalId": {"Ref": "ExternalId"}}
    }
    parameter = member["Parameters"]["ExternalId"]
    assert parameter["NoEcho"] is True
    assert parameter["Default"] == ""
    assert re.fullmatch(parameter["AllowedPattern"], "fleet-7f3a9c")
    assert not re.fullmatch(parameter["AllowedPattern"], "x")  # STS wants 2 characters or more


def test_member_forwards_to_the_monitoring_bus_with_a_role_for_that_bus_only(
    member: dict[str, Any],
) -> None:
    resources = deploy(member, account=MEMBER_ACCOUNT, MonitoringAccountId=MONITORING)
    rules = of_type(resources, "AWS::Events::Rule")
    assert rules_targeting(resources, MONITORING_BUS) == set(rules)
    assert len(rules) == 2
    for rule in rules.values():
        assert rule["EventBusName"] == "default"
        (target,) = rule["Targets"]
        assert target["RoleArn"] == {"Fn::GetAtt": ["ForwardRole", "Arn"]}
    role = resources["ForwardRole"]["Properties"]
    assert trust(role)["Principal"] == {"Service": "events.amazonaws.com"}
    (policy,) = role["Policies"]
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert statement == {
        "Effect": "Allow",
        "Action": "events:PutEvents",
        "Resource": MONITORING_BUS,
    }
    # The account's other Regions: the role (IAM is global) exists already, only forward.
    elsewhere = deploy(
        member, account=MEMBER_ACCOUNT, MonitoringAccountId=MONITORING, CreateRole="false"
    )
    assert "ReadRole" not in elsewhere
    assert patterns(elsewhere) == patterns(resources)
    assert elsewhere["ForwardRole"] == resources["ForwardRole"]
    # The monitoring account's own events are on its bus already: nothing to forward there.
    at_home = deploy(member, account=MONITORING, MonitoringAccountId=MONITORING)
    assert of_type(at_home, "AWS::Events::Rule") == {}
    assert set(at_home) == {"ReadRole"}


def patterns(resources: dict[str, dict[str, Any]]) -> list[Any]:
    found = [r["EventPattern"] for r in of_type(resources, "AWS::Events::Rule").values()]
    return sorted(found, key=lambda p: json.dumps(p, sort_keys=True))


def test_member_forwards_what_the_monitoring_rules_match(
    events: dict[str, Any], member: dict[str, Any]
) -> None:
    forwarded = deploy(member, account=MEMBER_ACCOUNT, MonitoringAccountId=MONITORING)
    assert patterns(forwarded) == patterns(deploy(events))


# -- the patterns against events -------------------------------------------------------------------


def event(
    source: str,
    detail_type: str,
    detail: dict[str, Any],
    account: str = MONITORING,
    resources: tuple[str, ...] = (),
) -> EventMessageType:
    return {
        "version": "0",
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{source}/{detail_type}/{json.dumps(detail)}")),
        "detail-type": detail_type,
        "source": source,
        "account": account,
        "time": "2026-11-24T06:00:00Z",
        "region": REGION,
        "resources": list(resources),
        "detail": detail,
    }


def core_device(account: str = MONITORING) -> str:
    return f"arn:aws:greengrass:{REGION}:{account}:coreDevices:berlin-line-01-core"


DEPLOYMENT_STATUS = event(
    "aws.greengrass",
    "Greengrass V2 Effective Deployment Status Change",
    {
        "deploymentId": "4196dddc-0a21-4c54-a985-66a525f6946e",
        "coreDeviceExecutionStatus": "FAILED",
        "statusDetails": {
            "errorStack": ["DEPLOYMENT_FAILURE", "COMPONENT_UPDATE_ERROR"],
            "errorTypes": ["DEPENDENCY_ERROR"],
        },
        "reason": "Component com.example.CameraIngest version 2.0.0 could not be resolved",
    },
    resources=(core_device(),),
)
COMPONENT_STATUS = event(
    "aws.greengrass",
    "Greengrass V2 Installed Component Status Change",
    {
        "components": [
            {
                "componentName": "com.example.CameraIngest",
                "componentVersion": "2.0.0",
                "root": True,
                "lifecycleState": "ERRORED",
                "lifecycleStatusCodes": ["RUN_ERROR"],
                "lifecycleStateDetails": "Script exited with code 1",
            }
        ]
    },
    resources=(core_device(),),
)
# Forwarded from a member account: account and resources name the member, not this account.
MEMBER_DEPLOYMENT_STATUS = event(
    "aws.greengrass",
    "Greengrass V2 Effective Deployment Status Change",
    {
        "deployment-id": "0f5e2a51-3c3e-4d8e-9d41-2b0f5f0c7d11",
        "coreDeviceExecutionStatus": "SUCCEEDED",
    },
    account=MEMBER_ACCOUNT,
    resources=(core_device(MEMBER_ACCOUNT),),
)
HEALTH_GREENGRASS = event(
    "aws.health",
    "AWS Health Event",
    {
        "eventArn": f"arn:aws:health:{REGION}::event/GREENGRASS/"
        "AWS_GREENGRASS_OPERATIONAL_NOTIFICATION/AWS_GREENGRASS_OPERATIONAL_NOTIFICATION_1a2b3c",
        "service": "GREENGRASS",
        "eventTypeCode": "AWS_GREENGRASS_OPERATIONAL_NOTIFICATION",
        "eventTypeCategory": "accountNotification",
        "startTime": "Tue, 24 Nov 2026 06:00:00 GMT",
        "eventDescription": [
            {
                "language": "en_US",
                "latestDescription": "Core devices run aws.greengrass.Nucleus 2.14.0, which "
                "is discontinued.",
            }
        ],
        "affectedEntities": [{"entityValue": core_device()}],
    },
)
HEALTH_EC2 = event(
    "aws.health",
    "AWS Health Event",
    {
        "service": "EC2",
        "eventTypeCode": "AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED",
        "eventTypeCategory": "scheduledChange",
    },
)
IOT_EVENT = event(
    "aws.iot",
    "IoT Thing Registry Event",
    {"eventType": "THING_EVENT", "operation": "UPDATED", "thingName": "berlin-line-01-core"},
)
# CloudTrail's record of a Greengrass V2 API call also has source aws.greengrass.
GREENGRASS_API_CALL = event(
    "aws.greengrass",
    "AWS API Call via CloudTrail",
    {"eventSource": "greengrass.amazonaws.com", "eventName": "CreateDeployment"},
)

# Each sample, and the rules of ggwatch-events.yaml that must take it.
SAMPLES = {
    "deployment-status": (DEPLOYMENT_STATUS, {"GreengrassRule"}),
    "component-status": (COMPONENT_STATUS, {"GreengrassRule"}),
    "member-deployment-status": (MEMBER_DEPLOYMENT_STATUS, {"GreengrassRule"}),
    "health-greengrass": (HEALTH_GREENGRASS, {"HealthRule"}),
    "health-ec2": (HEALTH_EC2, set()),
    "iot": (IOT_EVENT, set()),
    "greengrass-api-call": (GREENGRASS_API_CALL, set()),
}


@pytest.mark.parametrize(("sample", "expected"), SAMPLES.values(), ids=SAMPLES)
def test_rules_take_exactly_the_events_ggwatch_wants(
    events: dict[str, Any], sample: EventMessageType, expected: set[str]
) -> None:
    rules = of_type(deploy(events), "AWS::Events::Rule")
    matched = {
        name
        for name, rule in rules.items()
        if EventPattern.load(json.dumps(rule["EventPattern"])).matches_event(copy.deepcopy(sample))
    }
    assert matched == expected


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    """moto's server on 127.0.0.1 and a port the OS picks."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    try:
        yield endpoint
    finally:
        # moto keeps its state per process: leave nothing for other modules' servers.
        reset = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
        with urllib.request.urlopen(reset, timeout=10) as answer:
            assert answer.status == 200
        server.stop()


def test_moto_delivers_exactly_the_matching_events_to_the_queue(
    events: dict[str, Any], moto_endpoint: str
) -> None:
    resources = deploy(events)
    queue_name = events["Parameters"]["QueueName"]["Default"]
    sqs = boto3.client("sqs", endpoint_url=moto_endpoint, region_name=REGION)
    bridge = boto3.client("events", endpoint_url=moto_endpoint, region_name=REGION)
    try:
        url = sqs.create_queue(QueueName=queue_name)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        for name, rule in of_type(resources, "AWS::Events::Rule").items():
            bridge.put_rule(Name=name, EventPattern=json.dumps(rule["EventPattern"]))
            bridge.put_targets(Rule=name, Targets=[{"Id": "ggwatch-queue", "Arn": arn}])

        samples = [sample for sample, _ in SAMPLES.values()]
        entries = [
            {
                "Source": s["source"],
                "DetailType": s["detail-type"],
                "Detail": json.dumps(s["detail"]),
                "Resources": s["resources"],
            }
            for s in samples
        ]
        assert bridge.put_events(Entries=entries)["FailedEntryCount"] == 0

        delivered = []
        while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
            for message in batch:
                delivered.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    finally:
        sqs.close()
        bridge.close()

    def key(source: Any, detail_type: Any, detail: Any) -> str:
        return json.dumps([source, detail_type, detail], sort_keys=True)

    got = [key(e["source"], e["detail-type"], e["detail"]) for e in delivered]
    wanted = [
        key(s["source"], s["detail-type"], s["detail"]) for s, rules in SAMPLES.values() if rules
    ]
    # Each wanted event once: a second matching rule would queue it twice.
    assert sorted(got) == sorted(wanted)


# -- the daemon's own policies ---------------------------------------------------------------------


def iam_pattern(resource: str) -> re.Pattern[str]:
    """IAM's ARN wildcards: * any run of characters, ? one character."""
    return re.compile(
        ".*".join(".".join(map(re.escape, p.split("?"))) for p in resource.split("*"))
    )


def test_iam_pattern() -> None:
    assert iam_pattern("arn:aws:sqs:*:*:q*").fullmatch("arn:aws:sqs:us-west-2:1:q-x")
    assert not iam_pattern("arn:aws:sqs:*:*:q?").fullmatch("arn:aws:sqs:us-west-2:1:q")
    assert not iam_pattern("arn:aws:sqs:*:*:q.x").fullmatch("arn:aws:sqs:us-west-2:1:qax")


def statements(path: Path) -> list[dict[str, Any]]:
    document = load_json(path)
    assert set(document) == {"Version", "Statement"}
    assert document["Version"] == "2012-10-17"
    found: list[dict[str, Any]] = document["Statement"]
    for statement in found:
        assert statement["Effect"] == "Allow"
        assert set(statement) == {"Sid", "Effect", "Action", "Resource"}
    return found


@pytest.mark.parametrize(
    ("path", "service", "operations"),
    [
        (EVENTS_POLICY, "sqs", {"ReceiveMessage", "DeleteMessage", "ChangeMessageVisibility"}),
        (ASSUME_POLICY, "sts", {"AssumeRole"}),
        # What ggwatch.aws.organization calls, and nothing else.
        (
            ORG_POLICY,
            "organizations",
            {
                "ListAccounts",
                "ListAccountsForParent",
                "ListOrganizationalUnitsForParent",
                "ListRoots",
                "ListTagsForResource",
            },
        ),
        (REGIONS_POLICY, "account", {"ListRegions"}),
    ],
    ids=["events", "assume-targets", "organization", "regions"],
)
def test_policy_actions_are_real_operations(path: Path, service: str, operations: set[str]) -> None:
    # For these operations the IAM action is the operation's name; the Batch variants are
    # authorized by the same actions, so none is listed.
    model = botocore.session.get_session().get_service_model(service)
    granted = {a for s in statements(path) for a in s["Action"]}
    assert granted == {f"{service}:{op}" for op in operations}
    assert operations <= set(model.operation_names)


@pytest.mark.parametrize(
    "path",
    [EVENTS_POLICY, ASSUME_POLICY, ORG_POLICY, REGIONS_POLICY],
    ids=["events", "assume-targets", "organization", "regions"],
)
def test_policies_pass_cfn_lint(path: Path) -> None:
    """cfn-lint knows every IAM action name (W3037) and IAM's grammar for identity policies."""
    api = pytest.importorskip("cfnlint.api")
    template = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Resources": {
            "Policy": {
                "Type": "AWS::IAM::ManagedPolicy",
                "Properties": {"PolicyDocument": load_json(path)},
            }
        },
    }
    config = api.ManualArgs(regions=["us-east-1"], include_checks=["I"])
    assert [str(m) for m in api.lint(json.dumps(template), config=config)] == []


def test_events_policy_covers_the_queue_and_not_the_dead_letters(events: dict[str, Any]) -> None:
    (statement,) = statements(EVENTS_POLICY)
    pattern = iam_pattern(statement["Resource"])
    parameters = events["Parameters"]
    for region in (REGION, "eu-central-1"):
        queue = f"arn:aws:sqs:{region}:{MONITORING}:{parameters['QueueName']['Default']}"
        dead = f"arn:aws:sqs:{region}:{MONITORING}:{parameters['DeadLetterQueueName']['Default']}"
        assert pattern.fullmatch(queue)
        assert not pattern.fullmatch(dead)  # ggwatch must not drain what it failed to handle


def test_assume_policy_names_the_member_templates_role(member: dict[str, Any]) -> None:
    (statement,) = statements(ASSUME_POLICY)
    role_name = member["Parameters"]["RoleName"]["Default"]
    pattern = iam_pattern(statement["Resource"])
    assert pattern.fullmatch(f"arn:aws:iam::{MEMBER_ACCOUNT}:role/{role_name}")
    assert not pattern.fullmatch(f"arn:aws:iam::{MEMBER_ACCOUNT}:role/{role_name}-admin")
    assert not pattern.fullmatch(f"arn:aws:iam::{MEMBER_ACCOUNT}:role/ggwatch-forward")
