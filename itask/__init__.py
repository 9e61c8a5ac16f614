"""Local tooling: the embedded local stack, the ``itask`` CLI, the demo seeder.

Not part of the Lambda asset.
"""
