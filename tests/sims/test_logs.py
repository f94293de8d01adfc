"""CloudWatch Logs on the AWS simulator, judged by awscli and boto3: log groups (prefixes,
patterns, paging, retention, tags), streams (prefixes, ordering, paging), PutLogEvents'
batch rules, GetLogEvents' forward and backward tokens and time bounds, FilterLogEvents'
stream selection, bounds, plain-term patterns and paging, and the errors AWS answers bad
input with."""

from __future__ import annotations

import time

import pytest
from botocore.exceptions import ClientError

from conftest import AwsCliError, code_of, refused

# awscli starts slowly on a busy machine (a second or more a call): generous budgets.
pytestmark = pytest.mark.timeout(120)

ARN = "arn:aws:logs:us-east-1:123456789012:log-group:"
DAY = 86_400_000



def now_ms() -> int:
    return int(time.time() * 1000)



def make_stream(logs, group: str, stream: str, messages: list[str], start: int | None = None,
                step: int = 1) -> list[int]:
    """Creates the group (when needed) and the stream, and puts the messages one `step` ms
    apart from `start`; returns their timestamps."""
    try:
        logs.create_log_group(logGroupName=group)
    except ClientError as e:
        assert code_of(e) == "ResourceAlreadyExistsException", e
    logs.create_log_stream(logGroupName=group, logStreamName=stream)
    start = start if start is not None else now_ms() - 60_000
    stamps = [start + i * step for i in range(len(messages))]
    logs.put_log_events(logGroupName=group, logStreamName=stream,
                        logEvents=[{"timestamp": t, "message": m} for t, m in zip(stamps, messages)])
    return stamps


# ----------------------------------------------------------------------------- groups


def test_log_groups_with_awscli(aws_sim):
    aws_sim.aws("logs", "create-log-group", "--log-group-name", "/app/web", "--tags", "team=ci,tier=front")
    aws_sim.aws("logs", "create-log-group", "--log-group-name", "/app/worker")
    aws_sim.aws("logs", "create-log-group", "--log-group-name", "other-DataLogs")
    with pytest.raises(AwsCliError) as e:
        aws_sim.aws("logs", "create-log-group", "--log-group-name", "/app/web")
    assert "ResourceAlreadyExistsException" in e.value.stderr

    groups = aws_sim.aws("logs", "describe-log-groups", "--log-group-name-prefix", "/app/")["logGroups"]
    assert [g["logGroupName"] for g in groups] == ["/app/web", "/app/worker"]
    web = groups[0]
    assert web["arn"] == ARN + "/app/web:*" and web["logGroupArn"] == ARN + "/app/web"
    assert web["storedBytes"] == 0 and web["metricFilterCount"] == 0 and "retentionInDays" not in web
    assert web["creationTime"] > now_ms() - 60_000
    assert "tags" not in web

    # a pattern is a case-sensitive substring, and answers three fields only
    found = aws_sim.aws("logs", "describe-log-groups", "--log-group-name-pattern", "DataLogs")["logGroups"]
    assert found == [{"logGroupName": "other-DataLogs", "creationTime": found[0]["creationTime"],
                      "arn": ARN + "other-DataLogs:*"}]
    assert aws_sim.aws("logs", "describe-log-groups", "--log-group-name-pattern", "datalogs")["logGroups"] == []
    with pytest.raises(AwsCliError) as e:
        aws_sim.aws("logs", "describe-log-groups", "--log-group-name-prefix", "/app", "--log-group-name-pattern", "x")
    assert "InvalidParameterException" in e.value.stderr

    aws_sim.aws("logs", "delete-log-group", "--log-group-name", "/app/worker")
    assert [g["logGroupName"] for g in aws_sim.aws("logs", "describe-log-groups", "--log-group-name-prefix",
                                                   "/app/")["logGroups"]] == ["/app/web"]
    with pytest.raises(AwsCliError) as e:
        aws_sim.aws("logs", "delete-log-group", "--log-group-name", "/app/worker")
    assert "ResourceNotFoundException" in e.value.stderr


@pytest.mark.parametrize("name, words", [
    ("bad name!", "failed to satisfy constraint"),
    ("aws/reserved", "aws/"),
    ("x" * 513, "length"),
])
def test_create_log_group_refuses_bad_names(aws_sim, name, words):
    logs = aws_sim.client("logs")
    refused(logs.create_log_group, "InvalidParameterException", words, logGroupName=name)
    names = [g["logGroupName"] for p in logs.get_paginator("describe_log_groups").paginate() for g in p["logGroups"]]
    assert name not in names


