"""One module per resource kind; STEPS is the order `up` runs them in one at a time, UP_NEEDS what may run at once."""

from s3gw.steps.adopted_functions import AdoptedFunctionsStep
from s3gw.steps.app import AppFunctionStep, AppRoleStep
from s3gw.steps.base import Context, Drift, Step
from s3gw.steps.bucket import BucketStep
from s3gw.steps.dynamodb_endpoint import DynamoDbEndpointStep
from s3gw.steps.endpoint import EndpointStep
from s3gw.steps.function import FunctionStep
from s3gw.steps.role import RoleStep
from s3gw.steps.route_tables import RouteTablesStep
from s3gw.steps.security_group import SecurityGroupStep
from s3gw.steps.subnets import SubnetsStep
from s3gw.steps.table import TableStep
from s3gw.steps.vpc import VpcStep

STEPS: list[Step] = [
    VpcStep(),
    SubnetsStep(),
    RouteTablesStep(),
    EndpointStep(),
    DynamoDbEndpointStep(),
    BucketStep(),
    TableStep(),
    SecurityGroupStep(),
    RoleStep(),
    FunctionStep(),
    AppRoleStep(),
    AppFunctionStep(),
    AdoptedFunctionsStep(),
]

# The graph `up`, `plan` and `status` walk (commands.walk.walk_steps): for each step, the steps that must be done before
# it is found or made, and before it is checked and configured. "x" is step x done; "x made" is x found or made,
# its ids recorded, not yet configured. Lanes: the network (vpc -> subnets -> route tables -> endpoint, and the
# security group), the bucket, the role; they join where one uses another's id. What needs nothing runs in the
# first round (the role, so that its propagation to Lambda overlaps the network's work). The endpoint is made
# with the route tables' ids while they are associated, and checked after; the function needs its group's id,
# not its rules (they go at once with CreateFunction, and `up` ends only once both are done). With
# --max-concurrency 1 the steps run one after another in STEPS order, which every row here respects.
UP_NEEDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    #  step              before find / create                                before check / repair
    "vpc":            ((),                                                   ()),
    "subnets":        (("vpc made",),                                        ()),
    "route_tables":   (("vpc made", "subnets"),                              ()),
    "endpoint":       (("route_tables made",),                               ("route_tables",)),  # their ids
    "bucket":         ((),                                                   ("endpoint made",)),  # the seal
    "security_group": (("vpc made",),                                        ()),  # the region's S3 prefix list
    # The DynamoDB lane (--table; inactive without it): its endpoint on the same tables, the table sealed to it.
    "dynamodb_endpoint": (("route_tables made",),                            ("route_tables",)),
    "table":          ((),                                                   ("dynamodb_endpoint made",)),  # seal
    "role":           ((),                                                   ("bucket made", "table made")),
    "function":       (("subnets", "security_group made", "role", "bucket made", "table made"), ()),
    # Your function (--code; steps.app): its own role and function, joined to the lanes as the probe's are.
    "app_role":       ((),                                                   ("bucket made", "table made")),
    "app":            (("subnets", "security_group made", "app_role", "bucket made", "table made"), ()),
    # Functions you run already (--function NAME --adopt): into the subnets and group, the bucket on their roles.
    "adopted_functions": (("subnets", "security_group made", "bucket made", "table made"), ()),
}

__all__ = ["STEPS", "UP_NEEDS", "Context", "Drift", "Step"]
