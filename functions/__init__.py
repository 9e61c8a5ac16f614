"""Lambda asset: instructor tasks as a serverless service.

Layers, one direction: ``handlers`` -> ``logic`` -> ``dal``, with shared ``models``.
Only ``dal`` touches boto3 or pynamodb.
"""