def test_describe_log_groups_pages_in_name_order(aws_sim):
    logs = aws_sim.client("logs")
    for name in ["/page/c", "/page/a", "/page/e", "/page/b", "/page/d"]:
        logs.create_log_group(logGroupName=name)
    pages = list(logs.get_paginator("describe_log_groups").paginate(
        logGroupNamePrefix="/page/", PaginationConfig={"PageSize": 2}))
    assert [len(p["logGroups"]) for p in pages] == [2, 2, 1]
    assert [g["logGroupName"] for p in pages for g in p["logGroups"]] == [f"/page/{c}" for c in "abcde"]
    assert "nextToken" not in pages[-1]
    refused(logs.describe_log_groups, "InvalidParameterException", nextToken="garbage")
    refused(logs.describe_log_groups, "InvalidParameterException", limit=51)


def test_retention_policy(aws_sim):
    logs = aws_sim.client("logs")
    logs.create_log_group(logGroupName="/keep")
    # events three days old are within CloudWatch's 14 days, so they are taken
    old = now_ms() - 3 * DAY
    make_stream(logs, "/keep", "s", ["old-1", "old-2"], start=old)
    make_stream(logs, "/keep", "t", ["fresh"])
    assert len(logs.filter_log_events(logGroupName="/keep")["events"]) == 3

    aws_sim.aws("logs", "put-retention-policy", "--log-group-name", "/keep", "--retention-in-days", "1")
    group = logs.describe_log_groups(logGroupNamePrefix="/keep")["logGroups"][0]
    assert group["retentionInDays"] == 1
    # expired events are gone from every read
    assert [e["message"] for e in logs.filter_log_events(logGroupName="/keep")["events"]] == ["fresh"]
    assert logs.get_log_events(logGroupName="/keep", logStreamName="s", startFromHead=True)["events"] == []
    # and a batch with events before the retention period has them rejected by index
    r = logs.put_log_events(logGroupName="/keep", logStreamName="s", logEvents=[
        {"timestamp": now_ms() - 2 * DAY, "message": "too late"},
        {"timestamp": now_ms() - 2 * DAY + 1, "message": "too late too"},
        {"timestamp": now_ms(), "message": "kept"}])
    assert r["rejectedLogEventsInfo"] == {"expiredLogEventEndIndex": 1}
    # past 14 days an event is too old, whatever the retention
    r = logs.put_log_events(logGroupName="/keep", logStreamName="s", logEvents=[
        {"timestamp": now_ms() - 20 * DAY, "message": "ancient"}, {"timestamp": now_ms(), "message": "kept"}])
    assert r["rejectedLogEventsInfo"] == {"tooOldLogEventEndIndex": 0}
    assert [e["message"] for e in logs.get_log_events(logGroupName="/keep", logStreamName="s")["events"]] == ["kept"] * 2

    aws_sim.aws("logs", "delete-retention-policy", "--log-group-name", "/keep")
    assert "retentionInDays" not in logs.describe_log_groups(logGroupNamePrefix="/keep")["logGroups"][0]

    with pytest.raises(AwsCliError) as e:
        aws_sim.aws("logs", "put-retention-policy", "--log-group-name", "/keep", "--retention-in-days", "2")
    assert "InvalidParameterException" in e.value.stderr and "enum value set" in e.value.stderr
    refused(logs.put_retention_policy, "ResourceNotFoundException", logGroupName="/no-such-group",
            retentionInDays=7)
    refused(logs.delete_retention_policy, "ResourceNotFoundException", logGroupName="/no-such-group")


