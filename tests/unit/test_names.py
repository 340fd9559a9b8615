"""The one definition of each name ggwatch accepts: what passes, what does not, and why."""

from __future__ import annotations

import re

import pytest

from ggwatch import names


def _whole(message: str) -> str:
    return f"^{re.escape(message)}$"


REGIONS = [
    "us-west-2",
    "eu-central-1",
    "ap-southeast-2",
    "us-gov-west-1",
    "cn-north-1",
    "cn-northwest-1",
    "us-iso-east-1",
    "us-isob-east-1",
    "eu-isoe-west-1",
    "us-west-99",
]
NOT_REGIONS = [
    "",
    "mars",
    "moon-1",
    "us-west",
    "US-WEST-2",
    "us-west-123",
    "us_west_2",
    "usa-west-2",
    "us-west-2 ",
    " us-west-2",
    "us-west-2\n",
    "us-west-٢",  # an Arabic-Indic digit: \d without re.ASCII would take it
    "local-test-1",
]


@pytest.mark.parametrize("region", REGIONS)
def test_regions(region: str) -> None:
    assert names.is_region(region)
    assert names.check_regions([region]) == (region,)


@pytest.mark.parametrize("region", NOT_REGIONS)
def test_not_regions(region: str) -> None:
    assert not names.is_region(region)
    with pytest.raises(
        ValueError, match=_whole(f"{region!r} is not a Region name such as us-west-2")
    ):
        names.check_regions(("us-west-2", region))


def test_a_region_listed_twice() -> None:
    with pytest.raises(ValueError, match=r"^a Region is listed twice$"):
        names.check_regions(("us-west-2", "eu-west-1", "us-west-2"))


@pytest.mark.parametrize("alias", ["default", "prod", "prod-eu", "a", "A.b_c-1", "x" * 64])
def test_aliases(alias: str) -> None:
    assert names.is_alias(alias)
    assert names.check_alias(alias) == alias


@pytest.mark.parametrize("alias", ["", "-prod", ".prod", "_p", "prod eu", "prod/eu", "x" * 65, "é"])
def test_not_aliases(alias: str) -> None:
    assert not names.is_alias(alias)
    expected = f"{alias!r} is not an alias (letters, digits, '.', '_', '-'; <= 64)"
    with pytest.raises(ValueError, match=_whole(expected)):
        names.check_alias(alias)


@pytest.mark.parametrize("account", ["111122223333", "000000000000"])
def test_account_ids(account: str) -> None:
    assert names.is_account_id(account)
    assert names.check_account_id(account) == account


@pytest.mark.parametrize(
    "account", ["", "12345", "1111222233334", "11112222333a", " 111122223333", "١١١١٢٢٢٢٣٣٣٣"]
)
def test_not_account_ids(account: str) -> None:
    assert not names.is_account_id(account)
    with pytest.raises(ValueError, match=_whole(f"{account!r} is not a 12-digit account id")):
        names.check_account_id(account)


@pytest.mark.parametrize(
    "deployment_id",
    ["d-1", "a1b2c3d4-5678-90ab-cdef-EXAMPLE11111", "0" * 128],
)
def test_deployment_ids(deployment_id: str) -> None:
    assert names.is_deployment_id(deployment_id)


@pytest.mark.parametrize("deployment_id", ["", "-d", "d_1", "d.1", "d/1", "../d", "0" * 129])
def test_not_deployment_ids(deployment_id: str) -> None:
    assert not names.is_deployment_id(deployment_id)


@pytest.mark.parametrize(
    ("arn", "account"),
    [
        ("arn:aws:iam::111122223333:role/ggwatch", "111122223333"),
        ("arn:aws:iam::111122223333:role/path/to/ggwatch-readonly", "111122223333"),
        ("arn:aws-cn:iam::222233334444:role/x", "222233334444"),
        ("arn:aws-us-gov:iam::333344445555:role/a+b=c,d.e@f_g-h", "333344445555"),
    ],
)
def test_role_arns(arn: str, account: str) -> None:
    assert names.role_account(arn) == account
    assert names.check_role_arn(arn) == arn


@pytest.mark.parametrize(
    "arn",
    [
        "",
        "arn:aws:iam::111122223333:user/ggwatch",
        "arn:aws:iam::12345:role/x",
        "arn:aws:iam::111122223333:role/",
        "arn:aws-iso:iam::111122223333:role/x",
        "arn:aws:sts::111122223333:role/x",
        "arn:aws:iam::111122223333:role/x y",
    ],
)
def test_not_role_arns(arn: str) -> None:
    assert names.role_account(arn) is None
    expected = f"{arn!r} is not an IAM role ARN (arn:aws:iam::123456789012:role/x)"
    with pytest.raises(ValueError, match=_whole(expected)):
        names.check_role_arn(arn)


