"""The AWS services the simulator serves on one port, told apart by the SigV4 signing name.

Greengrass V2 (`greengrass`) and AWS IoT (`iot`: the thing group operations) each have their
own model, handlers and request budget. Handlers and the shared checks raise Greengrass V2's
error codes; `Service.error` turns them into the service's own (IoT answers
InvalidRequestException where Greengrass V2 answers ValidationException) with the members its
model gives the error shape.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ggwatch.sim.faults import Quotas, retry_after
from ggwatch.sim.model import ServiceModel
from ggwatch.sim.operations import HANDLERS, IOT_HANDLERS, Call, Output
from ggwatch.sim.store import SimError

GREENGRASS = "greengrass"
IOT = "iot"

IOT_ERRORS = {
    "ValidationException": "InvalidRequestException",
    "InternalServerException": "InternalFailureException",
}


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
        if not self.renames:
            return self.model.error_status(code), code, exc.members
        shape = self.model.shapes.get(code)
        if shape is None:  # AWS's front door (AccessDeniedException): not in the IoT model
            return (403 if code == "AccessDeniedException" else 400), code, {}
        allowed = shape.get("members", {})
        members = {k: v for k, v in exc.members.items() if k in allowed}
        return self.model.error_status(code), code, members


def services(greengrass: ServiceModel, iot: ServiceModel, quotas: Quotas) -> dict[str, Service]:
    """The served services by signing name."""
    return {
        GREENGRASS: Service(
            GREENGRASS,
            greengrass,
            HANDLERS,
            quotas.admit,
            {"quotaCode": "L-GREENGRASS-V2-REQUESTS", "serviceCode": "greengrass"},
        ),
        IOT: Service(IOT, iot, IOT_HANDLERS, quotas.admit_iot, renames=IOT_ERRORS),
    }
