"""Bootstrap: makini-infra's CI identities, run by an administrator (see bootstrap/model.py for the inputs).

Per served stack S (from ``Pulumi.S.yaml``): the AWS deploy role ``makini-infra-S-deploy``, the drift
check's read-only role ``makini-infra-S-drift`` and, for non-production stacks previewed from pull requests,
``makini-infra-S-preview``; on Azure a deploy
identity with one exact federated credential; on Vault JWT login roles. Per account: the GitHub OIDC
provider and the permissions boundary ``makini-infra-boundary``. Optionally (``github.manage``,
``pulumiCloud``) the repository's OIDC subject template and one environment per stack, and Pulumi Cloud's
OIDC policies, teams and the server-side policy group.

Every trust is exact: one repository (by id), one workflow file on ``main``, one GitHub environment per
stack; pull requests reach only non-production preview identities. A configuration that would widen it is
refused before anything is declared.
"""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the project root, whatever the cwd

import pulumi  # noqa: E402
import pulumi_aws as aws  # noqa: E402

from bootstrap import aws_policies, azure_ci, oidc, pulumi_cloud, vault_ci  # noqa: E402
from bootstrap.model import (  # noqa: E402
    PERMISSIONS_BOUNDARY_NAME,
    BootstrapConfigError,
    deploy_role_name,
    drift_role_name,
    load_bootstrap,
    pinned_account,
    preview_role_name,
)
from infra.ci import read_stack_files  # noqa: E402
from stacks.limits import PolicyTooLarge  # noqa: E402
from stacks.naming import ONBOARDING_KEY_VAULT_DATA_ACTIONS  # noqa: E402


def _raw_config() -> dict[str, str]:
    from pulumi.runtime import config as runtime_config

    raw: dict[str, str] = dict(runtime_config.get_config_env())
    raw.update(runtime_config.CONFIG.get())
    return raw


try:
    raw = _raw_config()
    boot = load_bootstrap(pulumi.get_stack(), raw, read_stack_files(), aws_account_id=pinned_account(raw))
except BootstrapConfigError as err:
    raise pulumi.RunError(str(err)) from None

TAGS = {"managed-by": "makini-infra-bootstrap", "repository": boot.repository}
outputs: dict[str, object] = {"subjectClaimKeys": list(oidc.SUBJECT_CLAIM_KEYS)}
stacks_out: dict[str, dict[str, object]] = {s.name: {"githubEnvironment": s.github_environment} for s in boot.served}

