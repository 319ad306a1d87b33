"""The bootstrap program under mocks, its offline plan, and its documents against what the program deploys.

* Each example bootstrap stack registers exactly the identities its stacks need, with the trust and
  permission documents the builders make; the provider and boundary are protected.
* The deploy role of each stack may create exactly the roles and policies that stack's own plan
  registers (a role the plan creates but the deploy policy does not name would fail at deploy; one the
  policy names but the plan never creates would be surplus power).
* parliament lints every CI document; the preview policies are read-only by AWS's access levels.
* ``python -m infra.plan <name> --program bootstrap --json`` has the program plan's shape.
"""

from __future__ import annotations

import json
import warnings
from functools import cache
from typing import Any

import pytest

from bootstrap import aws_policies, azure_ci, oidc
from bootstrap.model import BOOTSTRAP_DIR, boundary_arn
from infra.offline import MOCK_SUBSCRIPTION_ID, ProgramRun, load_stack_file, run_program
from infra.plan import build_plan
from infra.plan import main as plan_main
from stacks.naming import onboarding_role_guid
from tests.bootstrap.conftest import EXAMPLES, REPO, REPO_ID, example

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # parliament imports the deprecated pkg_resources
    import parliament

PROJECT = "makini-infra-bootstrap"


@cache
def bootstrap_run(name: str) -> ProgramRun:
    source = load_stack_file(name, BOOTSTRAP_DIR / f"Pulumi.{name}.yaml", project=PROJECT)
    return run_program(name, source.config, source.secret_keys, program=BOOTSTRAP_DIR / "__main__.py", project=PROJECT)


@cache
def program_plan(stack: str) -> dict[str, Any]:
    return json.loads(json.dumps(build_plan(stack).to_json()))


def _of(run: ProgramRun, typ: str) -> list[Any]:
    return run.of_type(typ)


@pytest.mark.parametrize("name", EXAMPLES)
def test_each_bootstrap_stack_registers_the_identities_of_its_stacks(name):
    run = bootstrap_run(name)
    (stack,) = example(name).served
    (provider,) = _of(run, "aws:iam/openIdConnectProvider:OpenIdConnectProvider")
    assert provider.protect and provider.plain_inputs["url"] == oidc.ISSUER
    assert provider.plain_inputs["clientIdLists"] == [oidc.AWS_AUDIENCE]
    managed = {p.plain_inputs["name"]: p for p in _of(run, "aws:iam/policy:Policy")}
    boundary = managed.pop("makini-infra-boundary")
    assert boundary.protect and boundary.plain_inputs["name"] == "makini-infra-boundary"
    assert json.loads(boundary.plain_inputs["policy"]) == aws_policies.boundary_policy(stack.aws_account_id)
    roles = {r.plain_inputs["name"]: r for r in _of(run, "aws:iam/role:Role")}
    expected = {f"makini-infra-{name}-deploy", f"makini-infra-{name}-drift"} | (
        {f"makini-infra-{name}-preview"} if name == "dev" else set()
    )
    assert set(roles) == expected
    assert roles[f"makini-infra-{name}-deploy"].protect == stack.production
    provider_arn = f"arn:aws:iam::{stack.aws_account_id}:oidc-provider/{oidc.HOST}"
    assert json.loads(roles[f"makini-infra-{name}-deploy"].plain_inputs["assumeRolePolicy"]) == (
        aws_policies.deploy_trust_policy(provider_arn, REPO, REPO_ID, stack)
    )
    assert json.loads(roles[f"makini-infra-{name}-drift"].plain_inputs["assumeRolePolicy"]) == (
        aws_policies.drift_trust_policy(provider_arn, REPO, REPO_ID)
    )
    policies = {
        p.plain_inputs["role"]: json.loads(p.plain_inputs["policy"]) for p in _of(run, "aws:iam/rolePolicy:RolePolicy")
    }
    assert f"makini-infra-{name}-deploy" not in policies  # no inline policy: managed ones, attached
    deploy_docs = [json.loads(managed[n].plain_inputs["policy"]) for n in sorted(managed)]
    assert sorted(managed) == [f"makini-infra-{name}-deploy-{i}" for i in range(1, len(deploy_docs) + 1)]
    # together exactly the deploy policy's statements, in order
    assert [st for d in deploy_docs for st in d["Statement"]] == aws_policies.deploy_policy(stack)["Statement"]
    attached = [a.plain_inputs for a in _of(run, "aws:iam/rolePolicyAttachment:RolePolicyAttachment")]
    assert len(attached) == len(deploy_docs) and {a["role"] for a in attached} == {f"makini-infra-{name}-deploy"}
    assert policies[f"makini-infra-{name}-drift"] == aws_policies.drift_policy(stack)
    outputs = run.outputs["stacks"][name]
    assert outputs["deployRoleArn"] == stack.deploy_role_arn()
    assert outputs["driftRoleArn"] == stack.drift_role_arn()
    assert run.outputs["permissionsBoundaryArn"] == boundary_arn(stack.aws_account_id)


