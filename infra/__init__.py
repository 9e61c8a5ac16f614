"""AWS CDK app of the instructor tasks service (synthesises offline: ``python infra/app.py``)."""
