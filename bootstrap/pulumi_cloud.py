"""Pure specs of the Pulumi Cloud side: which GitHub jobs get which Pulumi token, and the policy group.

State and config secrets of a stack are encrypted by Pulumi Cloud; whoever holds a token with access to
a stack can read its state and decrypt its config. So the tokens are split like the cloud identities
(Pulumi Cloud "OIDC issuers" with authorization policies: a GitHub token whose claims match a policy's
rules is exchanged, by ``pulumi/auth-actions``, for a *team* token; "Teams" and stack permissions):

* team ``makini-infra-<stack>-deploy``: admin on that one stack; issued only to the deploy job of that
  stack (the same exact claims as its cloud identities);
* team ``makini-infra-preview``: read on the non-production stacks previewed from pull requests, and
  on nothing else; issued to the repository's pull-request jobs of ``pr.yml``;
* team ``makini-infra-drift``: read on every stack (the daily ``pulumi preview --refresh`` writes no state);
  issued to ``drift.yml`` on ``main`` (schedule or dispatch) only, one exact policy per event.

No production stack is readable by a token a pull request can obtain. The policy group ``makini-infra``
(preventative) makes Pulumi Cloud run the *published* ``makini-baseline`` pack on every stack of the
project, whatever ``policy/`` a branch carries.
"""

from __future__ import annotations

from dataclasses import dataclass

from .model import Bootstrap, DeliveryStack, deploy_role_name
from .oidc import deploy_requirement, drift_requirement, preview_requirement

PROJECT = "makini-infra"
PREVIEW_TEAM = "makini-infra-preview"
#: Read on every stack, for ``drift.yml`` on ``main`` (``pulumi preview --refresh`` writes no state).
DRIFT_TEAM = "makini-infra-drift"
POLICY_GROUP = "makini-infra"
POLICY_PACK = "makini-baseline"
READ, EDIT, ADMIN = 101, 102, 103


def audience(organization: str) -> str:
    """The audience pulumi/auth-actions requests: ``urn:pulumi:org:<organization>``."""
    return f"urn:pulumi:org:{organization}"


def deploy_team(stack: DeliveryStack) -> str:
    return deploy_role_name(stack.name)


@dataclass(frozen=True)
class TeamPolicy:
    team: str
    rules: dict[str, str]
    #: Stack name -> permission (101 read, 103 admin).
    stacks: dict[str, int]


def team_policies(bootstrap: Bootstrap, organization: str) -> list[TeamPolicy]:
    aud = audience(organization)
    out: list[TeamPolicy] = []
    for stack in bootstrap.all_stacks:
        need = deploy_requirement(bootstrap.repository, bootstrap.repository_id, stack.github_environment, aud)
        out.append(TeamPolicy(deploy_team(stack), dict(need.equals), {stack.name: ADMIN}))
    previewed = {s.name: READ for s in bootstrap.all_stacks if s.previewable_from_pull_requests}
    if previewed:
        need = preview_requirement(bootstrap.repository, bootstrap.repository_id, aud)
        out.append(TeamPolicy(PREVIEW_TEAM, {**need.equals, **need.like}, previewed))
    drift = drift_requirement(bootstrap.repository, bootstrap.repository_id, aud)
    every = {s.name: READ for s in bootstrap.all_stacks}
    # A rule holds one value per claim: one policy per event (and its subject), the same team.
    for subject, event in zip(drift.any_of["sub"], drift.any_of["event_name"], strict=True):
        out.append(TeamPolicy(DRIFT_TEAM, {**drift.equals, "sub": subject, "event_name": event}, every))
    return out
