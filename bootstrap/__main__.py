"""Bootstrap: the GitHub Actions OIDC provider and makini-infra's CI deploy role (run once per account)."""

import json

import pulumi
import pulumi_aws as aws

from ci_policy import GITHUB_OIDC_HOST, deploy_policy, trust_policy

config = pulumi.Config("makini-infra-bootstrap")
repository = config.require("repository")
identity = aws.get_caller_identity()
region = aws.get_region()

provider = aws.iam.OpenIdConnectProvider(
    "github-actions",
    url=f"https://{GITHUB_OIDC_HOST}",
    client_id_lists=["sts.amazonaws.com"],
    opts=pulumi.ResourceOptions(protect=True),
)
role = aws.iam.Role(
    "makini-infra-deploy",
    name="makini-infra-deploy",
    description=f"makini-infra CI deploys from {repository} (main branch and its environments only)",
    max_session_duration=3600,
    assume_role_policy=provider.arn.apply(lambda arn: json.dumps(trust_policy(arn, repository))),
    tags={"managed-by": "makini-infra-bootstrap"},
)
aws.iam.RolePolicy(
    "makini-infra-deploy-policy",
    role=role.name,
    policy=json.dumps(deploy_policy(identity.account_id, region.name)),
)
pulumi.export("deployRoleArn", role.arn)
pulumi.export("oidcProviderArn", provider.arn)
