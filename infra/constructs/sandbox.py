"""The network of the sandbox grader: a VPC with isolated subnets only (no internet or NAT gateway, no
VPC endpoints) and a security group without any rule, so the grader function, which runs course
authors' Python, reaches nothing: not the internet, not AWS APIs, not the rest of the service.
Flow logs record what it tries (rejected traffic included)."""

from __future__ import annotations

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.nag import acknowledge, allow

_ENI_REASON = (
    "A function in a VPC needs its execution role to describe network interfaces, which EC2 grants on "
    "'*' only; the role can reach no AWS API from the isolated subnets anyway."
)
_ENI_WILDCARD_REASON = (
    "Lambda creates and deletes the function's network interfaces; their ids are not known in advance, "
    "so the grant names this account and region's network interfaces."
)


class SandboxNetwork(Construct):
    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            max_azs=2,
            nat_gateways=0,
            subnet_configuration=[
                ec2.SubnetConfiguration(
                    name="isolated", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=24
                )
            ],
            # Restricting the default security group takes a custom resource (a Lambda function);
            # the grader never uses the default group: it has its own, without rules.
            restrict_default_security_group=False,
        )
        flow_logs = logs.LogGroup(
            self, "FlowLogs", retention=logs.RetentionDays.ONE_MONTH, removal_policy=RemovalPolicy.DESTROY
        )
        self.vpc.add_flow_log("FlowLog", destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_logs))
        self.security_group = ec2.SecurityGroup(
            self,
            "Grader",
            vpc=self.vpc,
            description="Sandbox grader: no inbound, no outbound",
            allow_all_outbound=False,
        )
        acknowledge(
            self.vpc,
            "AwsSolutions-EC23",
            "The VPC's default security group is unused; the grader has its own group without any rule.",
        )

    def placement(self) -> dict[str, object]:
        """Keyword arguments that put a function in the isolated subnets, in the rule-less group."""
        return {
            "vpc": self.vpc,
            "vpc_subnets": ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED),
            "security_groups": [self.security_group],
        }

    def grant_network_interfaces(self, role: iam.IRole, function: lambda_.IFunction) -> None:
        """What Lambda needs of the execution role to attach the function to the subnets."""
        stack = Stack.of(self)
        interfaces = stack.format_arn(service="ec2", resource="network-interface", resource_name="*")
        subnets = [
            stack.format_arn(service="ec2", resource="subnet", resource_name=subnet.subnet_id)
            for subnet in self.vpc.isolated_subnets
        ]
        group = stack.format_arn(
            service="ec2", resource="security-group", resource_name=self.security_group.security_group_id
        )
        allow(role, ["ec2:DescribeNetworkInterfaces"], ["*"], wildcard_reason=_ENI_REASON)
        allow(
            role,
            ["ec2:CreateNetworkInterface"],
            [interfaces, *subnets, group],
            wildcard_reason=_ENI_WILDCARD_REASON,
        )
        allow(
            role,
            ["ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses"],
            [interfaces],
            wildcard_reason=_ENI_WILDCARD_REASON,
        )
