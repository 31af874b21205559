"""One module per resource kind; STEPS is the order `up` runs them in."""

from s3gw.steps.base import Context, Drift, Step
from s3gw.steps.bucket import BucketStep
from s3gw.steps.endpoint import EndpointStep
from s3gw.steps.function import FunctionStep
from s3gw.steps.role import RoleStep
from s3gw.steps.route_tables import RouteTablesStep
from s3gw.steps.security_group import SecurityGroupStep
from s3gw.steps.subnets import SubnetsStep
from s3gw.steps.vpc import VpcStep

STEPS: list[Step] = [
    VpcStep(),
    SubnetsStep(),
    RouteTablesStep(),
    EndpointStep(),
    BucketStep(),
    SecurityGroupStep(),
    RoleStep(),
    FunctionStep(),
]

__all__ = ["STEPS", "Context", "Drift", "Step"]
