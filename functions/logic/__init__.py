"""Business logic: no boto3, no pynamodb; talks to the data layer through repositories."""