def test_tags_by_arn_and_by_name(aws_sim):
    logs = aws_sim.client("logs")
    logs.create_log_group(logGroupName="/tagged", tags={"a": "1"})
    arn = ARN + "/tagged"
    assert logs.list_tags_for_resource(resourceArn=arn)["tags"] == {"a": "1"}
    aws_sim.aws("logs", "tag-resource", "--resource-arn", arn, "--tags", "b=2,a=one")
    assert logs.list_tags_for_resource(resourceArn=arn)["tags"] == {"a": "one", "b": "2"}
    logs.untag_resource(resourceArn=arn, tagKeys=["a"])
    assert aws_sim.aws("logs", "list-tags-for-resource", "--resource-arn", arn)["tags"] == {"b": "2"}
    # the older calls by name see the same tags
    logs.tag_log_group(logGroupName="/tagged", tags={"c": "3"})
    assert logs.list_tags_log_group(logGroupName="/tagged")["tags"] == {"b": "2", "c": "3"}
    logs.untag_log_group(logGroupName="/tagged", tags=["b"])
    assert logs.list_tags_for_resource(resourceArn=arn)["tags"] == {"c": "3"}

    refused(logs.list_tags_for_resource, "ResourceNotFoundException", resourceArn=ARN + "/nope")
    refused(logs.tag_resource, "InvalidParameterException", resourceArn="not-an-arn", tags={"x": "y"})
    refused(logs.tag_resource, "TooManyTagsException", resourceArn=arn,
            tags={f"k{i}": "v" for i in range(50)})
    refused(logs.list_tags_log_group, "ResourceNotFoundException", logGroupName="/nope")


def test_delete_log_group_takes_its_streams_and_events(aws_sim):
    logs = aws_sim.client("logs")
    make_stream(logs, "/doomed", "s1", ["one", "two"])
    logs.delete_log_group(logGroupName="/doomed")
    refused(logs.get_log_events, "ResourceNotFoundException", "log group", logGroupName="/doomed",
            logStreamName="s1")
    logs.create_log_group(logGroupName="/doomed")
    assert logs.describe_log_streams(logGroupName="/doomed")["logStreams"] == []
    assert logs.filter_log_events(logGroupName="/doomed")["events"] == []


# ----------------------------------------------------------------------------- streams


def test_log_streams(aws_sim):
    logs = aws_sim.client("logs")
    logs.create_log_group(logGroupName="/streams")
    base = now_ms() - 10_000
    # created in this order, last events in another
    for name, offset in [("web/b", 3), ("web/a", 1), ("job/x", 2)]:
        make_stream(logs, "/streams", name, [name], start=base + offset)
    logs.create_log_stream(logGroupName="/streams", logStreamName="web/empty")
    refused(logs.create_log_stream, "ResourceAlreadyExistsException", logGroupName="/streams",
            logStreamName="web/a")
    refused(logs.create_log_stream, "ResourceNotFoundException", logGroupName="/no-group",
            logStreamName="s")
    refused(logs.create_log_stream, "InvalidParameterException", logGroupName="/streams",
            logStreamName="bad:name")

    streams = aws_sim.aws("logs", "describe-log-streams", "--log-group-name", "/streams")["logStreams"]
    assert [s["logStreamName"] for s in streams] == ["job/x", "web/a", "web/b", "web/empty"]
    a = streams[1]
    assert a["arn"] == ARN + "/streams:log-stream:web/a"
    assert a["firstEventTimestamp"] == a["lastEventTimestamp"] == base + 1
    assert a["lastIngestionTime"] >= a["creationTime"] and a["storedBytes"] == 0
    assert a["uploadSequenceToken"].isdigit()
    assert "firstEventTimestamp" not in streams[3] and "uploadSequenceToken" not in streams[3]

    prefixed = logs.describe_log_streams(logGroupName="/streams", logStreamNamePrefix="web/", descending=True)
    assert [s["logStreamName"] for s in prefixed["logStreams"]] == ["web/empty", "web/b", "web/a"]
    by_time = logs.describe_log_streams(logGroupName="/streams", orderBy="LastEventTime", descending=True)
    assert [s["logStreamName"] for s in by_time["logStreams"]][:3] == ["web/b", "job/x", "web/a"]
    refused(logs.describe_log_streams, "InvalidParameterException", "LastEventTime",
            logGroupName="/streams", orderBy="LastEventTime", logStreamNamePrefix="web/")

    pages = list(logs.get_paginator("describe_log_streams").paginate(
        logGroupName="/streams", PaginationConfig={"PageSize": 3}))
    assert [len(p["logStreams"]) for p in pages] == [3, 1]
    # by ARN as logGroupIdentifier, and not both
    same = logs.describe_log_streams(logGroupIdentifier=ARN + "/streams")["logStreams"]
    assert len(same) == 4
    refused(logs.describe_log_streams, "InvalidParameterException", "mutually exclusive",
            logGroupName="/streams", logGroupIdentifier="/streams")
    refused(logs.describe_log_streams, "ResourceNotFoundException", logGroupName="/no-group")

    logs.delete_log_stream(logGroupName="/streams", logStreamName="web/a")
    assert "web/a" not in [s["logStreamName"] for s in logs.describe_log_streams(logGroupName="/streams")["logStreams"]]
    assert [e["message"] for e in logs.filter_log_events(logGroupName="/streams")["events"]] == ["job/x", "web/b"]
    refused(logs.delete_log_stream, "ResourceNotFoundException", logGroupName="/streams",
            logStreamName="web/a")