@pytest.mark.parametrize("session", ["ggwatch", "ab", "a+b=c,d.e@f_g-h", "x" * 64])
def test_session_names(session: str) -> None:
    assert names.check_session_name(session) == session


@pytest.mark.parametrize("session", ["", "a", "x" * 65, "a b", "a/b", "é-session"])
def test_not_session_names(session: str) -> None:
    with pytest.raises(
        ValueError, match=r"^must be 2-64 characters of letters, digits and \+=,\.@_-$"
    ):
        names.check_session_name(session)


QUEUE = "https://sqs.us-west-2.amazonaws.com/111122223333/ggwatch-events"


@pytest.mark.parametrize(
    "url",
    [
        QUEUE,
        "https://sqs.eu-central-1.amazonaws.com/111122223333/ggwatch.fifo",
        "https://eu-west-1.queue.amazonaws.com/111122223333/q",
        "http://127.0.0.1:4566/000000000000/local_queue",
    ],
)
def test_queue_urls(url: str) -> None:
    assert names.is_queue_url(url)
    assert names.check_queue_urls([url]) == (url,)


@pytest.mark.parametrize(
    "url",
    [
        "",
        "sqs.us-west-2.amazonaws.com/111122223333/q",
        "ftp://sqs.us-west-2.amazonaws.com/111122223333/q",
        "https://sqs.us-west-2.amazonaws.com/12345/q",
        "https://sqs.us-west-2.amazonaws.com/111122223333/",
        "https://sqs.us-west-2.amazonaws.com/111122223333/q/extra",
        "https://sqs.us-west-2.amazonaws.com/111122223333/" + "q" * 81,
        "https://sqs.us-west-2.amazonaws.com/111122223333/q.fifo.fifo",
    ],
)
def test_not_queue_urls(url: str) -> None:
    assert not names.is_queue_url(url)
    expected = f"{url!r} is not an SQS queue URL (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME)"
    with pytest.raises(ValueError, match=_whole(expected)):
        names.check_queue_urls([url])


def test_a_queue_listed_twice() -> None:
    with pytest.raises(ValueError, match=r"^a queue is listed twice$"):
        names.check_queue_urls([QUEUE, QUEUE])


@pytest.mark.parametrize(
    ("url", "region"),
    [
        (QUEUE, "us-west-2"),
        ("https://sqs.us-gov-west-1.amazonaws.com/111122223333/q", "us-gov-west-1"),
        ("https://eu-west-1.queue.amazonaws.com/111122223333/q", "eu-west-1"),
        ("https://sqs.cn-north-1.amazonaws.com.cn/111122223333/q", "cn-north-1"),
        ("http://127.0.0.1:4566/000000000000/q", None),
        ("https://localhost.localstack.cloud:4566/000000000000/q", None),
    ],
)
def test_the_region_of_a_queue_url(url: str, region: str | None) -> None:
    assert names.queue_url_region(url) == region


@pytest.mark.parametrize(
    ("region", "partition"),
    [
        ("us-west-2", "aws"),
        ("cn-north-1", "aws-cn"),
        ("us-gov-west-1", "aws-us-gov"),
        ("eu-central-1", "aws"),
    ],
)
def test_partitions(region: str, partition: str) -> None:
    assert names.partition(region) == partition


@pytest.mark.parametrize(
    ("arn", "account"),
    [
        ("arn:aws:iot:us-west-2:111122223333:thing/core-1", "111122223333"),
        ("arn:aws-cn:iot:cn-north-1:111122223333:thinggroup/line-a", "111122223333"),
        ("arn:aws-us-gov:iot:us-gov-west-1:111122223333:thing/a:b:c", "111122223333"),
        ("arn:aws:iam::111122223333:role/ggwatch-readonly", "111122223333"),
        ("arn:aws:s3:::bucket/key", None),
        ("arn:aws:greengrass:us-west-2:aws:components:aws.greengrass.Nucleus", None),
        ("arn:aws:iot:us-west-2:12345:thing/core-1", None),
        ("arn:aws:iot:us-west-2:١١١١٢٢٢٢٣٣٣٣:thing/core-1", None),
        ("arn:aws:iot:us-west-2:111122223333", None),
        ("nra:aws:iot:us-west-2:111122223333:thing/core-1", None),
        ("", None),
    ],
)
def test_the_account_of_an_arn(arn: str, account: str | None) -> None:
    assert names.arn_account(arn) == account
