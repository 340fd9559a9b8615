"""The reviewed remediation's pure parts and its files: a plan's CreateDeployment input made from
its base revision (request.py), the plan directory (files.py), and the preflight file's reader
(preflight.read_proposal). No network, no event loop."""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import pytest

from ggwatch.aws.requests import input_members, problems
from ggwatch.errors import PlanError
from ggwatch.findings import Change, Plan, Rule, Verdict
from ggwatch.model import TargetId, VersionRef
from ggwatch.remediate import files
from ggwatch.remediate.files import MANIFEST, Written
from ggwatch.remediate.preflight import read_proposal
from ggwatch.remediate.request import client_token, revision_request

REGION = "us-west-2"
ACCOUNT = "123456789012"
DEPLOYMENT_ID = "cdd4e716-e7e6-569d-aa3c-314c1e0ca643"
TARGET_ARN = f"arn:aws:iot:{REGION}:{ACCOUNT}:thinggroup/berlin-line-01"
PARENT_ARN = f"arn:aws:iot:{REGION}:{ACCOUNT}:thinggroup/berlin"
NUCLEUS = "aws.greengrass.Nucleus"
APP = "com.example.CameraIngest"
CREATED = dt.datetime(2026, 7, 6, 18, 38, 28, 948000, tzinfo=dt.UTC)


def base(**overrides: Any) -> dict[str, Any]:
    """A GetDeployment answer that uses every member CreateDeployment takes back."""
    answer: dict[str, Any] = {
        "targetArn": TARGET_ARN,
        "revisionId": "2",
        "deploymentId": DEPLOYMENT_ID,
        "deploymentName": "berlin nucleus upgrade",
        "deploymentStatus": "ACTIVE",
        "iotJobId": "0061b9c1-660c-5172-856e-7f1d9ef28a94",
        "iotJobArn": f"arn:aws:iot:{REGION}:{ACCOUNT}:job/0061b9c1-660c-5172-856e-7f1d9ef28a94",
        "components": {
            NUCLEUS: {
                "componentVersion": "2.14.0",
                "configurationUpdate": {"merge": '{"logging":{"level":"DEBUG"}}'},
            },
            APP: {
                "componentVersion": "2.0.0",
                "configurationUpdate": {"merge": '{"fps":5}', "reset": ["/camera"]},
                "runWith": {
                    "posixUser": "ggc_user:ggc_group",
                    "systemResourceLimits": {"memory": 102400, "cpus": 0.5},
                },
            },
        },
        "deploymentPolicies": {
            "failureHandlingPolicy": "DO_NOTHING",
            "componentUpdatePolicy": {"timeoutInSeconds": 120, "action": "SKIP_NOTIFY_COMPONENTS"},
            "configurationValidationPolicy": {"timeoutInSeconds": 90},
        },
        "iotJobConfiguration": {
            "jobExecutionsRolloutConfig": {"maximumPerMinute": 10},
            "abortConfig": {
                "criteriaList": [
                    {
                        "failureType": "FAILED",
                        "action": "CANCEL",
                        "thresholdPercentage": 25.0,
                        "minNumberOfExecutedThings": 2,
                    }
                ]
            },
            "timeoutConfig": {"inProgressTimeoutInMinutes": 30},
        },
        "creationTimestamp": CREATED,
        "isLatestForTarget": True,
        "parentTargetArn": PARENT_ARN,
        "tags": {"team": "berlin"},
    }
    answer.update(overrides)
    return answer


def plan(
    *moves: tuple[str, str, str | None],
    deployment_id: str = DEPLOYMENT_ID,
    revision_id: str | None = "2",
    verdict: Verdict = Verdict.OK,
) -> Plan:
    changes = tuple(Change(name, was, to, Rule.DEPLOYMENT_DELETED) for name, was, to in moves) or (
        Change(NUCLEUS, "2.14.0", "2.15.0", Rule.DEPLOYMENT_DELETED),
    )
    return Plan(
        target=TargetId("default", REGION),
        account=ACCOUNT,
        deployment_id=deployment_id,
        deployment_name="berlin nucleus upgrade",
        target_arn=TARGET_ARN,
        revision_id=revision_id,
        changes=changes,
        verdict=verdict,
        reason=None if verdict is Verdict.OK else "Fails on linux/amd64: ...",
        devices=2,
    )


# -- request.revision_request ----------------------------------------------------------------


def test_the_request_keeps_every_member_and_moves_only_the_planned_versions() -> None:
    answer = base()
    kept = copy.deepcopy(answer)

    request = revision_request(answer, plan())

    assert answer == kept  # the base is not edited
    assert set(request) == set(input_members("CreateDeployment"))  # each one, and no other
    for member in ("targetArn", "deploymentName", "deploymentPolicies", "iotJobConfiguration"):
        assert request[member] == answer[member], member
    assert request["parentTargetArn"] == PARENT_ARN
    assert request["tags"] == {"team": "berlin"}
    expected = copy.deepcopy(answer["components"])
    expected[NUCLEUS]["componentVersion"] = "2.15.0"
    assert request["components"] == expected  # configurationUpdate and runWith kept
    assert problems("CreateDeployment", request) is None