# --- AWS ----------------------------------------------------------------------------------------------
aws_stacks = boot.served_with("aws")
if aws_stacks:
    partition = aws.get_partition().partition
    account = aws.get_caller_identity().account_id
    provider = aws.iam.OpenIdConnectProvider(
        "github-actions",
        url=oidc.ISSUER,
        client_id_lists=[oidc.AWS_AUDIENCE],
        tags=TAGS,
        opts=pulumi.ResourceOptions(protect=True),
    )
    boundary = aws.iam.Policy(
        "permissions-boundary",
        name=PERMISSIONS_BOUNDARY_NAME,
        description="makini-infra: the ceiling of every role makini-infra creates (own environment's data plane only)",
        policy=json.dumps(aws_policies.boundary_policy(account, partition), sort_keys=True),
        tags=TAGS,
        opts=pulumi.ResourceOptions(protect=True),
    )
    try:  # every role's documents are measured before anything is declared
        deploy_documents = {s.name: aws_policies.deploy_policies(s, partition) for s in aws_stacks}
    except PolicyTooLarge as err:
        raise pulumi.RunError(f"bootstrap stack {pulumi.get_stack()}: {err}") from None
    outputs["oidcProviderArn"] = provider.arn
    outputs["permissionsBoundaryArn"] = boundary.arn
    for stack in aws_stacks:
        deploy = aws.iam.Role(
            f"{stack.name}-deploy",
            name=deploy_role_name(stack.name),
            description=f"makini-infra: deploys stack {stack.name} from main.yml on main (environment "
            f"{stack.github_environment}) of {boot.repository}",
            max_session_duration=3600,
            assume_role_policy=provider.arn.apply(
                lambda arn, s=stack: json.dumps(
                    aws_policies.deploy_trust_policy(arn, boot.repository, boot.repository_id, s), sort_keys=True
                )
            ),
            tags={**TAGS, "makini-infra:stack": stack.name},
            opts=pulumi.ResourceOptions(protect=stack.production),
        )
        # Customer managed policies, not one inline policy: the deploy role's permissions outgrow IAM's
        # 10,240-character inline aggregate (aws_policies.deploy_policies refuses what even these cannot hold).
        for index, document in enumerate(deploy_documents[stack.name], start=1):
            policy = aws.iam.Policy(
                f"{stack.name}-deploy-policy-{index}",
                name=aws_policies.deploy_policy_name(stack.name, index),
                description=f"makini-infra: pulumi up of stack {stack.name} ({index} of "
                f"{len(deploy_documents[stack.name])})",
                policy=json.dumps(document, sort_keys=True),
                tags={**TAGS, "makini-infra:stack": stack.name},
                opts=pulumi.ResourceOptions(depends_on=[boundary]),
            )
            aws.iam.RolePolicyAttachment(
                f"{stack.name}-deploy-policy-{index}-attach",
                role=deploy.name,
                policy_arn=policy.arn,
            )
        stacks_out[stack.name]["deployRoleArn"] = deploy.arn
        drift = aws.iam.Role(
            f"{stack.name}-drift",
            name=drift_role_name(stack.name),
            description=f"makini-infra: the daily drift check of stack {stack.name} (drift.yml on main of "
            f"{boot.repository}): read-only",
            max_session_duration=3600,
            assume_role_policy=provider.arn.apply(
                lambda arn: json.dumps(
                    aws_policies.drift_trust_policy(arn, boot.repository, boot.repository_id), sort_keys=True
                )
            ),
            tags={**TAGS, "makini-infra:stack": stack.name},
        )
        aws.iam.RolePolicy(
            f"{stack.name}-drift-policy",
            name=drift_role_name(stack.name),
            role=drift.name,
            policy=json.dumps(aws_policies.drift_policy(stack, partition), sort_keys=True),
        )
        stacks_out[stack.name]["driftRoleArn"] = drift.arn
        if stack.previewable_from_pull_requests:
            preview = aws.iam.Role(
                f"{stack.name}-preview",
                name=preview_role_name(stack.name),
                description=f"makini-infra: pull-request previews of stack {stack.name} (read-only, never a secret value)",
                max_session_duration=3600,
                assume_role_policy=provider.arn.apply(
                    lambda arn: json.dumps(
                        aws_policies.preview_trust_policy(arn, boot.repository, boot.repository_id), sort_keys=True
                    )
                ),
                tags={**TAGS, "makini-infra:stack": stack.name},
            )
            aws.iam.RolePolicy(
                f"{stack.name}-preview-policy",
                name=preview_role_name(stack.name),
                role=preview.name,
                policy=json.dumps(aws_policies.preview_policy(stack, partition), sort_keys=True),
            )
            stacks_out[stack.name]["previewRoleArn"] = preview.arn

