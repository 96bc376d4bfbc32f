"""Least privilege, proven by the code's own calls.

While the integration and fault-injection suites run, every AWS call the code makes through its
shared botocore session is recorded (the `before-parameter-build` event): which function made it
(ReceiverFunction; ReplayFunction when the replay is on the stack; WorkerFunction when the work
queue's handler is), the IAM action and the
resource's ARN in a deployed stack. At the end of the session the template's own policy
statements for each function (after the SAM transform, intrinsics resolved against a stack's
ARNs, Secrets Manager's random suffix included) are checked with moto's IAM policy evaluator:
every call must be allowed, and every granted (action, resource) must have been used.

SAM's own statements (logs and X-Ray managed policies, the replay's dead-letter queue and
failure destination) serve the Lambda service, not the code, and are left out; so is the
optional KMS statement (off with the default KmsKeyArn).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SCAN_PYTHON = ROOT / ".venv-scan" / "bin" / "python"
REGION, ACCOUNT, STACK = "us-east-1", "123456789012", "skipcall-bridge"
SIGNING_PREFIX = "skipcall-bridge/sources/"  # the template's SigningSecretPrefix default
SECRET_SUFFIX = "-Ab12Cd"  # what Secrets Manager appends to every secret's ARN
FUNCTIONS = ("ReceiverFunction", "ReplayFunction", "WorkerFunction")
# Physical ARNs of the stack's resources, as CloudFormation would name them.
ARNS = {
    "ApiKeySecret": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:ApiKeySecret-x9KpQ2"
    + SECRET_SUFFIX,
    "DeadLetterQueue": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{STACK}-DeadLetterQueue-1A2B3C4D",
    "ReplayFailureQueue": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{STACK}-ReplayFailureQueue-5E6F",
    "WorkQueue": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{STACK}-WorkQueue-3L4M5N6P",
    "IdempotencyTable": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{STACK}-IdempotencyTable-7G8H",
    "ContactLinksTable": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{STACK}-ContactLinks-9J0K",
}
# An API call and the IAM action that authorises it, where the two names differ.
ACTIONS = {
    "sqs:SendMessageBatch": "sqs:SendMessage",
    "sqs:DeleteMessageBatch": "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibilityBatch": "sqs:ChangeMessageVisibility",
}


@dataclass(frozen=True)
class Call:
    function: str
    action: str
    resource: str


class Recorder:
    """Registered on the code's botocore session before any client is made from it."""

    def __init__(self) -> None:
        self.calls: set[Call] = set()

    def install(self) -> None:
        from skipcall_bridge.aws.config import aws_session

        aws_session().register("before-parameter-build", self._before_call)
        _follow_pools()

    def _before_call(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        function = _calling_function()
        if function is None:
            return  # a test's own setup or check, not the code running as a function
        service = model.service_model.signing_name
        action = ACTIONS.get(f"{service}:{model.name}", f"{service}:{model.name}")
        self.calls.add(Call(function, action, _resource(service, params)))


_submitted_by = threading.local()


def _follow_pools() -> None:
    """A delivery's events and claims run on thread pools, whose stacks do not reach the
    handler: each task carries the function that submitted it (observation only)."""
    submit = ThreadPoolExecutor.submit

    def carrying(executor: Any, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        function = _calling_function(sys._getframe(1))

        def run(*inner: Any, **named: Any) -> Any:
            _submitted_by.function = function
            try:
                return fn(*inner, **named)
            finally:
                _submitted_by.function = None

        return submit(executor, run, *args, **kwargs)

    ThreadPoolExecutor.submit = carrying  # type: ignore[method-assign]


def _calling_function(start: Any = None) -> str | None:
    frame = start if start is not None else sys._getframe(2)
    function = getattr(_submitted_by, "function", None)
    while frame is not None:
        code = frame.f_code
        replay = f"skipcall_bridge{os.sep}letters{os.sep}replay.py"
        if code.co_filename.endswith(replay) and code.co_name == "run":
            return "ReplayFunction"
        if code.co_filename.endswith(f"skipcall_bridge{os.sep}worker_handler.py") and (
            code.co_name == "lambda_handler"
        ):
            return "WorkerFunction"
        if code.co_filename.endswith(f"skipcall_bridge{os.sep}handler.py") and (
            code.co_name == "lambda_handler"
        ):
            function = "ReceiverFunction"
        frame = frame.f_back  # type: ignore[assignment]
    return function


def _resource(service: str, params: dict[str, Any]) -> str:  # noqa: PLR0911 - one per kind
    if service == "secretsmanager":
        secret = str(params.get("SecretId"))
        if secret == os.environ.get("SKIPCALL_API_KEY_SECRET_ID"):
            return ARNS["ApiKeySecret"]
        name = secret.rsplit("/", 1)[-1]  # a test's "it/zapier" is the stack's ".../zapier"
        return f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{SIGNING_PREFIX}{name}" + (
            SECRET_SUFFIX
        )
    if service == "sqs":  # the two queues the code is given
        work = os.environ.get("WORK_QUEUE_URL")
        return (
            ARNS["WorkQueue"]
            if work and params.get("QueueUrl") == work
            else ARNS["DeadLetterQueue"]
        )
    if service == "dynamodb":
        table = params.get("TableName")
        if table == os.environ.get("IDEMPOTENCY_TABLE"):
            return ARNS["IdempotencyTable"]
        if table == os.environ.get("LINKS_TABLE"):
            return ARNS["ContactLinksTable"]
        return f"unknown table {table!r}"
    return f"unknown resource of {service}"


# --- the template's side ---------------------------------------------------------------------


def function_policies() -> dict[str, list[dict[str, Any]]]:
    """Each function's own policy statements, after the SAM transform, intrinsics resolved."""
    transformed = _sam_transform()
    policies: dict[str, list[dict[str, Any]]] = {}
    for function in FUNCTIONS:
        role = transformed["Resources"][f"{function}Role"]["Properties"]
        statements = [
            statement
            for policy in role.get("Policies", [])
            for statement in _resolve(policy["PolicyDocument"])["Statement"]
            if "Sid" in statement  # the template's own statements
        ]
        policies[function] = statements
    return policies


def _sam_transform() -> dict[str, Any]:
    """samtranslator lives in the scanners' environment (its pydantic pin differs)."""
    script = """
import json, sys
from cfnlint.decode import cfn_yaml
from samtranslator.translator.transform import transform
class NoManagedPolicies:
    def load(self): return {}
template = json.loads(json.dumps(cfn_yaml.load(sys.argv[1]), default=str))
for resource in template["Resources"].values():
    if resource["Type"] == "AWS::Serverless::Function":
        resource["Properties"]["CodeUri"] = "s3://bucket/function.zip"
print(json.dumps(transform(template, {}, NoManagedPolicies())))
"""
    if not SCAN_PYTHON.exists():
        raise RuntimeError("the scanners' environment is missing: run `make scan` first")
    result = subprocess.run(  # noqa: S603 - the project's own scanner environment
        [str(SCAN_PYTHON), "-c", script, str(ROOT / "template.yaml")],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
        env={**os.environ, "AWS_DEFAULT_REGION": REGION},
    )
    return dict(json.loads(result.stdout))


def _resolve(node: Any) -> Any:  # noqa: PLR0911 - one return per intrinsic
    """Ref, Fn::GetAtt, Fn::Sub and Fn::If against the stack above (default parameters)."""
    if isinstance(node, list):
        return [item for item in (_resolve(i) for i in node) if item is not _NO_VALUE]
    if not isinstance(node, dict):
        return node
    if set(node) == {"Ref"}:
        return _ref(node["Ref"])
    if set(node) == {"Fn::GetAtt"}:
        name, attribute = node["Fn::GetAtt"]
        assert attribute == "Arn", node
        return ARNS[name]
    if set(node) == {"Fn::Sub"}:
        return re.sub(r"\$\{([^}]+)\}", lambda m: str(_ref(m.group(1))), node["Fn::Sub"])
    if set(node) == {"Fn::If"}:
        condition, _, otherwise = node["Fn::If"]
        assert condition == "HasKmsKey", node  # false with the default parameters
        return _resolve(otherwise)
    return {key: _resolve(value) for key, value in node.items()}


_NO_VALUE = object()


def _ref(name: str) -> Any:
    pseudo = {
        "AWS::Partition": "aws",
        "AWS::Region": REGION,
        "AWS::AccountId": ACCOUNT,
        "AWS::StackName": STACK,
        "AWS::NoValue": _NO_VALUE,
        "SigningSecretPrefix": SIGNING_PREFIX,
    }
    return pseudo[name] if name in pseudo else ARNS[name]


# --- the check -------------------------------------------------------------------------------


def granted(statements: list[dict[str, Any]]) -> Iterator[tuple[str, str]]:
    for statement in statements:
        actions = statement["Action"]
        resources = statement["Resource"]
        for action in [actions] if isinstance(actions, str) else actions:
            for resource in [resources] if isinstance(resources, str) else resources:
                yield action, resource


def check(calls: set[Call], policies: dict[str, list[dict[str, Any]]]) -> list[str]:
    """What is wrong: a call the policy does not allow, or a grant no call used."""
    from moto.iam.access_control import IAMPolicy, PermissionResult

    problems = []
    for function, statements in policies.items():
        document = json.dumps({"Version": "2012-10-17", "Statement": statements})
        evaluator = IAMPolicy(document)
        made = {call for call in calls if call.function == function}
        for call in sorted(made, key=lambda c: (c.action, c.resource)):
            allowed = evaluator.is_action_permitted(call.action, call.resource)
            if allowed is not PermissionResult.PERMITTED:
                problems.append(f"{function}: missing {call.action} on {call.resource}")
        for action, resource in granted(statements):
            single = json.dumps({"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": action, "Resource": resource}]})  # fmt: skip
            if not any(
                IAMPolicy(single).is_action_permitted(call.action, call.resource)
                is PermissionResult.PERMITTED
                for call in made
            ):
                problems.append(f"{function}: unused {action} on {resource}")
    return problems
