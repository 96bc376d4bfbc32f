"""A deployed stack read back for the operator's verbs (`--stack NAME`): its CloudFormation
outputs and parameters as the environment variables the function itself runs with, so that
`dlq list`, `replay`, `links`, `members` and `check-deploy` need nothing set by hand."""

from __future__ import annotations

from typing import Any

from skipcall_bridge.common.errors import ConfigurationError

# the stack's outputs (template.yaml) -> the function's variables
OUTPUTS = {
    "DeadLetterQueueUrl": "DEAD_LETTER_QUEUE_URL",
    "WorkQueueUrl": "WORK_QUEUE_URL",
    "IdempotencyTableName": "IDEMPOTENCY_TABLE",
    "ContactLinksTableName": "LINKS_TABLE",
    "ApiKeySecretArn": "SKIPCALL_API_KEY_SECRET_ID",
}
# the parameters it was deployed with that the function reads too
PARAMETERS = {
    "SkipcallApiUrl": "SKIPCALL_API_URL",
    "ReplayMaxAttempts": "REPLAY_MAX_ATTEMPTS",
    "WorkMaxReceiveCount": "WORK_MAX_RECEIVE_COUNT",
}


def stack_environment(stack_name: str, region: str) -> dict[str, str]:
    """The variables for `stack_name` in `region`. Raises ConfigurationError: no such stack,
    or one that is not a skipcall-bridge stack (its outputs are missing)."""
    stack = _describe(stack_name, region)
    outputs = {item["OutputKey"]: item["OutputValue"] for item in stack.get("Outputs", [])}
    missing = sorted(set(OUTPUTS) - set(outputs))
    if missing:
        raise ConfigurationError(
            f"stack {stack_name} ({region}) has no output {', '.join(missing)}: is it a "
            "skipcall-bridge stack, deployed and finished (`sam list stack-outputs`)?"
        )
    parameters = {
        item["ParameterKey"]: item.get("ResolvedValue") or item.get("ParameterValue", "")
        for item in stack.get("Parameters", [])
    }
    environment = {variable: outputs[output] for output, variable in OUTPUTS.items()}
    environment |= {
        variable: parameters[name] for name, variable in PARAMETERS.items() if parameters.get(name)
    }
    return {**environment, "AWS_REGION": region, "AWS_DEFAULT_REGION": region}


def _describe(stack_name: str, region: str) -> dict[str, Any]:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        client = boto3.client("cloudformation", region_name=region)
        stacks = client.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as exc:
        message = exc.response.get("Error", {}).get("Message", str(exc))
        raise ConfigurationError(f"stack {stack_name} ({region}): {message}") from None
    except BotoCoreError as exc:
        raise ConfigurationError(f"stack {stack_name} ({region}): {exc}") from None
    if not stacks:
        raise ConfigurationError(f"no stack {stack_name} in {region}")
    stack: dict[str, Any] = dict(stacks[0])
    return stack