def test_staging_gets_an_azure_identity_and_a_vault_role_and_no_preview():
    run = bootstrap_run("staging")
    credentials = {
        c.plain_inputs["federatedIdentityCredentialResourceName"]: c.plain_inputs
        for c in _of(run, "azure-native:managedidentity:FederatedIdentityCredential")
    }
    assert set(credentials) == {"github-staging-deploy", "github-drift-schedule", "github-drift-workflow-dispatch"}
    inputs = credentials["github-staging-deploy"]
    assert inputs["issuer"] == oidc.ISSUER and inputs["audiences"] == [oidc.AZURE_AUDIENCE]
    assert inputs["subject"] == (
        "repo:acme/makini-infra:repository_id:704215839:environment:staging:event_name:push:"
        "job_workflow_ref:acme/makini-infra/.github/workflows/main.yml@refs/heads/main"
    )
    scope = example("staging").settings.azure.scope  # type: ignore[union-attr]
    expected = azure_ci.rotator_role_definition(scope)
    definitions = {r.plain_inputs["roleDefinitionId"]: r for r in _of(run, "azure-native:authorization:RoleDefinition")}
    # the rotator's role (issue 20) and the onboarding identity's (issue 19): nothing else
    assert len(definitions) == 2
    rotator = definitions[expected["name"]]
    assert rotator.plain_inputs["roleDefinitionId"] == expected["name"]
    assert rotator.plain_inputs["assignableScopes"] == [scope]
    (permission,) = rotator.plain_inputs["permissions"]
    assert permission["dataActions"] == list(azure_ci.ROTATOR_DATA_ACTIONS) and permission["actions"] == []
    url, body = azure_ci.rotator_role_request(scope)
    assert url == f"https://management.azure.com{expected['id']}?api-version=2022-04-01"
    assert body["properties"]["permissions"] == expected["permissions"] and body["properties"]["type"] == "CustomRole"
    assignments = _of(run, "azure-native:authorization:RoleAssignment")
    assert len(assignments) == 3
    identities = {
        i.plain_inputs["resourceName"]: i for i in _of(run, "azure-native:managedidentity:UserAssignedIdentity")
    }
    assert set(identities) == {"makini-infra-staging-deploy", "makini-infra-drift"}
    # The drift identity: drift.yml on main, one exact subject per event, in no environment; Reader, nothing else.
    for event in ("schedule", "workflow_dispatch"):
        drift_credential = credentials[f"github-drift-{event.replace('_', '-')}"]
        assert drift_credential["resourceName"] == "makini-infra-drift"
        assert drift_credential["issuer"] == oidc.ISSUER and drift_credential["audiences"] == [oidc.AZURE_AUDIENCE]
        assert drift_credential["subject"] == (
            f"repo:acme/makini-infra:repository_id:704215839:ref:refs/heads/main:event_name:{event}:"
            "job_workflow_ref:acme/makini-infra/.github/workflows/drift.yml@refs/heads/main"
        )
    (reader,) = [a for a in assignments if a.name == "drift-reader"]
    assert reader.plain_inputs["roleDefinitionId"].endswith("/roleDefinitions/acdd72a7-3385-48ef-bd42-f606fba81ae7")
    assert reader.plain_inputs["scope"] == scope and "condition" not in reader.plain_inputs
    assert set(run.outputs["azureDrift"]) == {"clientId", "principalId", "subscriptionId"}
    (conditioned,) = [a for a in assignments if a.plain_inputs.get("condition")]
    assert conditioned.plain_inputs["conditionVersion"] == "2.0"
    roles = {r.plain_inputs["roleName"]: r for r in _of(run, "vault:jwt/authBackendRole:AuthBackendRole")}
    assert set(roles) == {"makini-infra-staging-deploy", "makini-infra-staging-drift"}
    drift = roles["makini-infra-staging-drift"].plain_inputs
    assert "boundSubject" not in drift and drift["tokenNoDefaultPolicy"] is True
    assert drift["boundClaims"]["job_workflow_ref"] == "acme/makini-infra/.github/workflows/drift.yml@refs/heads/main"
    assert drift["boundClaims"]["event_name"] == "schedule,workflow_dispatch"
    role = roles["makini-infra-staging-deploy"]
    assert role.plain_inputs["boundSubject"] == inputs["subject"]
    assert role.plain_inputs["boundClaims"]["ref"] == "refs/heads/main"
    assert role.plain_inputs["tokenNoDefaultPolicy"] is True
    assert not [r for r in _of(run, "aws:iam/role:Role") if "preview" in r.plain_inputs["name"]]


