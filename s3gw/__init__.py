"""s3gw: a private path from a Lambda in private subnets to one S3 bucket through a gateway VPC endpoint."""

__version__ = "0.1.0"