# --- Azure --------------------------------------------------------------------------------------------
azure_stacks = boot.served_with("azure")
if azure_stacks and boot.settings.azure is not None:
    import pulumi_azure_native as azure_native

    az = boot.settings.azure
    subscription = az.scope.split("/")[2]
    rotator = azure_ci.rotator_role_definition(az.scope)
    azure_native.authorization.RoleDefinition(
        "key-vault-secret-rotator",
        role_definition_id=rotator["name"],
        role_name=rotator["roleName"],
        description=rotator["description"],
        role_type="CustomRole",
        scope=az.scope,
        assignable_scopes=rotator["assignableScopes"],
        permissions=[
            azure_native.authorization.PermissionArgs(
                actions=[], not_actions=[], data_actions=rotator["permissions"][0]["dataActions"], not_data_actions=[]
            )
        ],
    )
    # The daily drift check (drift.yml): one identity for every Azure stack, trusted by that workflow on main
    # only (one exact credential per event), Reader at the scope. Its data-plane reads (the doctor reads the
    # OAuth client and the tokens) are each stack's own grants: declare its principal id as a consumer there.
    drift_identity = azure_native.managedidentity.UserAssignedIdentity(
        "drift-identity",
        resource_name_=azure_ci.DRIFT_IDENTITY_NAME,
        resource_group_name=az.resource_group_name,
        location=az.location,
        tags=TAGS,
    )
    for credential in azure_ci.drift_credentials(boot.repository, boot.repository_id):
        azure_native.managedidentity.FederatedIdentityCredential(
            credential.name,
            federated_identity_credential_resource_name=credential.name,
            resource_group_name=az.resource_group_name,
            resource_name_=drift_identity.name,
            issuer=credential.issuer,
            subject=credential.subject,
            audiences=list(credential.audiences),
        )
    azure_native.authorization.RoleAssignment(
        "drift-reader",
        principal_id=drift_identity.principal_id,
        principal_type="ServicePrincipal",
        role_definition_id=f"/subscriptions/{subscription}/providers/Microsoft.Authorization/roleDefinitions/"
        + azure_ci.READER,
        scope=az.scope,
        description="makini-infra CI: the daily drift check reads the stacks' resources (no data plane)",
    )
    outputs["azureDrift"] = {
        "clientId": drift_identity.client_id,  # repository variable AZURE_DRIFT_CLIENT_ID
        "principalId": drift_identity.principal_id,  # a consumer in each Azure stack (reads what the doctor checks)
        "subscriptionId": subscription,  # AZURE_DRIFT_SUBSCRIPTION_ID
    }
    for stack in azure_stacks:
        identity = azure_native.managedidentity.UserAssignedIdentity(
            f"{stack.name}-deploy-identity",
            resource_name_=azure_ci.deploy_identity_name(stack),
            resource_group_name=az.resource_group_name,
            location=az.location,
            tags=TAGS,
        )
        credential = azure_ci.deploy_credential(boot.repository, boot.repository_id, stack)
        azure_native.managedidentity.FederatedIdentityCredential(
            f"{stack.name}-deploy-credential",
            federated_identity_credential_resource_name=credential.name,
            resource_group_name=az.resource_group_name,
            resource_name_=identity.name,
            issuer=credential.issuer,
            subject=credential.subject,
            audiences=list(credential.audiences),
        )
        role = f"/subscriptions/{subscription}/providers/Microsoft.Authorization/roleDefinitions/"
        azure_native.authorization.RoleAssignment(
            f"{stack.name}-deploy-contributor",
            principal_id=identity.principal_id,
            principal_type="ServicePrincipal",
            role_definition_id=role + azure_ci.CONTRIBUTOR,
            scope=az.scope,
            description=f"makini-infra CI: deploys stack {stack.name}",
        )
        azure_native.authorization.RoleAssignment(
            f"{stack.name}-deploy-role-assignments",
            principal_id=identity.principal_id,
            principal_type="ServicePrincipal",
            role_definition_id=role + azure_ci.RBAC_ADMINISTRATOR,
            scope=az.scope,
            condition=azure_ci.role_assignment_condition(azure_ci.assignable_roles(stack, subscription)),
            condition_version="2.0",
            description=f"makini-infra CI: assigns only the data-plane roles stack {stack.name} uses",
        )
        onboarding = azure_ci.onboarding_role(stack, subscription, az.scope)
        if onboarding is not None:
            # Defined here, not by the stack: the deploy identity may assign it (the condition above), never edit it.
            azure_native.authorization.RoleDefinition(
                f"{stack.name}-onboarding-role",
                role_definition_id=str(onboarding["name"]),
                role_name=str(onboarding["roleName"]),
                description=str(onboarding["description"]),
                role_type="CustomRole",
                scope=az.scope,
                assignable_scopes=[az.scope],
                permissions=[
                    azure_native.authorization.PermissionArgs(
                        actions=[], not_actions=[], data_actions=list(ONBOARDING_KEY_VAULT_DATA_ACTIONS)
                    )
                ],
            )
        stacks_out[stack.name]["azureClientId"] = identity.client_id