# ----------------------------------------------------------------------------- put


def test_put_log_events_batch_rules(aws_sim):
    logs = aws_sim.client("logs")
    logs.create_log_group(logGroupName="/put")
    logs.create_log_stream(logGroupName="/put", logStreamName="s")
    now = now_ms()

    # out of order: the whole batch is refused
    refused(logs.put_log_events, "InvalidParameterException", "chronological order", logGroupName="/put",
            logStreamName="s", logEvents=[{"timestamp": now, "message": "b"}, {"timestamp": now - 5, "message": "a"}])
    # more than 2 hours ahead or more than 14 days back: rejected by index, the rest is stored
    r = logs.put_log_events(logGroupName="/put", logStreamName="s", logEvents=[
        {"timestamp": now - 15 * DAY, "message": "ancient"},
        {"timestamp": now - 1000, "message": "ok-1"},
        {"timestamp": now, "message": "ok-2"},
        {"timestamp": now + 3 * 3_600_000, "message": "future-1"},
        {"timestamp": now + 4 * 3_600_000, "message": "future-2"}],
        sequenceToken="anything-at-all")  # tokens are ignored, as CloudWatch now does
    assert r["rejectedLogEventsInfo"] == {"tooOldLogEventEndIndex": 0, "tooNewLogEventStartIndex": 3}
    assert r["nextSequenceToken"].isdigit()
    got = logs.get_log_events(logGroupName="/put", logStreamName="s", startFromHead=True)["events"]
    assert [e["message"] for e in got] == ["ok-1", "ok-2"]
    assert all(e["ingestionTime"] >= now - 5000 for e in got)

    # a batch may not span more than 24 hours
    refused(logs.put_log_events, "InvalidParameterException", "24 hours", logGroupName="/put",
            logStreamName="s", logEvents=[{"timestamp": now - 2 * DAY, "message": "a"},
                                          {"timestamp": now, "message": "b"}])
    # 1,048,576 bytes, counting 26 bytes per event
    big = "x" * (1_048_576 // 2 - 26)
    logs.put_log_events(logGroupName="/put", logStreamName="s",
                        logEvents=[{"timestamp": now, "message": big}, {"timestamp": now, "message": big}])
    refused(logs.put_log_events, "InvalidParameterException", "Upload too large", logGroupName="/put",
            logStreamName="s", logEvents=[{"timestamp": now, "message": big},
                                          {"timestamp": now, "message": big + "y"}])
    refused(logs.put_log_events, "InvalidParameterException", "10000", logGroupName="/put", logStreamName="s",
            logEvents=[{"timestamp": now, "message": "m"}] * 10_001)
    # PutLogEvents creates neither groups nor streams
    refused(logs.put_log_events, "ResourceNotFoundException", "log stream", logGroupName="/put",
            logStreamName="missing", logEvents=[{"timestamp": now, "message": "m"}])
    refused(logs.put_log_events, "ResourceNotFoundException", "log group", logGroupName="/nope",
            logStreamName="s", logEvents=[{"timestamp": now, "message": "m"}])
    # nothing of the refused batches was stored
    pages = logs.get_paginator("filter_log_events").paginate(logGroupName="/put")
    assert [len(e["message"]) for p in pages for e in p["events"]] == [4, 4, len(big), len(big)]


# ----------------------------------------------------------------------------- get


def test_get_log_events_tokens_both_ways(aws_sim):
    logs = aws_sim.client("logs")
    messages = [f"event {i:02d}" for i in range(25)]
    stamps = make_stream(logs, "/get", "s", messages)

    # forward from the head, 10 at a time, until the same token comes back
    seen, token, calls = [], None, 0
    while True:
        kw = {"nextToken": token} if token else {}
        r = logs.get_log_events(logGroupName="/get", logStreamName="s", startFromHead=True, limit=10, **kw)
        calls += 1
        seen += [e["message"] for e in r["events"]]
        assert r["nextForwardToken"].startswith("f/") and r["nextBackwardToken"].startswith("b/")
        if r["nextForwardToken"] == token:
            assert r["events"] == []
            break
        token = r["nextForwardToken"]
    assert seen == messages and calls == 4

    # the default reads from the tail; backward tokens walk to the head
    r = logs.get_log_events(logGroupName="/get", logStreamName="s", limit=10)
    assert [e["message"] for e in r["events"]] == messages[15:]
    back, token = [r["events"]], r["nextBackwardToken"]
    while True:
        r = logs.get_log_events(logGroupName="/get", logStreamName="s", limit=10, nextToken=token)
        if r["nextBackwardToken"] == token:
            assert r["events"] == []
            break
        back.insert(0, r["events"])
        token = r["nextBackwardToken"]
    assert [e["message"] for page in back for e in page] == messages
    # a forward token reads forward whatever startFromHead says
    r = logs.get_log_events(logGroupName="/get", logStreamName="s", limit=3,
                            nextToken=logs.get_log_events(logGroupName="/get", logStreamName="s", limit=5,
                                                          startFromHead=True)["nextForwardToken"])
    assert [e["message"] for e in r["events"]] == messages[5:8]

    # events put after the end show up behind the last forward token
    end = logs.get_log_events(logGroupName="/get", logStreamName="s", startFromHead=True)["nextForwardToken"]
    logs.put_log_events(logGroupName="/get", logStreamName="s",
                        logEvents=[{"timestamp": stamps[-1] + 1, "message": "late"}])
    r = logs.get_log_events(logGroupName="/get", logStreamName="s", nextToken=end, startFromHead=True)
    assert [e["message"] for e in r["events"]] == ["late"]

    # startTime is included, endTime is not
    r = aws_sim.aws("logs", "get-log-events", "--log-group-name", "/get", "--log-stream-name", "s",
                    "--start-time", str(stamps[3]), "--end-time", str(stamps[6]), "--start-from-head")
    assert [e["message"] for e in r["events"]] == messages[3:6]
    assert r["events"][0]["timestamp"] == stamps[3]

    refused(logs.get_log_events, "InvalidParameterException", "nextToken", logGroupName="/get",
            logStreamName="s", nextToken="f/not-a-token")
    refused(logs.get_log_events, "ResourceNotFoundException", "log stream", logGroupName="/get",
            logStreamName="missing")
    refused(logs.get_log_events, "InvalidParameterException", logGroupName="/get", logStreamName="s", limit=10_001)
    # by ARN, as logGroupIdentifier
    r = logs.get_log_events(logGroupIdentifier=ARN + "/get", logStreamName="s", startFromHead=True, limit=1)
    assert [e["message"] for e in r["events"]] == messages[:1]


def test_get_log_events_pages_stop_at_one_megabyte(aws_sim):
    logs = aws_sim.client("logs")
    logs.create_log_group(logGroupName="/mega")
    logs.create_log_stream(logGroupName="/mega", logStreamName="s")
    now = now_ms() - 1000
    chunk = "y" * 200_000
    for i in range(2):
        logs.put_log_events(logGroupName="/mega", logStreamName="s",
                            logEvents=[{"timestamp": now + i * 3 + j, "message": chunk} for j in range(3)])
    r = logs.get_log_events(logGroupName="/mega", logStreamName="s", startFromHead=True)
    assert len(r["events"]) == 5  # 6 would be over 1 MB
    r = logs.get_log_events(logGroupName="/mega", logStreamName="s", startFromHead=True,
                            nextToken=r["nextForwardToken"])
    assert len(r["events"]) == 1


# ----------------------------------------------------------------------------- filter


@pytest.fixture(scope="module")
def filtered(aws_sim):
    logs = aws_sim.client("logs")
    start = now_ms() - 100_000
    lines = {
        "app/1": ["GET /index 200", "ERROR disk full on /var", "GET /health 200", "WARN slow request"],
        "app/2": ["ERROR timeout talking to db", "POST /login 302", "ERROR Exiting now"],
        "batch": ["job started", "job ERROR retry", "job done"],
    }
    stamps = {}
    for i, (stream, msgs) in enumerate(lines.items()):
        # interleaved in time: stream i puts at start + 10*k + i
        stamps[stream] = make_stream(logs, "/filter", stream, msgs, start=start + i, step=10)
    return {"start": start, "stamps": stamps, "lines": lines}


def messages_of(r) -> list[str]:
    return [e["message"] for e in r["events"]]


@pytest.mark.parametrize("pattern, expected", [
    ("", 10),
    ("ERROR", ["ERROR timeout talking to db", "ERROR disk full on /var", "job ERROR retry", "ERROR Exiting now"]),
    ("ERROR disk", ["ERROR disk full on /var"]),
    ('"disk full"', ["ERROR disk full on /var"]),
    ('"full disk"', []),
    ("error", []),  # case-sensitive
    ("?WARN ?timeout", ["ERROR timeout talking to db", "WARN slow request"]),
    ("ERROR -Exiting -job", ["ERROR timeout talking to db", "ERROR disk full on /var"]),
    ("GET 200", ["GET /index 200", "GET /health 200"]),
])
def test_filter_patterns(aws_sim, filtered, pattern, expected):
    r = aws_sim.client("logs").filter_log_events(logGroupName="/filter", filterPattern=pattern)
    if isinstance(expected, int):
        assert len(r["events"]) == expected
    else:
        assert messages_of(r) == expected
    assert r["searchedLogStreams"] == []


def test_filter_log_events_selection_and_order(aws_sim, filtered):
    logs = aws_sim.client("logs")
    r = logs.filter_log_events(logGroupName="/filter", logStreamNames=["app/2", "batch"])
    assert {e["logStreamName"] for e in r["events"]} == {"app/2", "batch"}
    stamps = [e["timestamp"] for e in r["events"]]
    assert stamps == sorted(stamps) and len(stamps) == 6
    ids = [e["eventId"] for e in r["events"]]
    assert len(set(ids)) == 6 and all(i.isdigit() for i in ids)
    assert all(e["ingestionTime"] >= e["timestamp"] for e in r["events"])

    r = logs.filter_log_events(logGroupName="/filter", logStreamNamePrefix="app/")
    assert {e["logStreamName"] for e in r["events"]} == {"app/1", "app/2"} and len(r["events"]) == 7
    refused(logs.filter_log_events, "InvalidParameterException", logGroupName="/filter",
            logStreamNames=["app/1"], logStreamNamePrefix="app/")

    # both bounds are included
    s1 = filtered["stamps"]["app/1"]
    r = logs.filter_log_events(logGroupName="/filter", logStreamNames=["app/1"], startTime=s1[1], endTime=s1[2])
    assert messages_of(r) == filtered["lines"]["app/1"][1:3]

    # newest first
    r = logs.filter_log_events(logGroupName="/filter", logStreamNames=["app/1"], startFromHead=False,
                               startTime=filtered["start"])
    assert messages_of(r) == list(reversed(filtered["lines"]["app/1"]))

    refused(logs.filter_log_events, "InvalidParameterException", "JSON", logGroupName="/filter",
            filterPattern='{ $.level = "error" }')
    refused(logs.filter_log_events, "ResourceNotFoundException", logGroupName="/nope")


def test_filter_log_events_pages(aws_sim, filtered):
    logs = aws_sim.client("logs")
    everything = messages_of(logs.filter_log_events(logGroupName="/filter"))
    pages = list(logs.get_paginator("filter_log_events").paginate(
        logGroupName="/filter", PaginationConfig={"PageSize": 3}))
    assert [len(p["events"]) for p in pages] == [3, 3, 3, 1]
    assert [e["message"] for p in pages for e in p["events"]] == everything
    assert "nextToken" not in pages[-1]
    # newest first pages the other way
    first = logs.filter_log_events(logGroupName="/filter", startFromHead=False, limit=4,
                                   startTime=filtered["start"])
    rest = logs.filter_log_events(logGroupName="/filter", nextToken=first["nextToken"], startTime=filtered["start"])
    assert messages_of(first) + messages_of(rest) == list(reversed(everything))
    refused(logs.filter_log_events, "InvalidParameterException", logGroupName="/filter", nextToken="zzz")
    # awscli pages on its own and joins the pages
    out = aws_sim.aws("logs", "filter-log-events", "--log-group-name", "/filter", "--filter-pattern", "ERROR",
                      "--page-size", "1")
    assert len(out["events"]) == 4


# ----------------------------------------------------------------------------- durability


def test_logs_survive_a_restart(sim_factory):
    sim = sim_factory()
    logs = sim.client("logs")
    make_stream(logs, "/durable", "s", ["before restart"])
    logs.put_retention_policy(logGroupName="/durable", retentionInDays=30)
    sim.stop()
    sim.start()
    logs = sim.client("logs")
    assert messages_of(logs.get_log_events(logGroupName="/durable", logStreamName="s")) == ["before restart"]
    assert logs.describe_log_groups(logGroupNamePrefix="/durable")["logGroups"][0]["retentionInDays"] == 30
