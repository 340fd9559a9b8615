"""The AWS services the simulator serves on one port, told apart by the SigV4 signing name.

Greengrass V2 (`greengrass`) and AWS IoT (`iot`: the thing group operations) each have their
own model, handlers and request budget; the AWS Account Management API (`account`: the
Regions an account may use) has its model and handlers and no budget (its quota is not in our
facts). Handlers and the shared checks raise Greengrass V2's error codes; `Service.error`
turns them into the service's own (IoT answers InvalidRequestException where Greengrass V2
answers ValidationException) with the members its model gives the error shape (reshaped
first for the Account API, whose ValidationException names its members otherwise).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ggwatch.sim.faults import Quotas, retry_after
from ggwatch.sim.model import ServiceModel, load_account_model
from ggwatch.sim.operations import (
    ACCOUNT_HANDLERS,
    HANDLERS,
    IOT_HANDLERS,
    AccountCall,
    Call,
    Output,
)
from ggwatch.sim.operations.account import error_members
from ggwatch.sim.store import SimError

GREENGRASS = "greengrass"
IOT = "iot"
ACCOUNT = "account"

IOT_ERRORS = {
    "ValidationException": "InvalidRequestException",
    "InternalServerException": "InternalFailureException",
}
ACCOUNT_ERRORS = {"ThrottlingException": "TooManyRequestsException"}


@dataclass(frozen=True, slots=True)
class Service:
    signing_name: str
    model: ServiceModel
    handlers: Mapping[str, Callable[[Call], Output]]
    admit: Callable[[str, str], float]  # (account, region) -> 0, or seconds to wait
    throttle_members: Mapping[str, str] = field(default_factory=dict)
    # Greengrass V2's error codes -> this service's; with any, members the model does not give
    # the error shape are left out.
    renames: Mapping[str, str] = field(default_factory=dict)
    # A global service's handlers (the Account API: one endpoint, signed for us-east-1): they
    # take the caller's account, not an account-and-Region state.
    account_handlers: Mapping[str, Callable[[AccountCall], Output]] = field(default_factory=dict)
    # (this service's code, Greengrass V2's members) -> this service's members
    reshape: Callable[[str, Mapping[str, Any]], dict[str, Any]] | None = None

    def throttled(self, wait: float) -> SimError:
        return SimError(
            "ThrottlingException",
            "Rate exceeded",
            retry_after=retry_after(wait),
            **self.throttle_members,
        )

    def error(self, exc: SimError) -> tuple[int, str, dict[str, Any]]:
        """HTTP status, error code and members of this service's answer to `exc`."""
        code = self.renames.get(exc.code, exc.code)
        given = self.reshape(code, exc.members) if self.reshape else exc.members
        if not self.renames:
            return self.model.error_status(code), code, given
        shape = self.model.shapes.get(code)
        if shape is None:  # AWS's front door (AccessDeniedException): not in the IoT model
            return (403 if code == "AccessDeniedException" else 400), code, {}
        allowed = shape.get("members", {})
        members = {k: v for k, v in given.items() if k in allowed}
        return self.model.error_status(code), code, members


def services(greengrass: ServiceModel, iot: ServiceModel, quotas: Quotas) -> dict[str, Service]:
    """The served services by signing name (the Account API's model: the installed botocore's)."""
    return {
        GREENGRASS: Service(
            GREENGRASS,
            greengrass,
            HANDLERS,
            quotas.admit,
            {"quotaCode": "L-GREENGRASS-V2-REQUESTS", "serviceCode": "greengrass"},
        ),
        IOT: Service(IOT, iot, IOT_HANDLERS, quotas.admit_iot, renames=IOT_ERRORS),
        ACCOUNT: Service(
            ACCOUNT,
            load_account_model(),
            {},
            _unmetered,
            renames=ACCOUNT_ERRORS,
            account_handlers=ACCOUNT_HANDLERS,
            reshape=error_members,
        ),
    }


def _unmetered(_account: str, _region: str) -> float:
    return 0.0
