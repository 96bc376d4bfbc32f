"""The least-privilege check itself (tests/least_privilege.py): it names a missing permission
and an unused one. The check over the whole suite runs at the end of the session."""

from __future__ import annotations

from tests.least_privilege import ARNS, Call, check, function_policies


def test_the_check_names_a_missing_and_an_unused_permission() -> None:
    policies = function_policies()
    receiver_calls = {
        Call("ReceiverFunction", "sqs:SendMessage", ARNS["DeadLetterQueue"]),
        Call("ReceiverFunction", "sqs:DeleteMessage", ARNS["DeadLetterQueue"]),  # not granted
    }
    problems = check(receiver_calls, {"ReceiverFunction": policies["ReceiverFunction"]})
    assert f"ReceiverFunction: missing sqs:DeleteMessage on {ARNS['DeadLetterQueue']}" in problems
    assert f"ReceiverFunction: unused dynamodb:PutItem on {ARNS['IdempotencyTable']}" in problems
    assert not any(f"sqs:SendMessage on {ARNS['DeadLetterQueue']}" in p for p in problems)


def test_the_replay_may_not_read_signing_secrets_or_other_queues() -> None:
    policies = function_policies()
    calls = {
        Call("ReplayFunction", "secretsmanager:GetSecretValue",
             "arn:aws:secretsmanager:us-east-1:123456789012:secret:skipcall-bridge/sources/x-Ab12Cd"),
        Call("ReplayFunction", "sqs:SendMessage", ARNS["ReplayFailureQueue"]),
    }  # fmt: skip
    problems = check(calls, {"ReplayFunction": policies["ReplayFunction"]})
    assert sum(problem.startswith("ReplayFunction: missing") for problem in problems) == 2


def test_the_worker_may_postpone_and_put_back_work_but_not_read_signing_secrets() -> None:
    policies = function_policies()
    calls = {
        Call("WorkerFunction", "sqs:ChangeMessageVisibility", ARNS["WorkQueue"]),
        Call("WorkerFunction", "sqs:SendMessage", ARNS["DeadLetterQueue"]),
        Call("WorkerFunction", "sqs:SendMessage", ARNS["WorkQueue"]),  # put back for room
        Call("WorkerFunction", "sqs:DeleteMessage", ARNS["WorkQueue"]),  # the event source's
        Call("WorkerFunction", "secretsmanager:GetSecretValue",
             "arn:aws:secretsmanager:us-east-1:123456789012:secret:skipcall-bridge/sources/x-Ab12Cd"),
    }  # fmt: skip
    problems = check(calls, {"WorkerFunction": policies["WorkerFunction"]})
    missing = sorted(p for p in problems if p.startswith("WorkerFunction: missing"))
    assert missing == [
        "WorkerFunction: missing secretsmanager:GetSecretValue on "
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:skipcall-bridge/sources/x-Ab12Cd",
        f"WorkerFunction: missing sqs:DeleteMessage on {ARNS['WorkQueue']}",
    ]


def test_the_receiver_may_defer_work_but_not_postpone_it() -> None:
    policies = function_policies()
    calls = {
        Call("ReceiverFunction", "sqs:SendMessage", ARNS["WorkQueue"]),
        Call("ReceiverFunction", "sqs:ChangeMessageVisibility", ARNS["WorkQueue"]),  # not granted
    }
    problems = check(calls, {"ReceiverFunction": policies["ReceiverFunction"]})
    assert [p for p in problems if "missing" in p] == [
        f"ReceiverFunction: missing sqs:ChangeMessageVisibility on {ARNS['WorkQueue']}"
    ]
