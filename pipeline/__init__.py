"""fargate-flowlogs: why can't my ECS Fargate task reach that AWS service?

Ingest VPC Flow Logs into a Parquet lake, enrich them with who was talking, and
name the failing conversations with their likely cause.
"""

__version__ = "0.1.0"
