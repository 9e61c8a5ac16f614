"""Data access: the only layer that touches boto3 or pynamodb."""
