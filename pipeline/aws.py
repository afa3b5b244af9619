"""AWS sessions and clients for flowlogs, and AWS errors turned into actionable messages.

Credentials come from the standard chain (environment, ``--profile``, SSO, instance or
task role), optionally through ``--role-arn`` (assumed, refreshed before it expires).
Clients retry throttling, 5xx and dropped connections with botocore's adaptive mode;
every retried request is counted per process (``retries()``) for the run summary.
Nothing here logs or returns credentials: errors name the IAM action and resource.
boto3 is imported inside functions, so importing this module is cheap.
"""

from __future__ import annotations

import os
import threading
from pipeline.errors import FlowlogsError
from pipeline.settings import Settings

DEFAULT_MAX_ATTEMPTS = 8
THROTTLING_CODES = frozenset({
    "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottled", "RequestThrottledException",
    "SlowDown", "TooManyRequestsException", "RequestLimitExceeded", "ProvisionedThroughputExceededException",
    "RequestTimeout", "RequestTimeoutException", "InternalError", "ServiceUnavailable", "ServiceUnavailableException",
})
ACCESS_DENIED_CODES = frozenset({
    "AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AuthorizationError", "AllAccessDisabled",
    "Forbidden", "403",
})
BAD_CREDENTIAL_CODES = frozenset({
    "ExpiredToken", "ExpiredTokenException", "RequestExpired", "InvalidAccessKeyId", "InvalidClientTokenId",
    "SignatureDoesNotMatch", "UnrecognizedClientException", "InvalidToken",
})
CREDENTIALS_HINT = (
    "flowlogs uses the AWS CLI's credentials: --profile / AWS_PROFILE, `aws sso login`, "
    "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or an instance/task role"
)


_lock = threading.Lock()
_clients: dict = {}
_retries = 0


def retries() -> int:
    """Requests retried so far by this process's clients (throttling, 5xx, dropped connections)."""
    return _retries


def _count_retries(context=None, **_) -> None:
    global _retries
    attempt = ((context or {}).get("retries") or {}).get("attempt", 1)
    if attempt > 1:
        with _lock:
            _retries += attempt - 1


def max_attempts() -> int:
    """Attempts per request: ``AWS_MAX_ATTEMPTS`` if set, else 8."""
    return int(os.environ.get("AWS_MAX_ATTEMPTS") or DEFAULT_MAX_ATTEMPTS)


def session(settings: Settings):
    """A boto3 session for ``settings`` (the role assumed if ``role_arn`` is set)."""
    import boto3
    import botocore.session
    from botocore.exceptions import BotoCoreError

    try:
        core = botocore.session.Session(profile=settings.profile)
        if settings.region:
            core.set_config_variable("region", settings.region)
        if settings.role_arn:
            _assume_role(core, settings)
        return boto3.Session(botocore_session=core)
    except BotoCoreError as exc:
        raise explain(exc, "sts:AssumeRole" if settings.role_arn else "loading the AWS configuration",
                      settings.role_arn or "the AWS profile") from None


def _assume_role(core, settings: Settings) -> None:
    """Put an assume-role provider first in ``core``'s credential chain (refreshed before expiry)."""
    import botocore.session
    from botocore.credentials import AssumeRoleCredentialFetcher, CredentialProvider, DeferredRefreshableCredentials

    source = botocore.session.Session(profile=settings.profile)
    source_credentials = source.get_credentials()
    if source_credentials is None:
        raise FlowlogsError("no AWS credentials to assume the role with", CREDENTIALS_HINT)
    region = settings.region or source.get_config_variable("region") or "us-east-1"
    fetcher = AssumeRoleCredentialFetcher(
        client_creator=lambda service, **kw: source.create_client(
            service, region_name=region, endpoint_url=settings.endpoint_url, **kw),
        source_credentials=source_credentials,
        role_arn=settings.role_arn,
        extra_args={"RoleSessionName": "flowlogs"},
    )

    class RoleProvider(CredentialProvider):
        METHOD = "flowlogs-assume-role"

        def load(self):
            return DeferredRefreshableCredentials(refresh_using=fetcher.fetch_credentials, method=self.METHOD)

    core.get_component("credential_provider").insert_before("env", RoleProvider())


def client(settings: Settings, service: str):
    """A retrying client for ``service``, one per process and settings (clients are thread-safe)."""
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError

    key = (settings, service, os.getpid())
    with _lock:
        if key in _clients:
            return _clients[key]
    config = Config(
        retries={"mode": "adaptive", "max_attempts": max_attempts()},
        connect_timeout=10, read_timeout=60, max_pool_connections=32,
    )
    sess = session(settings)
    if service != "s3" and not sess.region_name:
        raise FlowlogsError(f"no AWS region for {service}", "pass --region or set AWS_REGION")
    try:
        made = sess.client(service, endpoint_url=settings.endpoint_url, config=config)
    except BotoCoreError as exc:
        raise explain(exc, f"creating the {service} client", "AWS") from None
    made.meta.events.register("after-call", _count_retries)
    made.meta.events.register("after-call-error", _count_retries)
    with _lock:
        return _clients.setdefault(key, made)