# --- Vault --------------------------------------------------------------------------------------------
vault_stacks = boot.served_with("vault")
if vault_stacks and boot.settings.vault is not None:
    import pulumi_vault as vault

    vs = boot.settings.vault
    backend = vault.jwt.AuthBackend(
        "github-jwt",
        path=vs.jwt_mount_path,
        type="jwt",
        oidc_discovery_url=oidc.ISSUER,
        bound_issuer=oidc.ISSUER,
        description="makini-infra CI: GitHub Actions OIDC tokens",
    )
    for stack in vault_stacks:
        roles = [
            vault_ci.deploy_role(boot.repository, boot.repository_id, stack, vs.audience),
            vault_ci.drift_role(boot.repository, boot.repository_id, stack, vs.audience),
        ]
        if stack.previewable_from_pull_requests:
            roles.append(vault_ci.preview_role(boot.repository, boot.repository_id, stack, vs.audience))
        for spec in roles:
            acl_policies = [
                vault.Policy(f"{spec.name}-policy-{policy_name}", name=policy_name, policy=hcl)
                for policy_name, hcl in spec.policy_hcl.items()
            ]
            vault.jwt.AuthBackendRole(
                spec.name,
                backend=backend.path,
                role_name=spec.name,
                role_type="jwt",
                user_claim=spec.user_claim,
                bound_audiences=list(spec.bound_audiences),
                bound_subject=spec.bound_subject,
                bound_claims={k: ",".join(v) for k, v in spec.bound_claims.items()},
                bound_claims_type=spec.bound_claims_type,
                token_policies=[p.name for p in acl_policies],
                token_no_default_policy=True,
                token_ttl=spec.token_ttl,
                token_max_ttl=spec.token_max_ttl,
            )
        stacks_out[stack.name]["vaultRoles"] = [r.name for r in roles]

# --- GitHub -------------------------------------------------------------------------------------------
if boot.settings.github.manage:
    import pulumi_github as github

    name = boot.repository.split("/")[1]
    github.ActionsRepositoryOidcSubjectClaimCustomizationTemplate(
        "oidc-subject-template",
        repository=name,
        use_default=False,
        include_claim_keys=list(oidc.SUBJECT_CLAIM_KEYS),
    )
    for stack in boot.all_stacks:
        reviewers = (
            [github.RepositoryEnvironmentReviewerArgs(teams=list(boot.settings.github.production_reviewers))]
            if stack.production and boot.settings.github.production_reviewers
            else None
        )
        environment = github.RepositoryEnvironment(
            f"{stack.name}-environment",
            repository=name,
            environment=stack.github_environment,
            can_admins_bypass=not stack.production,
            prevent_self_review=stack.production,
            reviewers=reviewers,
            deployment_branch_policy=github.RepositoryEnvironmentDeploymentBranchPolicyArgs(
                protected_branches=False, custom_branch_policies=True
            ),
        )
        github.RepositoryEnvironmentDeploymentPolicy(
            f"{stack.name}-environment-main-only",
            repository=name,
            environment=environment.environment,
            branch_pattern="main",
        )

# --- Pulumi Cloud -------------------------------------------------------------------------------------
if boot.settings.pulumi_cloud is not None:
    import pulumi_pulumiservice as pulumiservice

    org = boot.settings.pulumi_cloud.organization
    team_policies = pulumi_cloud.team_policies(boot, org)
    teams = {}
    for tp in team_policies:
        if tp.team in teams:
            continue  # a team with several OIDC policies (the drift team: one per event) is created once
        teams[tp.team] = pulumiservice.Team(
            tp.team, organization_name=org, team_type="pulumi", name=tp.team, display_name=tp.team
        )
        for stack_name, permission in tp.stacks.items():
            pulumiservice.TeamStackPermission(
                f"{tp.team}-{stack_name}",
                organization=org,
                project=pulumi_cloud.PROJECT,
                stack=stack_name,
                team=teams[tp.team].name,
                permission=permission,
            )
    pulumiservice.OidcIssuer(
        "github-actions-issuer",
        organization=org,
        name="github-actions",
        url=oidc.ISSUER,
        max_expiration_seconds=3600,
        policies=[
            pulumiservice.AuthPolicyDefinitionArgs(
                decision=pulumiservice.AuthPolicyDecision.ALLOW,
                token_type=pulumiservice.AuthPolicyTokenType.TEAM,
                team_name=tp.team,
                rules=tp.rules,
            )
            for tp in team_policies
        ],
        opts=pulumi.ResourceOptions(depends_on=list(teams.values())),
    )
    pulumiservice.PolicyGroup(
        "policy-group",
        name=pulumi_cloud.POLICY_GROUP,
        organization_name=org,
        entity_type="stacks",
        mode="preventative",
        policy_packs=[
            pulumiservice.PolicyGroupPolicyPackReferenceInputArgs(
                name=pulumi_cloud.POLICY_PACK, version_tag=boot.settings.pulumi_cloud.policy_pack_version
            )
        ],
        stacks=[
            pulumiservice.PolicyGroupStackReferenceArgs(name=s.name, routing_project=pulumi_cloud.PROJECT)
            for s in boot.all_stacks
        ],
    )

outputs["stacks"] = stacks_out
for key, value in outputs.items():
    pulumi.export(key, value)
