"""Lambda entry point: routes, and the decorators that wire logging, tracing and metrics."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from skipcall_bridge.common.errors import (
    BridgeError,
    ConfigurationError,
    RouteNotFound,
    Unavailable,
)
from skipcall_bridge.common.observability import logger, metrics, traced
from skipcall_bridge.receive.gateway_event import signed_request
from skipcall_bridge.receive.inbound import InboundDelivery
from skipcall_bridge.receive.responses import (
    JsonResponse,
    delivery_response,
    error_response,
    handshake_response,
    json_response,
)
from skipcall_bridge.runtime import current_runtime, frozen_after_first_call
from skipcall_bridge.snapstart import register as register_snapstart_hooks

# debug=False: with POWERTOOLS_DEV set, the resolver would print every event whole, bearer
# tokens, signatures and query keys included.
app = APIGatewayHttpResolver(debug=False)
register_snapstart_hooks()  # used only where SnapStart is on


@app.post("/webhooks/<source>")
def receive_webhook(source: str) -> Response[Any]:
    runtime = current_runtime()
    request = signed_request(app.current_event, source, runtime.public_url(source))
    answer = runtime.pipeline.echo_handshake(source, request)
    if answer is not None:  # the sender checks the URL: nothing to verify or create
        return handshake_response(answer)
    time_left = app.lambda_context.get_remaining_time_in_millis() / 1000
    # Deduplication learns the invocation's deadline here: a run cut short frees its claims.
    runtime.guard.register(app.lambda_context)
    delivery = InboundDelivery(source, request)
    report = runtime.pipeline.process(delivery, time_left)
    return delivery_response(report)


@app.get("/webhooks/<source>")
def verify_subscription(source: str) -> Response[Any]:
    """Only for a source whose `handshake` is `verify-token` or `reachability` (404 for the
    others)."""
    runtime = current_runtime()
    query = app.current_event.query_string_parameters or {}
    request = signed_request(app.current_event, source, runtime.public_url(source))
    return handshake_response(runtime.pipeline.verify_subscription(source, request, query))


@app.get("/health")
def health() -> JsonResponse:
    """Public: says ok or unavailable, nothing more; the reason goes to the logs."""
    try:
        current_runtime()
    except ConfigurationError as exc:
        logger.error("Health: receiver misconfigured", extra={"error": str(exc)})
        return json_response(503, {"status": "unavailable"})
    return json_response(200, {"status": "ok"})


@app.exception_handler(BridgeError)
def handle_bridge_error(error: BridgeError) -> JsonResponse:
    return error_response(error)


@app.exception_handler(ConfigurationError)
def handle_configuration_error(error: ConfigurationError) -> JsonResponse:
    logger.error("Receiver misconfigured", extra={"error": str(error)})
    return error_response(Unavailable("The receiver is not configured; retry later."))


@app.not_found
def handle_not_found(_: NotFoundError) -> JsonResponse:
    method = app.current_event.request_context.http.method
    return error_response(RouteNotFound(f"No route for {method} {app.current_event.raw_path}."))


@app.exception_handler(Exception)
def handle_unexpected(_: Exception) -> JsonResponse:
    # A bug must not lose an authenticated delivery: 503 makes the sender retry.
    logger.exception("Unexpected error")
    return error_response(Unavailable("The receiver failed unexpectedly; retry later."))


@logger.inject_lambda_context(
    correlation_id_path=correlation_paths.API_GATEWAY_HTTP, log_event=False, clear_state=True
)
@traced
@metrics.log_metrics(capture_cold_start_metric=True)
@frozen_after_first_call
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