def test_the_request_moves_several_components_at_once() -> None:
    request = revision_request(base(), plan((NUCLEUS, "2.14.0", "2.15.0"), (APP, "2.0.0", "2.1.0")))
    versions = {n: s["componentVersion"] for n, s in request["components"].items()}
    assert versions == {NUCLEUS: "2.15.0", APP: "2.1.0"}


@pytest.mark.parametrize("member", ["tags", "iotJobConfiguration", "deploymentPolicies"])
def test_an_empty_map_is_left_out(member: str) -> None:
    # AWS answers "tags": {} for an untagged deployment, and CreateDeployment refuses it.
    request = revision_request(base(**{member: {}}), plan())
    assert member not in request
    assert problems("CreateDeployment", request) is None


def test_absent_members_stay_absent() -> None:
    answer = base()
    for member in ("parentTargetArn", "iotJobConfiguration", "deploymentName"):
        del answer[member]
    request = revision_request(answer, plan())
    assert not {"parentTargetArn", "iotJobConfiguration", "deploymentName"} & set(request)


def test_the_client_token_is_stable_and_follows_the_moves() -> None:
    token = client_token(plan())
    assert revision_request(base(), plan())["clientToken"] == token
    assert client_token(plan()) == token  # the same plan, the same token, on any run
    # Listed in another order, the moves are the same.
    two = ((NUCLEUS, "2.14.0", "2.15.0"), (APP, "2.0.0", "2.1.0"))
    assert client_token(plan(*two)) == client_token(plan(*reversed(two)))
    others = {
        client_token(plan((NUCLEUS, "2.14.0", "2.14.3"))),  # another version
        client_token(plan(*two)),  # more moves
        client_token(plan(revision_id="3")),  # another base revision
        client_token(plan(deployment_id="0f6b3d4e-1a2b-4c3d-8e9f-001122334455")),
    }
    assert token not in others
    assert len(others) == 4


def test_a_base_of_another_deployment_is_refused() -> None:
    with pytest.raises(PlanError, match="another deployment"):
        revision_request(base(deploymentId="0f6b3d4e-1a2b-4c3d-8e9f-001122334455"), plan())


def test_a_base_that_does_not_name_the_moved_component_is_refused() -> None:
    components = {APP: {"componentVersion": "2.0.0"}}
    with pytest.raises(PlanError, match=f"does not name {NUCLEUS}"):
        revision_request(base(components=components), plan())
    with pytest.raises(PlanError, match=f"does not name {NUCLEUS}"):
        revision_request(base(components=None), plan())


def test_a_base_the_request_cannot_be_made_from_is_refused() -> None:
    # A base whose members CreateDeployment would not take: named, not sent.
    with pytest.raises(PlanError, match="not a valid CreateDeployment input"):
        revision_request(base(deploymentPolicies={"failureHandlingPolicy": 7}), plan())


# -- files -----------------------------------------------------------------------------------


def written(deployment_id: str = DEPLOYMENT_ID) -> Written:
    the_plan = plan(deployment_id=deployment_id)
    answer = base(deploymentId=deployment_id)
    return Written(the_plan, revision_request(answer, the_plan), answer)


def test_a_plan_directory_round_trips(tmp_path: Path) -> None:
    other = "0f6b3d4e-1a2b-4c3d-8e9f-001122334455"
    blocked = Written(plan(deployment_id=other, verdict=Verdict.BLOCKED), None, None)
    plans = [written(), blocked]

    manifest = files.write_plans(tmp_path / "out", plans, CREATED)

    assert manifest == tmp_path / "out" / MANIFEST
    assert sorted(p.name for p in manifest.parent.iterdir()) == sorted(
        [MANIFEST, f"{DEPLOYMENT_ID}.json", f"{DEPLOYMENT_ID}.base.json"]
    )
    document = json.loads(manifest.read_text())
    assert document["generated_at"] == "2026-07-06T18:38:28.948000Z"
    entries = files.read_plans(manifest.parent)
    assert [e.deployment_id for e in entries] == [DEPLOYMENT_ID, other]
    ok, held = entries
    assert ok.verdict == "ok"
    assert held.verdict == "blocked"
    assert {k: v for k, v in ok.plan.items() if not k.endswith("_file")} == plans[0].plan.to_json()
    assert ok.plan["request_file"] == f"{DEPLOYMENT_ID}.json"
    assert ok.plan["base_file"] == f"{DEPLOYMENT_ID}.base.json"
    assert ok.request == plans[0].request
    assert ok.base == {**base(), "creationTimestamp": "2026-07-06T18:38:28.948000Z"}
    assert held.request is None
    assert held.base is None
    assert held.plan["request_file"] is None