def test_only_the_stack_that_manages_github_and_pulumi_cloud_touches_them():
    dev = {r.type.split(":")[0] for r in bootstrap_run("dev").resources}
    assert {"github", "pulumiservice"} <= dev
    for name in ("staging", "prod"):
        assert not {"github", "pulumiservice"} & {r.type.split(":")[0] for r in bootstrap_run(name).resources}
    (template,) = _of(
        bootstrap_run("dev"),
        "github:index/actionsRepositoryOidcSubjectClaimCustomizationTemplate:ActionsRepositoryOidcSubjectClaimCustomizationTemplate",
    )
    assert template.plain_inputs["includeClaimKeys"] == list(oidc.SUBJECT_CLAIM_KEYS)
    assert template.plain_inputs["useDefault"] is False
    envs = {
        e.plain_inputs["environment"]: e.plain_inputs
        for e in _of(bootstrap_run("dev"), "github:index/repositoryEnvironment:RepositoryEnvironment")
    }
    assert set(envs) == {"dev", "staging", "prod"}
    assert envs["prod"]["preventSelfReview"] is True and envs["prod"]["canAdminsBypass"] is False
    assert envs["prod"]["reviewers"] == [{"teams": [5120344]}]
    policies = _of(
        bootstrap_run("dev"), "github:index/repositoryEnvironmentDeploymentPolicy:RepositoryEnvironmentDeploymentPolicy"
    )
    assert {p.plain_inputs["branchPattern"] for p in policies} == {"main"}
    (group,) = _of(bootstrap_run("dev"), "pulumiservice:index:PolicyGroup")
    assert group.plain_inputs["mode"] == "preventative"
    assert {s["name"] for s in group.plain_inputs["stacks"]} == {"dev", "staging", "prod"}


@pytest.mark.parametrize("stack_name", EXAMPLES)
def test_the_deploy_policy_names_exactly_the_roles_and_policies_the_stack_creates(stack_name):
    (stack,) = example(stack_name).served
    plan = program_plan(stack_name)
    created_roles = {r["inputs"]["name"] for r in plan["resources"] if r["type"] == "aws:iam/role:Role"}
    assert created_roles <= set(stack.program_role_names())
    created_policies = {r["inputs"]["name"] for r in plan["resources"] if r["type"] == "aws:iam/policy:Policy"}
    assert created_policies == set(stack.consumer_policy_names())
    attachments = {
        r["inputs"]["role"]
        for r in plan["resources"]
        if r["type"] == "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
    }
    external = {x.role_arn.rsplit("/", 1)[-1] for x in stack.external_consumer_roles}
    assert attachments <= external | set(stack.program_role_names())
    # Every name the program uses is inside what the deploy role manages.
    text = json.dumps(aws_policies.deploy_policy(stack))
    for r in plan["resources"]:
        name = r["inputs"].get("name")
        if r["type"] in ("aws:lambda/function:Function", "aws:sqs/queue:Queue", "aws:sns/topic:Topic"):
            assert name.startswith(f"makini-{stack.environment}-"), name
        if r["type"] == "aws:secretsmanager/secret:Secret":
            assert name.startswith(f"makini/{stack.environment}/"), name
    assert f"makini-{stack.environment}-*" in text