def is_transient(exc: BaseException) -> bool:
    """Throttling, a 5xx or a dropped connection that survived the retries: worth trying next run."""
    from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

    if isinstance(exc, ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        return exc.response.get("Error", {}).get("Code") in THROTTLING_CODES or status >= 500
    return isinstance(exc, (ConnectionError, HTTPClientError))


def error_code(exc: BaseException) -> str | None:
    from botocore.exceptions import ClientError

    return exc.response.get("Error", {}).get("Code") if isinstance(exc, ClientError) else None


def explain(exc: BaseException, action: str, resource: str) -> FlowlogsError:
    """A FlowlogsError naming what failed (``action`` on ``resource``) and what to do about it."""
    from botocore import exceptions as bex

    if isinstance(exc, FlowlogsError):
        return exc
    if isinstance(exc, (bex.NoCredentialsError, bex.PartialCredentialsError, bex.CredentialRetrievalError,
                        bex.TokenRetrievalError, bex.SSOError)):
        return FlowlogsError(f"no usable AWS credentials ({type(exc).__name__})", CREDENTIALS_HINT)
    if isinstance(exc, bex.ProfileNotFound):
        return FlowlogsError(f"AWS profile {exc.kwargs.get('profile')!r} not found",
                             "check --profile / AWS_PROFILE against `aws configure list-profiles`")
    if isinstance(exc, bex.NoRegionError):
        return FlowlogsError("no AWS region configured", "pass --region or set AWS_REGION")
    if isinstance(exc, bex.EndpointConnectionError):
        return FlowlogsError(f"could not reach the AWS endpoint for {action}: {exc}",
                             "check the network, the region and --endpoint-url")
    code = error_code(exc)
    if code is None:
        return FlowlogsError(f"{action} on {resource} failed: {exc}")
    if getattr(exc, "operation_name", None) == "AssumeRole":  # refreshing --role-arn credentials failed
        action, resource = "sts:AssumeRole", "the role given with --role-arn"
    message = exc.response.get("Error", {}).get("Message") or ""
    if code in ACCESS_DENIED_CODES:
        return FlowlogsError(f"access denied: {action} on {resource}",
                             f"allow {action} on {resource} for the identity running flowlogs (docs/iam.md)")
    if code == "NoSuchBucket":
        bucket = resource.removeprefix("arn:aws:s3:::").split("/", 1)[0]
        return FlowlogsError(f"the S3 bucket {bucket!r} does not exist", "check the bucket name after s3://")
    if code == "ResourceNotFoundException":
        return FlowlogsError(f"{resource} not found ({message})".replace(" ()", ""),
                             "check the name and the region (--region)")
    if code in BAD_CREDENTIAL_CODES:
        return FlowlogsError(f"the AWS credentials were rejected ({code})",
                             "they are expired or wrong: refresh them (e.g. `aws sso login`) and run again")
    if code in ("PermanentRedirect", "AuthorizationHeaderMalformed", "IllegalLocationConstraintException"):
        return FlowlogsError(f"{resource} is in another region than the one flowlogs called ({code})",
                             "pass the bucket's region with --region")
    if is_transient(exc):
        return FlowlogsError(f"{action} on {resource} was throttled or failed after {max_attempts()} attempts ({code})",
                             "run again later; raise AWS_MAX_ATTEMPTS to retry longer")
    return FlowlogsError(f"{action} on {resource} failed: {code}: {message}")


def pyarrow_s3_options(settings: Settings) -> dict:
    """pyarrow ``S3FileSystem`` options equivalent to ``settings`` (credentials resolved now)."""
    from botocore.exceptions import BotoCoreError

    sess = session(settings)
    try:
        creds = sess.get_credentials()
    except BotoCoreError as exc:
        raise explain(exc, "reading the lake on S3", "its credentials") from None
    options: dict = {"region": sess.region_name or "us-east-1"}
    if creds is not None:
        frozen = creds.get_frozen_credentials()
        options.update(access_key=frozen.access_key, secret_key=frozen.secret_key, session_token=frozen.token)
    if settings.endpoint_url:
        options["endpoint_override"] = settings.endpoint_url
        options["scheme"] = "http" if settings.endpoint_url.startswith("http://") else "https"
    return options