def test_the_request_file_is_what_the_cli_takes(tmp_path: Path) -> None:
    files.write_plans(tmp_path, [written()], CREATED)
    request = json.loads((tmp_path / f"{DEPLOYMENT_ID}.json").read_text())
    assert problems("CreateDeployment", request) is None


@pytest.mark.parametrize("bad_id", ["../escape", "a/b", "", ".hidden", "x" * 129])
def test_a_deployment_id_that_is_no_file_name_is_not_written(tmp_path: Path, bad_id: str) -> None:
    plans = [Written(plan(deployment_id=bad_id), None, None)]
    with pytest.raises(PlanError, match="is not a deployment id"):
        files.write_plans(tmp_path, plans, CREATED)
    assert not (tmp_path / MANIFEST).exists()


def _manifest(directory: Path, **entry: Any) -> None:
    """A manifest of one plan as `ggwatch plan` writes it, with `entry` changed."""
    item = {**plan().to_json(), "request_file": None, "base_file": None, **entry}
    (directory / MANIFEST).write_text(json.dumps({"plans": [item]}))


def test_a_manifest_with_a_climbing_deployment_id_is_refused(tmp_path: Path) -> None:
    _manifest(tmp_path, deployment_id="../../etc/x")
    with pytest.raises(PlanError, match="is not a deployment id"):
        files.read_plans(tmp_path)


@pytest.mark.parametrize("name", ["../outside.json", "sub/x.json", "/etc/passwd", 7])
@pytest.mark.parametrize("member", ["request_file", "base_file"])
def test_a_file_name_that_leaves_the_directory_is_refused(
    tmp_path: Path, name: object, member: str
) -> None:
    inside = tmp_path / "plans"
    inside.mkdir()
    (tmp_path / "outside.json").write_text("{}")
    _manifest(inside, **{member: name})
    with pytest.raises(PlanError, match="is not a file name in the directory") as caught:
        files.read_plans(inside)
    assert str(inside / MANIFEST) in str(caught.value)


@pytest.mark.parametrize(
    ("entry", "fault"),
    [
        ({"verdict": None}, "verdict None is not one of ok, blocked"),
        ({"verdict": "maybe"}, "verdict 'maybe' is not one of"),
        ({"account_alias": None}, "no account_alias"),
        ({"region": ""}, "no region"),
        ({"target_arn": 7}, "no target_arn"),
        ({"revision_id": 2}, "revision_id 2 is not a string"),
        ({"changes": []}, "no changes"),
        ({"changes": "all"}, "no changes"),
        ({"changes": [{"component_name": NUCLEUS}]}, "a change without a component_name"),
        ({"changes": [["x"]]}, "a change without a component_name"),
        (
            {"changes": [{"component_name": NUCLEUS, "from_version": "2.14.0"}]},
            f"{NUCLEUS}: an ok plan with no version to move to",
        ),
        (
            {"changes": [{"component_name": NUCLEUS, "from_version": "2.14.0", "to_version": 3}]},
            f"{NUCLEUS}: to_version 3 is not a version",
        ),
    ],
)
def test_a_manifest_plan_that_apply_cannot_read_is_refused(
    tmp_path: Path, entry: dict[str, Any], fault: str
) -> None:
    # A hand-edited manifest: PlanError (exit 2, one line), never a KeyError from apply.
    _manifest(tmp_path, **entry)
    with pytest.raises(PlanError, match=re.escape(fault)) as caught:
        files.read_plans(tmp_path)
    assert str(caught.value).startswith(f"{tmp_path / MANIFEST}: plan {DEPLOYMENT_ID}: ")


def test_a_blocked_plan_may_have_nowhere_to_move(tmp_path: Path) -> None:
    change = {"component_name": NUCLEUS, "from_version": "2.14.0", "to_version": None}
    _manifest(tmp_path, verdict="blocked", changes=[change])
    (entry,) = files.read_plans(tmp_path)
    assert entry.verdict == "blocked"


def test_a_missing_manifest_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(PlanError, match="no such file") as caught:
        files.read_plans(tmp_path)
    assert str(tmp_path / MANIFEST) in str(caught.value)


@pytest.mark.parametrize(
    ("text", "fault"),
    [
        ("{not json", "not JSON"),
        ("\xff\xfe", "not JSON"),
        ("[]", "no 'plans' list"),
        ('{"plans": {}}', "no 'plans' list"),
        ('{"plans": [{"verdict": "ok"}]}', "without a deployment_id"),
        ('{"plans": ["x"]}', "without a deployment_id"),
    ],
)
def test_a_corrupt_manifest_names_the_file(tmp_path: Path, text: str, fault: str) -> None:
    (tmp_path / MANIFEST).write_bytes(text.encode("latin-1"))
    with pytest.raises(PlanError, match=fault) as caught:
        files.read_plans(tmp_path)
    assert str(tmp_path / MANIFEST) in str(caught.value)


