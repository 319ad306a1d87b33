"""Bootstrap: the GitHub Actions OIDC provider and makini-infra's CI roles (run once per account).

* ``makini-infra-deploy`` (output ``deployRoleArn`` -> repository variable ``AWS_DEPLOY_ROLE_ARN``):
  trusted for the repository's ``main`` branch and its ``dev``/``production`` environments; runs ``pulumi up``.
* ``makini-infra-preview`` (output ``previewRoleArn`` -> repository variable ``AWS_PREVIEW_ROLE_ARN``):
  trusted only for the repository's pull requests (``repo:<owner>/<name>:pull_request``); read-only
  Describe/Get/List on makini resources for ``pulumi preview``, with secret values (GetSecretValue,
  kms:Decrypt) explicitly denied.

State backend: these roles give AWS access only. A preview also reads the stack's Pulumi state; in the
workflows ``pulumi/auth-actions`` exchanges the job's OIDC token for a Pulumi Cloud access token (trust
configured in the Pulumi organization), so no role here needs access to a state bucket.
"""

import json

import pulumi
import pulumi_aws as aws
from ci_policy import (
    GITHUB_OIDC_HOST,
    PREVIEW_ROLE_NAME,
    deploy_policy,
    preview_policy,
    preview_trust_policy,
    pull_request_subject,
    trust_policy,
)

config = pulumi.Config("makini-infra-bootstrap")
repository = config.require("repository")
try:
    pull_request_subject(repository)  # validates owner/name before any resource is declared
except ValueError as err:
    raise pulumi.RunError(
        f"makini-infra-bootstrap:repository: {err}; set it with "
        "`pulumi config set makini-infra-bootstrap:repository <owner>/<name>`"
    ) from None
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
    policy=json.dumps(deploy_policy(identity.account_id, region.region)),
)
preview_role = aws.iam.Role(
    PREVIEW_ROLE_NAME,
    name=PREVIEW_ROLE_NAME,
    description=f"makini-infra pull-request previews of {repository} (read-only, never secret values)",
    max_session_duration=3600,
    assume_role_policy=provider.arn.apply(lambda arn: json.dumps(preview_trust_policy(arn, repository))),
    tags={"managed-by": "makini-infra-bootstrap"},
)
aws.iam.RolePolicy(
    "makini-infra-preview-policy",
    role=preview_role.name,
    policy=json.dumps(preview_policy(identity.account_id, region.region)),
)
pulumi.export("deployRoleArn", role.arn)
pulumi.export("previewRoleArn", preview_role.arn)
pulumi.export("oidcProviderArn", provider.arn)