@pytest.mark.parametrize("name", EXAMPLES)
def test_parliament_lints_the_ci_documents(name):
    (stack,) = example(name).served
    docs = {
        "deploy": aws_policies.deploy_policy(stack),
        "drift": aws_policies.drift_policy(stack),
        "boundary": aws_policies.boundary_policy(stack.aws_account_id),
    }
    if stack.previewable_from_pull_requests:
        docs["preview"] = aws_policies.preview_policy(stack)
    for label, doc in docs.items():
        findings = [
            (f.issue, f.detail)
            for f in parliament.analyze_policy_string(json.dumps(doc)).findings
            if f.severity in ("MEDIUM", "HIGH", "CRITICAL")
        ]
        assert findings == [], (label, findings)


PRIVILEGES = {(s["prefix"], p["privilege"]): p for s in parliament.iam_definition for p in s["privileges"]}


def test_preview_policies_only_read_by_aws_access_levels():
    (stack,) = example("dev").served
    doc = aws_policies.preview_policy(stack)
    allowed = {a for s in doc["Statement"] if s["Effect"] == "Allow" for a in s["Action"]}
    for action in allowed:
        service, name = action.split(":")
        assert PRIVILEGES[(service, name)]["access_level"] in ("Read", "List"), action
    (deny,) = [s for s in doc["Statement"] if s["Effect"] == "Deny"]
    assert {"secretsmanager:GetSecretValue", "kms:Decrypt"} <= set(deny["Action"]) and deny["Resource"] == "*"


@pytest.mark.parametrize("name", EXAMPLES)
def test_drift_policies_read_and_decrypt_only_through_secrets_manager(name):
    """The drift check writes nothing: every action it is allowed is Read or List by AWS's access levels,
    except kms:Decrypt, which only Secrets Manager may call for it, on this environment's secrets."""
    (stack,) = example(name).served
    doc = aws_policies.drift_policy(stack)
    assert all(s["Effect"] == "Allow" for s in doc["Statement"])
    for statement in doc["Statement"]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        for action in actions:
            service, verb = action.split(":")
            if action == "kms:Decrypt":
                like = statement["Condition"]["StringLike"]
                assert like["kms:ViaService"] == "secretsmanager.eu-west-1.amazonaws.com"
                assert like["kms:EncryptionContext:SecretARN"].endswith(f":secret:makini/{stack.environment}/*")
            else:
                assert PRIVILEGES[(service, verb)]["access_level"] in ("Read", "List"), action
    preview_reads = aws_policies.preview_policy(stack)["Statement"][1:]
    assert doc["Statement"][: len(preview_reads)] == preview_reads