def test_a_missing_or_corrupt_request_file_names_it(tmp_path: Path) -> None:
    files.write_plans(tmp_path, [written()], CREATED)
    request = tmp_path / f"{DEPLOYMENT_ID}.json"
    request.write_text("[1, 2]")
    with pytest.raises(PlanError, match="not a JSON object") as caught:
        files.read_plans(tmp_path)
    assert str(request) in str(caught.value)
    request.unlink()
    with pytest.raises(PlanError, match="no such file") as caught:
        files.read_plans(tmp_path)
    assert str(request) in str(caught.value)


# -- preflight.read_proposal -----------------------------------------------------------------

GOOD = {
    "targetArn": TARGET_ARN,
    "deploymentName": "berlin next",
    "components": {
        NUCLEUS: {"componentVersion": "2.15.0"},
        APP: {"componentVersion": "2.0.0", "runWith": {"posixUser": "ggc_user"}},
    },
    "tags": {"team": "berlin"},
}


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_a_proposal_reads_as_json_or_yaml(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"next{suffix}"
    if suffix == ".json":
        path.write_text(json.dumps(GOOD))
    else:
        path.write_text(
            f"targetArn: {TARGET_ARN}\ndeploymentName: berlin next\n"
            f"components:\n  {NUCLEUS}: {{componentVersion: 2.15.0}}\n"
            f"  {APP}:\n    componentVersion: 2.0.0\n    runWith: {{posixUser: ggc_user}}\n"
            "tags: {team: berlin}\n"
        )
    proposal = read_proposal(path)
    assert proposal.request == GOOD
    assert proposal.target_arn == TARGET_ARN
    assert (proposal.region, proposal.account) == (REGION, ACCOUNT)
    assert proposal.components == (VersionRef(NUCLEUS, "2.15.0"), VersionRef(APP, "2.0.0"))
    assert proposal.name == "berlin next"


@pytest.mark.parametrize(
    ("text", "fault"),
    [
        ("targetArn: [unclosed\n", "neither JSON nor YAML"),
        ("{: nope", "neither JSON nor YAML"),
        ("- targetArn: x\n", "not a create-deployment input"),
        ("just a string\n", "not a create-deployment input"),
        ("", "not a create-deployment input"),
        (json.dumps({"components": GOOD["components"]}), "targetArn"),
        (json.dumps({**GOOD, "deploymentNmae": "typo"}), "deploymentNmae"),
        (json.dumps({**GOOD, "components": {NUCLEUS: {"version": "2.15.0"}}}), "version"),
        (json.dumps({**GOOD, "components": {NUCLEUS: {}}}), '"componentVersion"'),
        (json.dumps({**GOOD, "components": {NUCLEUS: {"componentVersion": ""}}}), "length"),
        # The SDK sends empty tags; the service refuses them (TagMap's min is 1).
        (json.dumps({**GOOD, "tags": {}}), "Invalid length for parameter tags"),
    ],
)
def test_a_bad_proposal_names_the_file_and_the_fault(tmp_path: Path, text: str, fault: str) -> None:
    path = tmp_path / "proposal.yaml"
    path.write_text(text)
    with pytest.raises(PlanError, match=fault) as caught:
        read_proposal(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    "target",
    [
        f"arn:aws:iot:{REGION}:{ACCOUNT}:thingtype/berlin",
        f"arn:aws:greengrass:{REGION}:{ACCOUNT}:thinggroup/berlin",
        f"arn:aws:iot:nowhere:{ACCOUNT}:thing/gg-1",
        f"arn:aws:iot:{REGION}:1234:thing/gg-1",
        "thinggroup/berlin-line-01",
    ],
)
def test_a_target_that_is_no_thing_or_thing_group_arn_is_refused(
    tmp_path: Path, target: str
) -> None:
    path = tmp_path / "proposal.json"
    path.write_text(json.dumps({**GOOD, "targetArn": target}))
    with pytest.raises(PlanError, match="is not a thing or thing group ARN") as caught:
        read_proposal(path)
    assert str(path) in str(caught.value)


def test_an_unreadable_or_huge_proposal_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PlanError, match="cannot read") as caught:
        read_proposal(tmp_path / "missing.yaml")
    assert "missing.yaml" in str(caught.value)
    huge = tmp_path / "huge.yaml"
    huge.write_bytes(b"#" * 1_000_001)
    with pytest.raises(PlanError, match="larger than"):
        read_proposal(huge)