@pytest.mark.parametrize("name", EXAMPLES)
def test_the_offline_plan_of_the_bootstrap_has_the_programs_shape(name, capsys):
    assert plan_main([name, "--program", "bootstrap", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert set(program_plan("dev")) - {"credits", "access_matrix", "rotation", "webhooks", "consumers"} <= set(doc)
    assert {"stack", "environment", "production", "backends", "resources", "outputs", "warnings"} <= set(doc)
    assert doc["production"] == (name == "prod")
    rows = doc["ci_identities"]
    deploy = [r for r in rows if r["identity"] == f"makini-infra-{name}-deploy" and r["cloud"] == "aws"]
    assert len(deploy) == 1 and deploy[0]["claims"]["ref"] == "refs/heads/main"
    assert deploy[0]["claims"]["environment"] == name
    assert any(r["type"] == "aws:iam/role:Role" for r in doc["resources"])


def test_the_text_plan_names_who_may_assume_what(capsys):
    assert plan_main(["dev", "--program", "bootstrap"]) == 0
    out = capsys.readouterr().out
    assert "CI identities" in out and "makini-infra-dev-preview" in out
    assert ".github/workflows/main.yml on a push to main, environment dev" in out


def test_the_azure_deploy_identity_may_assign_exactly_the_roles_the_program_assigns():
    """The RBAC Administrator assignment's condition lists the data-plane roles the staging plan assigns
    (every one of them, so the deploy can succeed) and no privileged role. The condition itself is not
    evaluated here: tests/iam/azure_rbac refuses ABAC conditions rather than guess."""
    from bootstrap import azure_ci
    from stacks.naming import rotator_role_definition_guid
    from tests.program.test_azure_integration import azure_config
    from tests.support import run

    plan = program_plan("staging")
    assigned = {
        r["inputs"]["roleDefinitionId"].rsplit("/", 1)[-1]
        for r in plan["resources"]
        if r["type"] == "azure-native:authorization:RoleAssignment"
    }
    # the staging example has no webhook-queue consumer: a stack that has one assigns Data Receiver
    with_queue_consumer = azure_config()
    with_queue_consumer["makini:consumers"]["orders"]["webhookQueue"] = True
    assigned |= {
        a.plain_inputs["roleDefinitionId"].rsplit("/", 1)[-1]
        for a in run(with_queue_consumer).of_type("azure-native:authorization:RoleAssignment")
    }
    (stack,) = example("staging").served
    roles = azure_ci.assignable_roles(stack, MOCK_SUBSCRIPTION_ID)
    assert assigned == set(roles)  # every one of them is used, and nothing else
    # the custom roles (the rotator's, issue 20; the onboarding identity's, issue 19) are bootstrap's
    assert set(roles) - set(azure_ci.ASSIGNABLE_ROLES) == {
        rotator_role_definition_guid(MOCK_SUBSCRIPTION_ID),
        onboarding_role_guid(MOCK_SUBSCRIPTION_ID, "staging"),
    }
    builtin = json.loads((BOOTSTRAP_DIR.parent / "tests" / "iam" / "azure_builtin_roles.json").read_text())["roles"]
    known = {r["id"].rsplit("/", 1)[-1]: r["roleName"] for r in builtin}
    for guid, name in azure_ci.ASSIGNABLE_ROLES.items():
        assert known.get(guid) == name, guid
    assert "b86a8fe4-44ce-4948-aee5-eccb2c155cd7" not in roles  # Key Vault Secrets Officer: never assigned
    condition = azure_ci.role_assignment_condition(roles)
    for guid in roles:
        assert condition.count(guid) == 2  # write and delete
    owner, uaa = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635", "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9"
    for privileged in (owner, uaa, azure_ci.RBAC_ADMINISTRATOR, azure_ci.CONTRIBUTOR):
        assert privileged not in condition


@pytest.mark.parametrize("name", EXAMPLES)
def test_the_drift_check_may_list_secret_names_and_the_preview_may_not(name):
    """The doctor lists run-time classes' token names with ListSecrets (no resource-level permissions: "*")."""
    from tests.iam.aws_policy import Policy, Request, evaluate

    (stack,) = example(name).served
    role = f"arn:aws:iam::{stack.aws_account_id}:role/x"

    def lists(doc: dict) -> bool:
        request = Request(role, "secretsmanager:ListSecrets", "*")
        return evaluate(request, identity_policies=[Policy.parse(doc, "ci")]).allowed

    assert lists(aws_policies.drift_policy(stack))
    if stack.previewable_from_pull_requests:
        assert not lists(aws_policies.preview_policy(stack))


def test_the_vault_drift_role_reads_what_the_doctor_reads_and_nothing_else():
    """The doctor reads the OAuth client and every connection token (declared, class and run-time ones, which live
    one level deeper: connections/<class>/<key>/token) and lists the run-time classes; never the webhook secret or
    another environment's mount. Decided by the Vault ACL evaluator over the role's own policy."""
    from bootstrap import vault_ci
    from infra.offline import unwrap_secrets
    from tests.iam.vault_acl import Acl

    (stack,) = example("staging").served
    role = vault_ci.drift_role(REPO, REPO_ID, stack, "makini-infra-vault")
    acl = Acl.of(*role.policy_hcl.values())
    src = load_stack_file("staging")
    paths = unwrap_secrets(run_program("staging", src.config, src.secret_keys).outputs)["vaultPaths"]
    tokens = {p for key, p in paths.items() if key.startswith("connections/")}
    assert any(p.count("/") == 5 for p in tokens), "staging has a class token (connections/<class>/<key>/token)"
    for path in [*tokens, paths["oauth/client"], "makini-staging/data/connections/linked/19000207611999/token"]:
        assert acl.allows(path, "read"), path
    assert acl.allows("makini-staging/metadata/connections/linked/", "list")
    for path in [paths["webhook/secret"], "makini-prod/data/connections/acme/token", "makini-staging/data/x/y/z"]:
        assert not acl.allows(path, "read"), path
    for write in ("create", "update", "delete"):
        assert not any(acl.allows(p, write) for p in tokens)
