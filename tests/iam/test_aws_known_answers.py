"""Known answers for the AWS evaluator, taken from AWS's published examples (not from our code).

Every test quotes its source: the page (``IAM/`` is https://docs.aws.amazon.com/IAM/latest/UserGuide/,
``KMS/`` is https://docs.aws.amazon.com/kms/latest/developerguide/, ``SM/`` is
https://docs.aws.amazon.com/secretsmanager/latest/userguide/) and the section, and uses the page's own
policy documents and the outcome the page states. Where a page states an outcome in words ("the operation
fails"), the words are quoted next to the assertion.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.iam.aws_policy import Outcome, Policy, PolicyError, Request, evaluate

ALLOW, EXPLICIT, IMPLICIT = Outcome.ALLOW, Outcome.EXPLICIT_DENY, Outcome.IMPLICIT_DENY


def outcome(request: Request, **policies: Any) -> Outcome:
    return evaluate(request, **policies).outcome


def allow_everywhere(action: str) -> dict[str, Any]:
    """An identity policy allowing ``action`` on every resource (the "another policy allows it" of the pages)."""
    return {"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": action, "Resource": "*"}}


# --------------------------------------------------------------------------------------------------
# IAM/reference_policies_evaluation-logic.html, "Example identity-based and resource-based policy evaluation"

CARLOS = "arn:aws:iam::123456789012:user/carlossalazar"
CARLOS_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "AllowS3ListRead",
            "Effect": "Allow",
            "Action": [
                "s3:GetBucketLocation",
                "s3:GetAccountPublicAccessBlock",
                "s3:ListAccessPoints",
                "s3:ListAllMyBuckets",
            ],
            "Resource": "arn:aws:s3:::*",
        },
        {
            "Sid": "AllowS3Self",
            "Effect": "Allow",
            "Action": "s3:*",
            "Resource": ["arn:aws:s3:::carlossalazar/*", "arn:aws:s3:::carlossalazar"],
        },
        {"Sid": "DenyS3Logs", "Effect": "Deny", "Action": "s3:*", "Resource": "arn:aws:s3:::*log*"},
    ],
}
CARLOS_BUCKET_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::123456789012:user/carlossalazar"},
            "Action": "s3:*",
            "Resource": ["arn:aws:s3:::carlossalazar/*", "arn:aws:s3:::carlossalazar"],
        }
    ],
}


def test_same_account_explicit_deny_in_identity_policy_wins():
    """ "AWS first checks for a Deny statement ... It finds one ... Carlos is denied access."""
    d = evaluate(
        Request(CARLOS, "s3:PutObject", "arn:aws:s3:::carlossalazar-logs/report.txt", resource_account="123456789012"),
        identity_policies=[CARLOS_POLICY],
        resource_policy=CARLOS_BUCKET_POLICY,
    )
    assert d.outcome is EXPLICIT and "DenyS3Logs" in d.reason


def test_same_account_both_allow_then_either_alone_is_enough():
    """ "Both the identity-based policy and the resource-based policy allow the request ... If one of the
    policy types allows the request and the other doesn't, the request is still allowed."""
    request = Request(CARLOS, "s3:PutObject", "arn:aws:s3:::carlossalazar/report.txt", resource_account="123456789012")
    assert outcome(request, identity_policies=[CARLOS_POLICY], resource_policy=CARLOS_BUCKET_POLICY) is ALLOW
    assert outcome(request, identity_policies=[CARLOS_POLICY]) is ALLOW
    assert outcome(request, resource_policy=CARLOS_BUCKET_POLICY) is ALLOW
    assert outcome(request) is IMPLICIT


# IAM/reference_policies_evaluation-logic.html, "The difference between explicit and implicit denies"
GET_LIST_DENY_REPORTS = {
    "Version": "2012-10-17",
    "Statement": [
        {"Sid": "AllowGetList", "Effect": "Allow", "Action": ["iam:Get*", "iam:List*"], "Resource": "*"},
        {"Sid": "DenyReports", "Effect": "Deny", "Action": "iam:*Report", "Resource": "*"},
    ],
}


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        ("iam:GetUser", ALLOW),  # "allows read-only access to IAM actions that begin with ... Get and List"
        ("iam:ListRoles", ALLOW),
        ("iam:CreatePolicy", IMPLICIT),  # "All other actions in IAM, such as iam:CreatePolicy are implicitly denied"
        (
            "iam:GetOrganizationsAccessReport",
            EXPLICIT,
        ),  # "explicitly denies ... such as iam:GetOrganizationsAccessReport"
    ],
)
def test_implicit_and_explicit_denies(action, expected):
    request = Request("arn:aws:iam::123456789012:user/alice", action, "*")
    assert outcome(request, identity_policies=[GET_LIST_DENY_REPORTS]) is expected


def test_another_policy_cannot_lift_an_explicit_deny():
    """ "If someone adds another policy ... such as iam:GenerateCredentialReport, report-related requests
    are still denied because of this explicit deny." """
    more = allow_everywhere("iam:*")
    request = Request("arn:aws:iam::123456789012:user/alice", "iam:GenerateCredentialReport", "*")
    assert outcome(request, identity_policies=[GET_LIST_DENY_REPORTS, more]) is EXPLICIT


# --------------------------------------------------------------------------------------------------
# IAM/reference_policies_evaluation-logic-cross-account.html, "Example cross-account policy evaluation"

CARLOS_111 = "arn:aws:iam::111111111111:user/carlossalazar"
CARLOS_CROSS_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Sid": "AllowS3ListRead", "Effect": "Allow", "Action": "s3:ListAllMyBuckets", "Resource": "*"},
        {
            "Sid": "AllowS3ProductionObjectActions",
            "Effect": "Allow",
            "Action": "s3:*Object*",
            "Resource": "arn:aws:s3:::Production/*",
        },
        {
            "Sid": "DenyS3Logs",
            "Effect": "Deny",
            "Action": "s3:*",
            "Resource": ["arn:aws:s3:::*log*", "arn:aws:s3:::*log*/*"],
        },
    ],
}
PRODUCTION_BUCKET_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": ["s3:GetObject*", "s3:PutObject*", "s3:ReplicateObject", "s3:RestoreObject"],
            "Principal": {"AWS": "arn:aws:iam::111111111111:user/carlossalazar"},
            "Resource": "arn:aws:s3:::Production/*",
        }
    ],
}


def test_cross_account_needs_both_sides():
    """ "Because both accounts allow the request, the final decision is to allow the request." And the
    page's rule: "The request is allowed only if both evaluations return a decision of Allow." """
    put = Request(CARLOS_111, "s3:PutObject", "arn:aws:s3:::Production/file.txt", resource_account="222222222222")
    assert outcome(put, identity_policies=[CARLOS_CROSS_POLICY], resource_policy=PRODUCTION_BUCKET_POLICY) is ALLOW
    assert outcome(put, resource_policy=PRODUCTION_BUCKET_POLICY) is IMPLICIT
    assert outcome(put, identity_policies=[CARLOS_CROSS_POLICY]) is IMPLICIT
    # "He can create and edit, but not delete the objects in the bucket."
    delete = Request(CARLOS_111, "s3:DeleteObject", "arn:aws:s3:::Production/f", resource_account="222222222222")
    assert (
        outcome(delete, identity_policies=[CARLOS_CROSS_POLICY], resource_policy=PRODUCTION_BUCKET_POLICY) is IMPLICIT
    )


def test_cross_account_explicit_deny_in_the_trusted_account():
    """ "the request is explicitly denied within one of the accounts, the final decision is to deny" """
    put = Request(CARLOS_111, "s3:PutObject", "arn:aws:s3:::Production-logs/f", resource_account="222222222222")
    assert outcome(put, identity_policies=[CARLOS_CROSS_POLICY]) is EXPLICIT


# --------------------------------------------------------------------------------------------------
# IAM/access_policies_boundaries.html

SHIRLEY = "arn:aws:iam::123456789012:user/ShirleyRodriguez"
SHIRLEY_BOUNDARY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": ["s3:*", "cloudwatch:*", "ec2:*"], "Resource": "*"}],
}
CREATE_USER = {"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "iam:CreateUser", "Resource": "*"}}


def test_boundary_limits_identity_policy():
    """Top of the page: "If you attach this permissions policy to the ShirleyRodriguez user, and Shirley
    tries to create a user, the operation fails ... because the permissions boundary does not allow
    the iam:CreateUser operation." And "it limits the user's permissions but does not provide
    permissions on its own"."""
    create = Request(SHIRLEY, "iam:CreateUser", "arn:aws:iam::123456789012:user/new")
    assert outcome(create, identity_policies=[CREATE_USER]) is ALLOW
    d = evaluate(create, identity_policies=[CREATE_USER], boundary=SHIRLEY_BOUNDARY)
    assert d.outcome is IMPLICIT and "boundary" in d.reason
    s3 = Request(SHIRLEY, "s3:GetObject", "arn:aws:s3:::b/k")
    assert outcome(s3, boundary=SHIRLEY_BOUNDARY) is IMPLICIT


X_COMPANY_BOUNDARIES = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "ServiceBoundaries",
            "Effect": "Allow",
            "Action": ["s3:*", "cloudwatch:*", "ec2:*", "dynamodb:*"],
            "Resource": "*",
        },
        {
            "Sid": "AllowIAMConsoleForCredentials",
            "Effect": "Allow",
            "Action": ["iam:ListUsers", "iam:GetAccountPasswordPolicy"],
            "Resource": "*",
        },
        {
            "Sid": "AllowManageOwnPasswordAndAccessKeys",
            "Effect": "Allow",
            "Action": [
                "iam:*AccessKey*",
                "iam:ChangePassword",
                "iam:GetUser",
                "iam:*ServiceSpecificCredential*",
                "iam:*SigningCertificate*",
            ],
            "Resource": ["arn:aws:iam::*:user/${aws:username}"],
        },
        {
            "Sid": "DenyS3Logs",
            "Effect": "Deny",
            "Action": "s3:*",
            "Resource": ["arn:aws:s3:::logs", "arn:aws:s3:::logs/*"],
        },
        {
            "Sid": "DenyEC2Production",
            "Effect": "Deny",
            "Action": "ec2:*",
            "Resource": "arn:aws:ec2:*:*:instance/i-1234567890abcdef0",
        },
    ],
}
DELEGATED_USER_BOUNDARY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "CreateOrChangeOnlyWithBoundary",
            "Effect": "Allow",
            "Action": [
                "iam:AttachUserPolicy",
                "iam:CreateUser",
                "iam:DeleteUserPolicy",
                "iam:DetachUserPolicy",
                "iam:PutUserPermissionsBoundary",
                "iam:PutUserPolicy",
            ],
            "Resource": "*",
            "Condition": {
                "StringEquals": {"iam:PermissionsBoundary": "arn:aws:iam::123456789012:policy/XCompanyBoundaries"}
            },
        },
        {
            "Sid": "CloudWatchAndOtherIAMTasks",
            "Effect": "Allow",
            "Action": [
                "cloudwatch:*",
                "iam:CreateAccessKey",
                "iam:CreateGroup",
                "iam:CreateLoginProfile",
                "iam:CreatePolicy",
                "iam:DeleteGroup",
                "iam:DeletePolicy",
                "iam:DeletePolicyVersion",
                "iam:DeleteUser",
                "iam:GetAccountPasswordPolicy",
                "iam:GetGroup",
                "iam:GetLoginProfile",
                "iam:GetPolicy",
                "iam:GetPolicyVersion",
                "iam:GetRolePolicy",
                "iam:GetUser",
                "iam:GetUserPolicy",
                "iam:ListAccessKeys",
                "iam:ListAttachedRolePolicies",
                "iam:ListAttachedUserPolicies",
                "iam:ListEntitiesForPolicy",
                "iam:ListGroups",
                "iam:ListGroupsForUser",
                "iam:ListMFADevices",
                "iam:ListPolicies",
                "iam:ListPolicyVersions",
                "iam:ListRolePolicies",
                "iam:ListSSHPublicKeys",
                "iam:ListServiceSpecificCredentials",
                "iam:ListSigningCertificates",
                "iam:ListUserPolicies",
                "iam:ListUsers",
                "iam:SetDefaultPolicyVersion",
                "iam:SimulateCustomPolicy",
                "iam:SimulatePrincipalPolicy",
                "iam:UpdateGroup",
                "iam:UpdateLoginProfile",
                "iam:UpdateUser",
            ],
            "NotResource": "arn:aws:iam::123456789012:user/Maria",
        },
        {
            "Sid": "NoBoundaryPolicyEdit",
            "Effect": "Deny",
            "Action": [
                "iam:CreatePolicyVersion",
                "iam:DeletePolicy",
                "iam:DeletePolicyVersion",
                "iam:SetDefaultPolicyVersion",
            ],
            "Resource": [
                "arn:aws:iam::123456789012:policy/XCompanyBoundaries",
                "arn:aws:iam::123456789012:policy/DelegatedUserBoundary",
            ],
        },
        {
            "Sid": "NoBoundaryUserDelete",
            "Effect": "Deny",
            "Action": "iam:DeleteUserPermissionsBoundary",
            "Resource": "*",
        },
    ],
}
DELEGATED_USER_PERMISSIONS = {
    "Version": "2012-10-17",
    "Statement": [
        {"Sid": "IAM", "Effect": "Allow", "Action": "iam:*", "Resource": "*"},
        {
            "Sid": "CloudWatchLimited",
            "Effect": "Allow",
            "Action": [
                "cloudwatch:GetDashboard",
                "cloudwatch:GetMetricData",
                "cloudwatch:ListDashboards",
                "cloudwatch:GetMetricStatistics",
                "cloudwatch:ListMetrics",
            ],
            "Resource": "*",
        },
        {
            "Sid": "S3BucketContents",
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": "arn:aws:s3:::ZhangBucket",
        },
    ],
}
ZHANG = "arn:aws:iam::123456789012:user/Zhang"


def zhang(action: str, resource: str = "*", **context: str) -> Outcome:
    return outcome(
        Request(ZHANG, action, resource, context=context),
        identity_policies=[DELEGATED_USER_PERMISSIONS],
        boundary=DELEGATED_USER_BOUNDARY,
    )


def test_delegated_admin_creates_users_only_with_the_boundary():
    """Task 4: without the boundary "The operation fails and access is denied"; with it "The user is
    created"."""
    assert zhang("iam:CreateUser", "arn:aws:iam::123456789012:user/Nikhil") is IMPLICIT
    boundary = "arn:aws:iam::123456789012:policy/XCompanyBoundaries"
    assert (
        zhang("iam:CreateUser", "arn:aws:iam::123456789012:user/Nikhil", **{"iam:PermissionsBoundary": boundary})
        is ALLOW
    )
    assert (
        zhang("iam:CreateUser", "*", **{"iam:PermissionsBoundary": "arn:aws:iam::123456789012:policy/Other"})
        is IMPLICIT
    )


def test_delegated_admin_intersection_and_denies():
    """Task 2/3: "his effective IAM permissions are limited only by his permissions boundary"; "his
    effective CloudWatch permissions are limited only by his permissions policy"; "he cannot perform any
    S3 operations"; NoBoundaryPolicyEdit and NoBoundaryUserDelete deny; NotResource keeps Maria out."""
    assert zhang("cloudwatch:GetDashboard") is ALLOW
    assert zhang("cloudwatch:PutDashboard") is IMPLICIT  # boundary allows cloudwatch:*, his policy does not
    assert zhang("s3:ListBucket", "arn:aws:s3:::ZhangBucket") is IMPLICIT
    assert zhang("iam:AttachRolePolicy", "arn:aws:iam::123456789012:role/r") is IMPLICIT  # not in the boundary
    assert zhang("iam:DeleteUserPermissionsBoundary", "arn:aws:iam::123456789012:user/Nikhil") is EXPLICIT
    assert zhang("iam:CreatePolicyVersion", "arn:aws:iam::123456789012:policy/XCompanyBoundaries") is EXPLICIT
    assert zhang("iam:CreatePolicyVersion", "arn:aws:iam::123456789012:policy/Other") is IMPLICIT
    assert zhang("iam:CreateAccessKey", "arn:aws:iam::123456789012:user/Nikhil") is ALLOW
    assert zhang("iam:CreateAccessKey", "arn:aws:iam::123456789012:user/Maria") is IMPLICIT


NIKHIL = "arn:aws:iam::123456789012:user/Nikhil"
#: Stand-in for the managed IAMFullAccess policy Zhang attaches (the page only relies on it allowing iam:*).
IAM_FULL = {"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "iam:*", "Resource": "*"}}


def test_boundary_with_policy_variable_and_its_resource_policy_nuances():
    """Task 4, last paragraphs: Nikhil "can change his own password in IAM but can't create another user";
    a bucket policy on logs "he still cannot access the bucket" (explicit deny in his boundary); but "if a
    resource-based policy attached to a Secrets Manager secret allows Nikhil ... GetSecretValue ... Nikhil
    can retrieve" it: an implicit deny in a boundary does not limit a resource policy naming the user."""

    def nikhil(action: str, resource: str, resource_policy: dict | None = None) -> Outcome:
        return outcome(
            Request(NIKHIL, action, resource, resource_account="123456789012"),
            identity_policies=[IAM_FULL],
            boundary=X_COMPANY_BOUNDARIES,
            resource_policy=resource_policy,
        )

    assert nikhil("iam:ChangePassword", "arn:aws:iam::123456789012:user/Nikhil") is ALLOW
    assert nikhil("iam:ChangePassword", "arn:aws:iam::123456789012:user/Maria") is IMPLICIT
    assert nikhil("iam:CreateUser", "arn:aws:iam::123456789012:user/other") is IMPLICIT
    logs_policy = {
        "Version": "2012-10-17",
        "Statement": {"Effect": "Allow", "Principal": {"AWS": NIKHIL}, "Action": "s3:PutObject", "Resource": "*"},
    }
    assert nikhil("s3:PutObject", "arn:aws:s3:::logs/x", logs_policy) is EXPLICIT
    secret = "arn:aws:secretsmanager:us-east-1:123456789012:secret:app-AbCdEf"
    secret_policy = {
        "Version": "2012-10-17",
        "Statement": {
            "Effect": "Allow",
            "Principal": {"AWS": NIKHIL},
            "Action": "secretsmanager:GetSecretValue",
            "Resource": "*",
        },
    }
    assert nikhil("secretsmanager:GetSecretValue", secret) is IMPLICIT
    assert nikhil("secretsmanager:GetSecretValue", secret, secret_policy) is ALLOW


def test_resource_policy_grants_to_role_vs_session():
    """Same page, "Resource-based policies for IAM roles": a grant to the role ARN "is limited by an
    implicit deny in a permissions boundary"; a grant to the role session ARN is "not limited by an
    implicit deny in an identity-based policy, a permissions boundary, or session policy"."""
    role = "arn:aws:iam::123456789012:role/examplerole"
    session = "arn:aws:sts::123456789012:assumed-role/examplerole/examplerolesessionname"
    secret = "arn:aws:secretsmanager:us-east-1:123456789012:secret:app-AbCdEf"

    def grant(principal: str) -> dict:
        return {
            "Version": "2012-10-17",
            "Statement": {
                "Effect": "Allow",
                "Principal": {"AWS": principal},
                "Action": "secretsmanager:GetSecretValue",
                "Resource": "*",
            },
        }

    request = Request(session, "secretsmanager:GetSecretValue", secret)
    assert outcome(request, resource_policy=grant(role)) is ALLOW  # no boundary: the role grant stands
    assert outcome(request, resource_policy=grant(role), boundary=SHIRLEY_BOUNDARY) is IMPLICIT
    assert outcome(request, resource_policy=grant(session), boundary=SHIRLEY_BOUNDARY) is ALLOW
    other_session = Request(role, "secretsmanager:GetSecretValue", secret, session_name="another")
    assert outcome(other_session, resource_policy=grant(session)) is IMPLICIT


# --------------------------------------------------------------------------------------------------
# IAM/reference_policies_elements_condition_operators.html

USER = "arn:aws:iam::123456789012:user/David"


def _stmt(condition: dict, action: str = "iam:*AccessKey*", resource: str = "arn:aws:iam::123456789012:user/*"):
    return {
        "Version": "2012-10-17",
        "Statement": {"Effect": "Allow", "Action": action, "Resource": resource, "Condition": condition},
    }


def test_string_equals_on_a_principal_tag():
    """String condition operators: "If a user without the tag attempts to view or edit an access key, the
    condition returns false and the request is implicitly denied". StringEquals is "case sensitive"."""
    policy = _stmt({"StringEquals": {"aws:PrincipalTag/job-category": "iamuser-admin"}})
    target = "arn:aws:iam::123456789012:user/Bob"
    tagged = Request(USER, "iam:CreateAccessKey", target, principal_tags={"job-category": "iamuser-admin"})
    assert outcome(tagged, identity_policies=[policy]) is ALLOW
    assert outcome(Request(USER, "iam:CreateAccessKey", target), identity_policies=[policy]) is IMPLICIT
    other_case = Request(USER, "iam:CreateAccessKey", target, principal_tags={"job-category": "IAMUSER-ADMIN"})
    assert outcome(other_case, identity_policies=[policy]) is IMPLICIT


HOME_DIRECTORY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": ["s3:ListAllMyBuckets", "s3:GetBucketLocation"], "Resource": "arn:aws:s3:::*"},
        {
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": "arn:aws:s3:::BUCKET-NAME",
            "Condition": {"StringLike": {"s3:prefix": ["", "home/", "home/${aws:username}/"]}},
        },
        {
            "Effect": "Allow",
            "Action": "s3:*",
            "Resource": [
                "arn:aws:s3:::BUCKET-NAME/home/${aws:username}",
                "arn:aws:s3:::BUCKET-NAME/home/${aws:username}/*",
            ],
        },
    ],
}


@pytest.mark.parametrize(
    ("action", "resource", "prefix", "expected"),
    [
        ("s3:ListBucket", "arn:aws:s3:::BUCKET-NAME", "", ALLOW),
        ("s3:ListBucket", "arn:aws:s3:::BUCKET-NAME", "home/", ALLOW),
        ("s3:ListBucket", "arn:aws:s3:::BUCKET-NAME", "home/David/", ALLOW),
        ("s3:ListBucket", "arn:aws:s3:::BUCKET-NAME", "home/Bob/", IMPLICIT),
        ("s3:GetObject", "arn:aws:s3:::BUCKET-NAME/home/David/notes.txt", None, ALLOW),
        ("s3:GetObject", "arn:aws:s3:::BUCKET-NAME/home/Bob/notes.txt", None, IMPLICIT),
    ],
)
def test_string_like_with_a_policy_variable_home_directory(action, resource, prefix, expected):
    """String condition operators: the "home directory" policy: "allows the specified actions on an S3
    bucket as long as the s3:prefix matches any one of the specified patterns"."""
    context = {} if prefix is None else {"s3:prefix": prefix}
    request = Request(USER, action, resource, context=context, resource_account="123456789012")
    assert outcome(request, identity_policies=[HOME_DIRECTORY]) is expected


def test_numeric_less_than_equals():
    """Numeric condition operators: "list up to 10 objects"; a missing key does not match."""
    policy = _stmt(
        {"NumericLessThanEquals": {"s3:max-keys": "10"}}, action="s3:ListBucket", resource="arn:aws:s3:::example_bucket"
    )
    for keys, expected in (("10", ALLOW), ("3", ALLOW), ("11", IMPLICIT)):
        request = Request(USER, "s3:ListBucket", "arn:aws:s3:::example_bucket", context={"s3:max-keys": keys})
        assert outcome(request, identity_policies=[policy]) is expected, keys
    assert (
        outcome(Request(USER, "s3:ListBucket", "arn:aws:s3:::example_bucket"), identity_policies=[policy]) is IMPLICIT
    )


def test_date_greater_than_token_issue_time():
    """Date condition operators: credentials "issued in 2020" match; "if an IAM user attempts ... the
    request is denied" (no aws:TokenIssueTime with access keys)."""
    policy = _stmt({"DateGreaterThan": {"aws:TokenIssueTime": "2020-01-01T00:00:01Z"}})
    target = "arn:aws:iam::123456789012:user/Bob"
    fresh = Request(USER, "iam:CreateAccessKey", target, context={"aws:TokenIssueTime": "2020-06-01T12:00:00Z"})
    stale = Request(USER, "iam:CreateAccessKey", target, context={"aws:TokenIssueTime": "2019-12-31T23:59:59Z"})
    epoch = Request(USER, "iam:CreateAccessKey", target, context={"aws:TokenIssueTime": "1600000000"})
    assert outcome(fresh, identity_policies=[policy]) is ALLOW
    assert outcome(epoch, identity_policies=[policy]) is ALLOW
    assert outcome(stale, identity_policies=[policy]) is IMPLICIT
    assert outcome(Request(USER, "iam:CreateAccessKey", target), identity_policies=[policy]) is IMPLICIT


def test_bool_secure_transport_deny():
    """Boolean condition operators: "deny all S3 actions on a bucket and its contents if the request is not
    over SSL"."""
    deny = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "BooleanExample",
                "Action": "s3:*",
                "Effect": "Deny",
                "Resource": ["arn:aws:s3:::DOC-EXAMPLE-BUCKET", "arn:aws:s3:::DOC-EXAMPLE-BUCKET/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
    }
    allow = allow_everywhere("s3:*")
    obj = "arn:aws:s3:::DOC-EXAMPLE-BUCKET/k"
    assert outcome(Request(USER, "s3:GetObject", obj), identity_policies=[deny, allow]) is ALLOW
    plain = Request(USER, "s3:GetObject", obj, secure_transport=False)
    assert outcome(plain, identity_policies=[deny, allow]) is EXPLICIT


def test_ip_address_v4_and_v6():
    """IP address condition operators: 203.0.113.0/24 "the IP range 203.0.113.0 to 203.0.113.255", mixed
    with 2001:DB8:1234:5678::/64; a missing aws:SourceIp (a VPC endpoint) "returns false"."""
    policy = _stmt({"IpAddress": {"aws:SourceIp": ["203.0.113.0/24", "2001:DB8:1234:5678::/64"]}})
    target = "arn:aws:iam::123456789012:user/Bob"
    for ip, expected in (("203.0.113.255", ALLOW), ("203.0.114.1", IMPLICIT), ("2001:db8:1234:5678::9", ALLOW)):
        request = Request(USER, "iam:CreateAccessKey", target, context={"aws:SourceIp": ip})
        assert outcome(request, identity_policies=[policy]) is expected, ip
    assert outcome(Request(USER, "iam:CreateAccessKey", target), identity_policies=[policy]) is IMPLICIT
    not_ip = _stmt({"NotIpAddress": {"aws:SourceIp": "203.0.113.0/24"}})
    request = Request(USER, "iam:CreateAccessKey", target, context={"aws:SourceIp": "198.51.100.7"})
    assert outcome(request, identity_policies=[not_ip]) is ALLOW


def test_arn_like_matches_per_segment_but_string_like_does_not():
    """ARN condition operators: for value
    arn:aws:someservice:us-east-2:999999999999:store/abc:111122223333:finance/document.txt
    and pattern arn:aws:someservice:*:111122223333:finance/*: "With a StringLike condition, the match
    succeeds ... With an ArnLike condition ... the match fails"."""
    value = "arn:aws:someservice:us-east-2:999999999999:store/abc:111122223333:finance/document.txt"
    pattern = "arn:aws:someservice:*:111122223333:finance/*"
    request = Request(USER, "someservice:Do", "*", context={"aws:SourceArn": value})
    string_like = _stmt({"StringLike": {"aws:SourceArn": pattern}}, action="someservice:*", resource="*")
    arn_like = _stmt({"ArnLike": {"aws:SourceArn": pattern}}, action="someservice:*", resource="*")
    assert outcome(request, identity_policies=[string_like]) is ALLOW
    assert outcome(request, identity_policies=[arn_like]) is IMPLICIT


def test_if_exists():
    """...IfExists condition operators: "THISPOLICYDOESNOTWORK" because "These additional resources do not
    have the ec2:InstanceType condition key"; with StringLikeIfExists "If the resource being checked does
    not have that condition key, then don't worry about it"."""
    types = ["t1.*", "t2.*", "m3.*"]
    broken = _stmt({"StringLike": {"ec2:InstanceType": types}}, action="ec2:RunInstances", resource="*")
    fixed = _stmt({"StringLikeIfExists": {"ec2:InstanceType": types}}, action="ec2:RunInstances", resource="*")
    image = Request(USER, "ec2:RunInstances", "arn:aws:ec2:us-east-1::image/ami-1")
    t2 = Request(
        USER,
        "ec2:RunInstances",
        "arn:aws:ec2:us-east-1:123456789012:instance/*",
        context={"ec2:InstanceType": "t2.micro"},
    )
    m5 = Request(
        USER,
        "ec2:RunInstances",
        "arn:aws:ec2:us-east-1:123456789012:instance/*",
        context={"ec2:InstanceType": "m5.large"},
    )
    assert outcome(image, identity_policies=[broken]) is IMPLICIT
    assert outcome(image, identity_policies=[fixed]) is ALLOW
    assert outcome(t2, identity_policies=[fixed]) is ALLOW
    assert outcome(m5, identity_policies=[fixed]) is IMPLICIT


def test_null_condition():
    """Condition operator to check existence: "the user must not be using temporary credentials (the key
    must not exist) for the user to use the Amazon EC2 API"."""
    policy = {
        "Version": "2012-10-17",
        "Statement": {
            "Action": "ec2:*",
            "Effect": "Allow",
            "Resource": "*",
            "Condition": {"Null": {"aws:TokenIssueTime": "true"}},
        },
    }
    assert outcome(Request(USER, "ec2:DescribeInstances"), identity_policies=[policy]) is ALLOW
    temporary = Request(USER, "ec2:DescribeInstances", context={"aws:TokenIssueTime": "2024-01-01T00:00:00Z"})
    assert outcome(temporary, identity_policies=[policy]) is IMPLICIT


@pytest.mark.parametrize(
    ("operator", "expected"),
    [
        ("StringEquals", IMPLICIT),
        ("StringLike", IMPLICIT),
        ("ArnLike", IMPLICIT),
        ("StringNotLike", ALLOW),
        ("ArnNotLike", ALLOW),
        ("StringNotEquals", ALLOW),
    ],
)
def test_missing_key_is_false_except_for_negated_operators(operator, expected):
    """Top of the page, Important: "If the key that you specify in a policy condition is not present in the
    request context, the values do not match and the condition is false. If the policy condition requires
    that the key is not matched, such as StringNotLike or ArnNotLike, and the right key is not present,
    the condition is true." """
    policy = _stmt(
        {operator: {"aws:SourceArn": "arn:aws:sns:us-east-1:123456789012:topic"}}, action="sqs:*", resource="*"
    )
    assert outcome(Request(USER, "sqs:SendMessage"), identity_policies=[policy]) is expected


def test_condition_key_names_are_case_insensitive_values_follow_the_operator():
    """IAM/reference_policies_elements_condition.html: "Condition key names are not case-sensitive ...
    only requests made by johndoe match. Users named JohnDoe are denied"; StringEqualsIgnoreCase matches
    both."""
    exact = _stmt({"StringEquals": {"AWS:UserName": "johndoe"}}, action="s3:*", resource="*")
    either = _stmt({"StringEqualsIgnoreCase": {"aws:username": "johndoe"}}, action="s3:*", resource="*")
    for name, exact_expected in (("johndoe", ALLOW), ("JohnDoe", IMPLICIT)):
        request = Request(f"arn:aws:iam::123456789012:user/{name}", "s3:ListBucket", "arn:aws:s3:::b")
        assert outcome(request, identity_policies=[exact]) is exact_expected
        assert outcome(request, identity_policies=[either]) is ALLOW


# --------------------------------------------------------------------------------------------------
# IAM/reference_policies_multi-value-conditions.html


def test_multiple_operators_and_keys_are_anded_values_ored():
    """ "Evaluation logic for conditions with multiple keys or values": "The user making the request must
    have both principal tag keys, department and role, that include one of the tag key values specified
    ... Also, the user making the request must belong to the AWS account identifier specified"."""
    policy = _stmt(
        {
            "StringEqualsIgnoreCase": {
                "aws:PrincipalTag/department": ["finance", "hr", "legal"],
                "aws:PrincipalTag/role": ["audit", "security"],
            },
            "StringEquals": {"aws:PrincipalAccount": "123456789012"},
        },
        action="s3:*",
        resource="*",
    )

    def check(principal: str, tags: dict[str, str]) -> Outcome:
        return outcome(
            Request(principal, "s3:GetObject", "arn:aws:s3:::b/k", principal_tags=tags), identity_policies=[policy]
        )

    assert check(USER, {"department": "HR", "role": "Audit"}) is ALLOW
    assert check(USER, {"department": "HR"}) is IMPLICIT
    assert check(USER, {"department": "sales", "role": "audit"}) is IMPLICIT
    assert check("arn:aws:iam::999999999999:user/David", {"department": "HR", "role": "audit"}) is IMPLICIT


def test_negated_operator_with_several_values_works_like_and():
    """Note in the same section: "if there are multiple aws:PrincipalAccount values in a StringNotEquals
    condition operator, the string cannot match any of the aws:PrincipalAccount values listed"."""
    policy = _stmt({"StringNotEquals": {"aws:PrincipalAccount": ["111111111111", "222222222222"]}}, "s3:*", "*")
    for account, expected in (("111111111111", IMPLICIT), ("222222222222", IMPLICIT), ("333333333333", ALLOW)):
        request = Request(f"arn:aws:iam::{account}:user/u", "s3:GetObject", "arn:aws:s3:::b/k")
        assert outcome(request, identity_policies=[policy]) is expected


THREAD = "arn:aws:dynamodb:us-east-1:123456789012:table/Thread"
FOR_ALL_VALUES = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": "dynamodb:GetItem",
            "Resource": "arn:aws:dynamodb:*:*:table/Thread",
            "Condition": {"ForAllValues:StringEquals": {"dynamodb:Attributes": ["ID", "Message", "Tags"]}},
        }
    ],
}
FOR_ANY_VALUE_DENY = {
    "Version": "2012-10-17",
    "Statement": {
        "Effect": "Deny",
        "Action": "dynamodb:PutItem",
        "Resource": "arn:aws:dynamodb:*:*:table/Thread",
        "Condition": {"ForAnyValue:StringEquals": {"dynamodb:Attributes": ["ID", "PostDateTime"]}},
    },
}


@pytest.mark.parametrize(
    ("attributes", "expected"),
    [
        (["Message", "Tags"], ALLOW),  # "the request is allowed because the user's requested attributes all match"
        (["ID", "Message", "Tags"], ALLOW),
        (
            ["Message", "Tags", "UserName"],
            IMPLICIT,
        ),  # "if the user's request includes the UserName attribute, the request fails"
        (None, ALLOW),  # Warning: ForAllValues "returns true if there are no keys in the request"
        (
            [],
            ALLOW,
        ),  # Note: "If the key values in the request resolve to an empty data set ... ForAllValues returns true"
    ],
)
def test_for_all_values(attributes, expected):
    """ "Examples of using multiple values with condition set operators", ForAllValues:StringEquals."""
    context = {} if attributes is None else {"dynamodb:Attributes": attributes}
    assert (
        outcome(Request(USER, "dynamodb:GetItem", THREAD, context=context), identity_policies=[FOR_ALL_VALUES])
        is expected
    )


@pytest.mark.parametrize(
    ("attributes", "expected"),
    [
        (["PostDateTime", "Message"], EXPLICIT),  # "there is one match (PostDateTime) ... the request is denied"
        (["UserName"], ALLOW),  # "The condition returns false ... the request is not denied by this policy"
        (["UserName", "Message", "PostDateTime"], EXPLICIT),  # the evaluation-logic table's last row is True
        (None, ALLOW),  # ForAnyValue: "For no matching key or a null dataset, the condition returns false"
        ([], ALLOW),
    ],
)
def test_for_any_value_deny(attributes, expected):
    """Same page, ForAnyValue:StringEquals with Deny (an Allow for PutItem added so "not denied" shows)."""
    allow = allow_everywhere("dynamodb:*")
    context = {} if attributes is None else {"dynamodb:Attributes": attributes}
    request = Request(USER, "dynamodb:PutItem", THREAD, context=context)
    assert outcome(request, identity_policies=[FOR_ANY_VALUE_DENY, allow]) is expected


def test_for_all_values_evaluation_table():
    """ "Evaluation logic for multiple values with condition set operators": request PostDateTime and
    UserName against PostDateTime, Message, Tags: "There's no match for UserName, so the condition
    operator returns false, and the policy does not allow the request"."""
    policy = {
        "Version": "2012-10-17",
        "Statement": {
            "Effect": "Allow",
            "Action": "dynamodb:GetItem",
            "Resource": "arn:aws:dynamodb:*:*:table/Thread",
            "Condition": {"ForAllValues:StringEquals": {"dynamodb:Attributes": ["PostDateTime", "Message", "Tags"]}},
        },
    }
    request = Request(USER, "dynamodb:GetItem", THREAD, context={"dynamodb:Attributes": ["PostDateTime", "UserName"]})
    assert outcome(request, identity_policies=[policy]) is IMPLICIT


DENY_UNLESS_KEY1 = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "DenyRestrictedTags",
            "Effect": "Deny",
            "Action": ["iam:Tag*", "iam:UnTag*"],
            "Resource": ["*"],
            "Condition": {"ForAllValues:StringNotLike": {"aws:TagKeys": "key1*"}},
        }
    ],
}


@pytest.mark.parametrize(
    ("tag_keys", "expected"),
    [
        (["key1:legal"], ALLOW),  # "No match. May be allowed by another statement."
        (["key1:hr", "key1:personnel"], ALLOW),  # "No match"
        (["key2:audit"], EXPLICIT),  # "Match"
        (None, EXPLICIT),  # "No aws:TagKeys in the request context" -> "Match"
    ],
)
def test_for_all_values_with_a_negated_operator(tag_keys, expected):
    """IAM/reference_policies_condition_examples-multi-valued-context-keys.html, "Example: Deny policy with
    condition set operator ForAllValues", first example and its table (For a Deny statement, Match
    means denied)."""
    allow = allow_everywhere("iam:*")
    context = {} if tag_keys is None else {"aws:TagKeys": tag_keys}
    request = Request(USER, "iam:TagUser", "arn:aws:iam::123456789012:user/Bob", context=context)
    assert outcome(request, identity_policies=[DENY_UNLESS_KEY1, allow]) is expected


def test_null_false_keeps_for_all_values_from_matching_an_empty_request():
    """Same page, the DenyRestrictedTags policy with "Null": {"aws:TagKeys": "false"}: "To prevent missing
    context keys or context keys with empty values from evaluating to true, include the Null condition
    operator in your policy with a value of false"."""
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyRestrictedTags",
                "Effect": "Deny",
                "Action": ["iam:Tag*", "iam:UnTag*"],
                "Resource": ["*"],
                "Condition": {
                    "Null": {"aws:TagKeys": "false"},
                    "ForAllValues:StringLike": {"aws:TagKeys": ["key1*", "key2*", "key3*"]},
                },
            }
        ],
    }
    allow = allow_everywhere("iam:*")
    target = "arn:aws:iam::123456789012:user/Bob"
    assert outcome(Request(USER, "iam:TagUser", target), identity_policies=[policy, allow]) is ALLOW
    tagged = Request(USER, "iam:TagUser", target, request_tags={"key1-a": "x", "key3-b": "y"})
    assert outcome(tagged, identity_policies=[policy, allow]) is EXPLICIT
    mixed = Request(USER, "iam:TagUser", target, request_tags={"key1-a": "x", "other": "y"})
    assert outcome(mixed, identity_policies=[policy, allow]) is ALLOW


# --------------------------------------------------------------------------------------------------
# IAM/reference_policies_variables.html


def test_variable_in_resource_manage_own_access_keys():
    """ "Using variables in policies": iam:*AccessKey* on user/${aws:username}: "IAM substitutes the user
    name from the current request"."""
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Action": ["iam:*AccessKey*"],
                "Effect": "Allow",
                "Resource": ["arn:aws:iam::123456789012:user/${aws:username}"],
            }
        ],
    }
    assert (
        outcome(
            Request(USER, "iam:CreateAccessKey", "arn:aws:iam::123456789012:user/David"), identity_policies=[policy]
        )
        is ALLOW
    )
    assert (
        outcome(Request(USER, "iam:CreateAccessKey", "arn:aws:iam::123456789012:user/Bob"), identity_policies=[policy])
        is IMPLICIT
    )


def test_variables_need_version_2012_10_17():
    """Note in the same section: "If you don't include the Version element ... variables like
    ${aws:username} are treated as literal strings in the policy"."""
    policy = {
        "Statement": {
            "Action": "s3:GetObject",
            "Effect": "Allow",
            "Resource": "arn:aws:s3:::mybucket/${aws:username}/*",
        }
    }
    literal = Request(USER, "s3:GetObject", "arn:aws:s3:::mybucket/${aws:username}/k", resource_account="123456789012")
    substituted = Request(USER, "s3:GetObject", "arn:aws:s3:::mybucket/David/k", resource_account="123456789012")
    assert outcome(literal, identity_policies=[policy]) is ALLOW
    assert outcome(substituted, identity_policies=[policy]) is IMPLICIT


def test_default_values_and_variables_without_a_value():
    """ "Specifying default values": team=yellow reaches the -yellow bucket, "users without team tags" the
    -company-wide bucket. "Policy variables with no value": a variable with no value in Resource "will
    not match any resource"."""
    with_default = {
        "Version": "2012-10-17",
        "Statement": {
            "Effect": "Allow",
            "Action": "s3:*",
            "Resource": "arn:aws:s3:::DOC-EXAMPLE-BUCKET-${aws:PrincipalTag/team, 'company-wide'}",
        },
    }
    without_default = {
        "Version": "2012-10-17",
        "Statement": {
            "Effect": "Allow",
            "Action": "s3:*",
            "Resource": "arn:aws:s3:::DOC-EXAMPLE-BUCKET-${aws:PrincipalTag/team}",
        },
    }

    def list_bucket(bucket: str, tags: dict[str, str], policy: dict) -> Outcome:
        request = Request(
            USER, "s3:ListBucket", f"arn:aws:s3:::{bucket}", principal_tags=tags, resource_account="123456789012"
        )
        return outcome(request, identity_policies=[policy])

    assert list_bucket("DOC-EXAMPLE-BUCKET-yellow", {"team": "yellow"}, with_default) is ALLOW
    assert list_bucket("DOC-EXAMPLE-BUCKET-company-wide", {"team": "yellow"}, with_default) is IMPLICIT
    assert list_bucket("DOC-EXAMPLE-BUCKET-company-wide", {}, with_default) is ALLOW
    assert list_bucket("DOC-EXAMPLE-BUCKET-", {}, without_default) is IMPLICIT
    assert list_bucket("DOC-EXAMPLE-BUCKET-${aws:PrincipalTag/team}", {}, without_default) is IMPLICIT


def test_negated_operator_matches_a_variable_with_no_value():
    """ "Policy variables with no value": "Inverted condition operators like StringNotEquals or StringNotLike
    do match against a null value"; "operators like StringEquals or StringLike do not match"."""
    negated = _stmt({"StringNotEquals": {"s3:ExistingObjectTag/Team": "${aws:PrincipalTag/Team}"}}, "s3:GetObject", "*")
    positive = _stmt({"StringEquals": {"s3:ExistingObjectTag/Team": "${aws:PrincipalTag/Team}"}}, "s3:GetObject", "*")
    request = Request(USER, "s3:GetObject", "arn:aws:s3:::b/k", context={"s3:ExistingObjectTag/Team": "red"})
    assert outcome(request, identity_policies=[negated]) is ALLOW
    assert outcome(request, identity_policies=[positive]) is IMPLICIT
    tagged = Request(
        USER,
        "s3:GetObject",
        "arn:aws:s3:::b/k",
        context={"s3:ExistingObjectTag/Team": "red"},
        principal_tags={"Team": "red"},
    )
    assert outcome(tagged, identity_policies=[positive]) is ALLOW
    assert outcome(tagged, identity_policies=[negated]) is IMPLICIT


def test_special_character_variables_are_literal():
    """ "Special characters": "${*} - use where you need an * (asterisk) character"."""
    policy = {
        "Version": "2012-10-17",
        "Statement": {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/${*}${?}${$}"},
    }
    hit = Request(USER, "s3:GetObject", "arn:aws:s3:::b/*?$", resource_account="123456789012")
    miss = Request(USER, "s3:GetObject", "arn:aws:s3:::b/abc", resource_account="123456789012")
    assert outcome(hit, identity_policies=[policy]) is ALLOW
    assert outcome(miss, identity_policies=[policy]) is IMPLICIT


# --------------------------------------------------------------------------------------------------
# IAM/reference_policies_elements_action.html, _resource.html, _notaction.html, _notresource.html


def test_actions_are_case_insensitive_resources_are_not():
    """Action: "The prefix and the action name are case insensitive. For example, iam:ListAccessKeys is the
    same as IAM:listaccesskeys". ARNs in Resource are matched as written."""
    policy = {
        "Version": "2012-10-17",
        "Statement": {
            "Effect": "Allow",
            "Action": "IAM:listaccesskeys",
            "Resource": "arn:aws:iam::123456789012:user/Bob",
        },
    }
    assert (
        outcome(Request(USER, "iam:ListAccessKeys", "arn:aws:iam::123456789012:user/Bob"), identity_policies=[policy])
        is ALLOW
    )
    assert (
        outcome(Request(USER, "iam:ListAccessKeys", "arn:aws:iam::123456789012:user/bob"), identity_policies=[policy])
        is IMPLICIT
    )


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("DOC-EXAMPLE-BUCKET/1/test/object.jpg", ALLOW),
        ("DOC-EXAMPLE-BUCKET/1/2/test/object.jpg", ALLOW),
        ("DOC-EXAMPLE-BUCKET/1/2/test/3/object.jpg", ALLOW),
        ("DOC-EXAMPLE-BUCKET/1/2/3/test/4/object.jpg", ALLOW),
        ("DOC-EXAMPLE-BUCKET/1///test///object.jpg", ALLOW),
        ("DOC-EXAMPLE-BUCKET/1/test/.jpg", ALLOW),
        ("DOC-EXAMPLE-BUCKET//test/object.jpg", ALLOW),
        ("DOC-EXAMPLE-BUCKET/1/test/", ALLOW),
        ("DOC-EXAMPLE-BUCKET/1-test/object.jpg", IMPLICIT),  # "The ARN would not match the following objects"
        ("DOC-EXAMPLE-BUCKET/test/object.jpg", IMPLICIT),
        ("DOC-EXAMPLE-BUCKET/1/2/test.jpg", IMPLICIT),
    ],
)
def test_resource_wildcards_expand_across_slashes(key, expected):
    """Resource, "Using wildcards in resource ARNs": the arn:aws:s3:::DOC-EXAMPLE-BUCKET/*/test/* lists."""
    policy = {
        "Version": "2012-10-17",
        "Statement": {
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": "arn:aws:s3:::DOC-EXAMPLE-BUCKET/*/test/*",
        },
    }
    request = Request(USER, "s3:GetObject", f"arn:aws:s3:::{key}", resource_account="123456789012")
    assert outcome(request, identity_policies=[policy]) is expected


def test_not_action_allow_and_deny():
    """NotAction: "allows users to access every action in every AWS service except for IAM"; the MFA
    example "denies access to non-IAM actions if the user is not signed in using MFA"."""
    everything_but_iam = {
        "Version": "2012-10-17",
        "Statement": {"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"},
    }
    assert outcome(Request(USER, "s3:GetObject", "arn:aws:s3:::b/k"), identity_policies=[everything_but_iam]) is ALLOW
    assert outcome(Request(USER, "iam:CreateUser", "*"), identity_policies=[everything_but_iam]) is IMPLICIT
    mfa = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyAllUsersNotUsingMFA",
                "Effect": "Deny",
                "NotAction": "iam:*",
                "Resource": "*",
                "Condition": {"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}},
            }
        ],
    }
    admin = allow_everywhere("*")
    no_mfa = Request(USER, "s3:GetObject", "arn:aws:s3:::b/k", context={"aws:MultiFactorAuthPresent": False})
    with_mfa = Request(USER, "s3:GetObject", "arn:aws:s3:::b/k", context={"aws:MultiFactorAuthPresent": True})
    assert outcome(no_mfa, identity_policies=[mfa, admin]) is EXPLICIT
    assert outcome(with_mfa, identity_policies=[mfa, admin]) is ALLOW
    assert (
        outcome(Request(USER, "s3:GetObject", "arn:aws:s3:::b/k"), identity_policies=[mfa, admin]) is EXPLICIT
    )  # IfExists: absent
    assert (
        outcome(
            Request(USER, "iam:GetUser", "*", context={"aws:MultiFactorAuthPresent": False}),
            identity_policies=[mfa, admin],
        )
        is ALLOW
    )


def test_not_resource_deny():
    """NotResource: "explicitly denies access to all Amazon S3 resources other than the listed resources"
    and "the policy would not deny access to any EC2 resources"."""
    deny = {
        "Version": "2012-10-17",
        "Statement": {
            "Effect": "Deny",
            "Action": "s3:*",
            "NotResource": ["arn:aws:s3:::HRBucket/Payroll", "arn:aws:s3:::HRBucket/Payroll/*"],
        },
    }
    admin = allow_everywhere("*")

    def get(resource: str, action: str = "s3:GetObject") -> Outcome:
        return outcome(
            Request(USER, action, resource, resource_account="123456789012"), identity_policies=[deny, admin]
        )

    assert get("arn:aws:s3:::HRBucket/Payroll/march.csv") is ALLOW
    assert get("arn:aws:s3:::HRBucket/Other/x") is EXPLICIT
    assert get("arn:aws:ec2:us-east-1:123456789012:instance/i-1", "ec2:StartInstances") is ALLOW


# --------------------------------------------------------------------------------------------------
# IAM/reference_policies_elements_principal.html and _notprincipal.html


def _bucket_policy(principal: Any, effect: str = "Allow", **extra: Any) -> dict:
    return {
        "Version": "2012-10-17",
        "Statement": {
            "Effect": effect,
            "Principal": principal,
            "Action": "s3:*",
            "Resource": "arn:aws:s3:::BUCKETNAME/*",
            **extra,
        },
    }


def test_account_id_and_root_arn_are_the_same_principal():
    """ "AWS account principals": "The account ARN and the shortened account ID behave the same way. Both
    delegate permissions to the account" (so the caller's account must still allow)."""
    caller = Request(
        "arn:aws:iam::555555555555:role/app",
        "s3:GetObject",
        "arn:aws:s3:::BUCKETNAME/k",
        resource_account="123456789012",
    )
    allow_all = allow_everywhere("s3:*")
    for principal in (
        {"AWS": "555555555555"},
        {"AWS": "arn:aws:iam::555555555555:root"},
        {"AWS": ["123456789012", "555555555555"]},
    ):
        assert outcome(caller, identity_policies=[allow_all], resource_policy=_bucket_policy(principal)) is ALLOW
        assert outcome(caller, resource_policy=_bucket_policy(principal)) is IMPLICIT
    assert (
        outcome(caller, identity_policies=[allow_all], resource_policy=_bucket_policy({"AWS": "999999999999"}))
        is IMPLICIT
    )


def test_everyone_principal_same_account_and_cross_account():
    """ "All principals": with Allow, "For IAM users and role principals within your account, no other
    permissions are required. For principals in other accounts, they must also have identity-based
    permissions in their account"."""
    policy = _bucket_policy("*")
    same = Request(
        "arn:aws:iam::123456789012:role/app",
        "s3:GetObject",
        "arn:aws:s3:::BUCKETNAME/k",
        resource_account="123456789012",
    )
    other = Request(
        "arn:aws:iam::555555555555:role/app",
        "s3:GetObject",
        "arn:aws:s3:::BUCKETNAME/k",
        resource_account="123456789012",
    )
    allow_all = allow_everywhere("s3:*")
    assert outcome(same, resource_policy=policy) is ALLOW
    assert outcome(same, resource_policy=_bucket_policy({"AWS": "*"})) is ALLOW
    assert outcome(other, resource_policy=policy) is IMPLICIT
    assert outcome(other, resource_policy=policy, identity_policies=[allow_all]) is ALLOW


def test_principal_arn_condition_with_everyone_is_not_limited_by_a_boundary():
    """ "IAM role principals": "Identity-based policy types, such as permissions boundaries or session
    policies, do not limit permissions granted using the aws:PrincipalArn condition key with a
    wildcard(*) in the Principal element, unless the identity-based policies contain an explicit deny"."""
    role = "arn:aws:iam::123456789012:role/app"
    policy = _bucket_policy("*", Condition={"ArnEquals": {"aws:PrincipalArn": role}})
    request = Request(role, "s3:GetObject", "arn:aws:s3:::BUCKETNAME/k", resource_account="123456789012")
    assert outcome(request, resource_policy=policy, boundary=SHIRLEY_BOUNDARY | {"Statement": []}) is ALLOW
    deny = {"Version": "2012-10-17", "Statement": {"Effect": "Deny", "Action": "s3:GetObject", "Resource": "*"}}
    assert outcome(request, resource_policy=policy, identity_policies=[deny]) is EXPLICIT
    other = Request(
        "arn:aws:iam::123456789012:role/other",
        "s3:GetObject",
        "arn:aws:s3:::BUCKETNAME/k",
        resource_account="123456789012",
    )
    assert outcome(other, resource_policy=policy) is IMPLICIT


def test_principal_arn_deny_instead_of_not_principal():
    """ "All principals", UsePrincipalArnInsteadOfNotPrincipalWithDeny: "explicitly deny all principals
    except for the ones specified in the Condition element"."""
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "UsePrincipalArnInsteadOfNotPrincipalWithDeny",
                "Effect": "Deny",
                "Action": "s3:*",
                "Principal": "*",
                "Resource": ["arn:aws:s3:::BUCKETNAME/*", "arn:aws:s3:::BUCKETNAME"],
                "Condition": {"ArnNotEquals": {"aws:PrincipalArn": "arn:aws:iam::444455556666:user/user-name"}},
            }
        ],
    }
    allow_all = allow_everywhere("s3:*")
    spared = Request(
        "arn:aws:iam::444455556666:user/user-name",
        "s3:GetObject",
        "arn:aws:s3:::BUCKETNAME/k",
        resource_account="444455556666",
    )
    denied = Request(
        "arn:aws:iam::444455556666:user/other",
        "s3:GetObject",
        "arn:aws:s3:::BUCKETNAME/k",
        resource_account="444455556666",
    )
    assert outcome(spared, resource_policy=policy, identity_policies=[allow_all]) is ALLOW
    assert outcome(denied, resource_policy=policy, identity_policies=[allow_all]) is EXPLICIT


def test_service_principals():
    """ "AWS service principals": a trust policy letting ECS and Elastic Load Balancing assume a role."""
    trust = {
        "Version": "2012-10-17",
        "Statement": {
            "Effect": "Allow",
            "Principal": {"Service": ["ecs.amazonaws.com", "elasticloadbalancing.amazonaws.com"]},
            "Action": "sts:AssumeRole",
        },
    }
    role = "arn:aws:iam::123456789012:role/service-role"
    assert outcome(Request("ecs.amazonaws.com", "sts:AssumeRole", role), resource_policy=trust) is ALLOW
    assert (
        outcome(Request("elasticloadbalancing.amazonaws.com", "sts:AssumeRole", role), resource_policy=trust) is ALLOW
    )
    assert outcome(Request("lambda.amazonaws.com", "sts:AssumeRole", role), resource_policy=trust) is IMPLICIT


def test_not_principal_with_deny_user_and_role_examples():
    """NotPrincipal page: "all principals except the user named Bob in AWS account 444455556666 are
    explicitly denied"; and "all principals except the assumed-role user named cross-account-audit-app"
    (session, role and account all listed, as the page advises)."""
    bob_policy = _bucket_policy(
        {"AWS": ["arn:aws:iam::444455556666:user/Bob", "arn:aws:iam::444455556666:root"]}, effect="Deny"
    )
    bob_policy["Statement"]["NotPrincipal"] = bob_policy["Statement"].pop("Principal")
    allow_all = allow_everywhere("s3:*")
    obj = "arn:aws:s3:::BUCKETNAME/k"
    bob = Request("arn:aws:iam::444455556666:user/Bob", "s3:GetObject", obj, resource_account="444455556666")
    alice = Request("arn:aws:iam::444455556666:user/Alice", "s3:GetObject", obj, resource_account="444455556666")
    assert outcome(bob, resource_policy=bob_policy, identity_policies=[allow_all]) is ALLOW
    assert outcome(alice, resource_policy=bob_policy, identity_policies=[allow_all]) is EXPLICIT

    audit = _bucket_policy(
        {
            "AWS": [
                "arn:aws:sts::444455556666:assumed-role/cross-account-read-only-role/cross-account-audit-app",
                "arn:aws:iam::444455556666:role/cross-account-read-only-role",
                "arn:aws:iam::444455556666:root",
            ]
        },
        effect="Deny",
    )
    audit["Statement"]["NotPrincipal"] = audit["Statement"].pop("Principal")
    grant = {
        "Effect": "Allow",
        "Principal": {"AWS": "444455556666"},
        "Action": "s3:*",
        "Resource": "arn:aws:s3:::BUCKETNAME/*",
    }
    audit["Statement"] = [audit["Statement"], grant]
    role = "arn:aws:iam::444455556666:role/cross-account-read-only-role"
    app = Request(role, "s3:GetObject", obj, session_name="cross-account-audit-app", resource_account="111122223333")
    other = Request(role, "s3:GetObject", obj, session_name="someone-else", resource_account="111122223333")
    assert outcome(app, resource_policy=audit, identity_policies=[allow_all]) is ALLOW
    assert outcome(other, resource_policy=audit, identity_policies=[allow_all]) is EXPLICIT


def test_partial_wildcards_in_principals_are_refused():
    """Principal: "You cannot use a wildcard to match part of a principal name or ARN"."""
    with pytest.raises(PolicyError, match="partial wildcard"):
        Policy.parse(_bucket_policy({"AWS": "arn:aws:iam::123456789012:role/app-*"}))


# --------------------------------------------------------------------------------------------------
# GitHub OIDC trust: IAM/id_roles_create_for-idp_oidc.html, "Configuring a role for GitHub OIDC identity provider"

GITHUB = "arn:aws:iam::012345678910:oidc-provider/token.actions.githubusercontent.com"


def _github_trust(operator: str, sub: str) -> dict:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Federated": GITHUB},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    operator: {
                        "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
                        "token.actions.githubusercontent.com:sub": sub,
                    }
                },
            }
        ],
    }


def _assume(trust: dict, sub: str, aud: str = "sts.amazonaws.com") -> Outcome:
    request = Request(
        GITHUB,
        "sts:AssumeRoleWithWebIdentity",
        "arn:aws:iam::012345678910:role/deploy",
        context={"token.actions.githubusercontent.com:sub": sub, "token.actions.githubusercontent.com:aud": aud},
    )
    return outcome(request, resource_policy=trust)


def test_github_trust_policy_limited_to_a_branch():
    """ "The following example trust policy limits access to the defined GitHub organization, repository,
    and branch"; the StringLike variants widen to "any branch within the repository" and "any repository
    or branch within the defined GitHub organization"."""
    branch = _github_trust("StringEquals", "repo:GitHubOrg/GitHubRepo:ref:refs/heads/GitHubBranch")
    assert _assume(branch, "repo:GitHubOrg/GitHubRepo:ref:refs/heads/GitHubBranch") is ALLOW
    assert _assume(branch, "repo:GitHubOrg/GitHubRepo:ref:refs/heads/other") is IMPLICIT
    assert _assume(branch, "repo:GitHubOrg/GitHubRepo:ref:refs/heads/GitHubBranch", aud="something-else") is IMPLICIT
    any_branch = _github_trust("StringLike", "repo:GitHubOrg/GitHubRepo:*")
    assert _assume(any_branch, "repo:GitHubOrg/GitHubRepo:ref:refs/heads/other") is ALLOW
    assert _assume(any_branch, "repo:GitHubOrg/OtherRepo:ref:refs/heads/main") is IMPLICIT
    any_repo = _github_trust("StringLike", "repo:GitHubOrg/*")
    assert _assume(any_repo, "repo:GitHubOrg/OtherRepo:pull_request") is ALLOW
    assert _assume(any_repo, "repo:OtherOrg/GitHubRepo:ref:refs/heads/main") is IMPLICIT
    other_provider = Request(
        "arn:aws:iam::012345678910:oidc-provider/gitlab.example.com",
        "sts:AssumeRoleWithWebIdentity",
        "arn:aws:iam::012345678910:role/deploy",
        context={"token.actions.githubusercontent.com:sub": "repo:GitHubOrg/GitHubRepo:ref:refs/heads/GitHubBranch"},
    )
    assert outcome(other_provider, resource_policy=branch) is IMPLICIT


# --------------------------------------------------------------------------------------------------
# KMS key policies: KMS/key-policy-default.html, KMS/policy-evaluation.html, KMS/conditions-kms.html

KEY_111 = "arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
DEFAULT_KEY_POLICY = {
    "Version": "2012-10-17",
    "Id": "key-test-1",
    "Statement": [
        {
            "Sid": "Delegate to IAM policies",
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
            "Action": "kms:*",
            "Resource": "*",
        }
    ],
}
ALICE = "arn:aws:iam::111122223333:user/Alice"
DECRYPT_KEY_111 = {
    "Version": "2012-10-17",
    "Statement": {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": KEY_111},
}


def test_kms_example_1_alice_has_no_iam_policy():
    """KMS/policy-evaluation.html, "Example 1": "Alice is denied access to the KMS key because there is no
    key policy, IAM policy, or grant that gives her the required permissions"; the key policy "allows the
    AWS account ... to use IAM policies", so an IAM policy would be enough."""
    request = Request(ALICE, "kms:Decrypt", KEY_111)
    assert outcome(request, key_policy=DEFAULT_KEY_POLICY) is IMPLICIT
    assert outcome(request, key_policy=DEFAULT_KEY_POLICY, identity_policies=[DECRYPT_KEY_111]) is ALLOW


def test_kms_iam_policies_are_ineffective_without_the_root_statement():
    """KMS/key-policy-default.html: "Without this permission, IAM policies that allow access to the key are
    ineffective, although IAM policies that deny access to the key are still effective." """
    only_admin = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::111122223333:user/KMSKeyAdmin"},
                "Action": "kms:*",
                "Resource": "*",
            }
        ],
    }
    assert (
        outcome(Request(ALICE, "kms:Decrypt", KEY_111), key_policy=only_admin, identity_policies=[DECRYPT_KEY_111])
        is IMPLICIT
    )
    admin = Request("arn:aws:iam::111122223333:user/KMSKeyAdmin", "kms:Decrypt", KEY_111)
    assert outcome(admin, key_policy=only_admin) is ALLOW
    deny = {"Version": "2012-10-17", "Statement": {"Effect": "Deny", "Action": "kms:*", "Resource": "*"}}
    assert outcome(admin, key_policy=only_admin, identity_policies=[deny]) is EXPLICIT


KEY_ACCT_2 = "arn:aws:kms:us-west-2:444455556666:key/1234abcd-12ab-34cd-56ef-1234567890ab"
KEY_POLICY_ACCT_2 = {
    "Id": "key-policy-acct-2",
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "Permission to use IAM policies",
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::444455556666:root"},
            "Action": "kms:*",
            "Resource": "*",
        },
        {
            "Sid": "Allow account 1 to use this KMS key",
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
            "Action": [
                "kms:Encrypt",
                "kms:Decrypt",
                "kms:ReEncryptFrom",
                "kms:ReEncryptTo",
                "kms:GenerateDataKey",
                "kms:GenerateDataKeyWithoutPlaintext",
                "kms:DescribeKey",
            ],
            "Resource": "*",
        },
    ],
}
ENGINEERING_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": [
                "kms:Encrypt",
                "kms:Decrypt",
                "kms:ReEncryptFrom",
                "kms:ReEncryptTo",
                "kms:GenerateDataKey",
                "kms:GenerateDataKeyWithoutPlaintext",
                "kms:DescribeKey",
            ],
            "Resource": [KEY_ACCT_2],
        }
    ],
}


def test_kms_example_2_cross_account_role():
    """KMS/policy-evaluation.html, "Example 2": Bob assumes Engineering (trust names user/bob) and uses the
    key in account 2: "no one in account 1 can use the KMS key in account 2 until account 1 defines IAM
    policies"; "account 1 can only give its principals permission to perform the actions that the key
    policy gave to the account"."""
    engineering = "arn:aws:iam::111122223333:role/Engineering"
    trust = {
        "Version": "2012-10-17",
        "Statement": {
            "Principal": {"AWS": "arn:aws:iam::111122223333:user/bob"},
            "Effect": "Allow",
            "Action": "sts:AssumeRole",
        },
    }
    assert (
        outcome(Request("arn:aws:iam::111122223333:user/bob", "sts:AssumeRole", engineering), resource_policy=trust)
        is ALLOW
    )
    assert (
        outcome(Request("arn:aws:iam::111122223333:user/eve", "sts:AssumeRole", engineering), resource_policy=trust)
        is IMPLICIT
    )
    decrypt = Request(engineering, "kms:Decrypt", KEY_ACCT_2)
    assert outcome(decrypt, key_policy=KEY_POLICY_ACCT_2, identity_policies=[ENGINEERING_POLICY]) is ALLOW
    assert outcome(decrypt, key_policy=KEY_POLICY_ACCT_2) is IMPLICIT
    admin_everything = allow_everywhere("kms:*")
    schedule = Request(engineering, "kms:ScheduleKeyDeletion", KEY_ACCT_2)
    assert outcome(schedule, key_policy=KEY_POLICY_ACCT_2, identity_policies=[admin_everything]) is IMPLICIT


def test_kms_via_service():
    """KMS/conditions-kms.html, "kms:ViaService": the key may be used "only when the request comes from
    Amazon EC2 or Amazon RDS in the US West (Oregon) region on behalf of ExampleUser"."""
    policy = {
        "Version": "2012-10-17",
        "Statement": {
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::111122223333:user/ExampleUser"},
            "Action": [
                "kms:Encrypt",
                "kms:Decrypt",
                "kms:ReEncrypt*",
                "kms:GenerateDataKey*",
                "kms:CreateGrant",
                "kms:ListGrants",
                "kms:DescribeKey",
            ],
            "Resource": "*",
            "Condition": {
                "StringEquals": {"kms:ViaService": ["ec2.us-west-2.amazonaws.com", "rds.us-west-2.amazonaws.com"]}
            },
        },
    }
    user = "arn:aws:iam::111122223333:user/ExampleUser"
    for via, expected in (
        ("ec2.us-west-2.amazonaws.com", ALLOW),
        ("rds.us-west-2.amazonaws.com", ALLOW),
        ("lambda.us-west-2.amazonaws.com", IMPLICIT),
        (None, IMPLICIT),
    ):
        context = {"kms:ViaService": via} if via else {}
        assert outcome(Request(user, "kms:Decrypt", KEY_111, context=context), key_policy=policy) is expected, via


def test_secrets_manager_aws_managed_key_policy():
    """SM/security-encryption.html, "Key policy of the AWS managed key": "Allow users in the account to use
    the KMS key for cryptographic operations only when the request comes from Secrets Manager on their
    behalf"; "Allows the AWS account to create IAM policies that allow users to view KMS key
    properties"."""
    policy = {
        "Version": "2012-10-17",
        "Id": "auto-secretsmanager-1",
        "Statement": [
            {
                "Sid": "Allow access through AWS Secrets Manager for all principals in the account that are authorized to use AWS Secrets Manager",
                "Effect": "Allow",
                "Principal": {"AWS": "*"},
                "Action": [
                    "kms:Decrypt",
                    "kms:ReEncrypt*",
                    "kms:GenerateDataKey*",
                    "kms:CreateGrant",
                    "kms:DescribeKey",
                ],
                "Resource": "*",
                "Condition": {
                    "StringEquals": {
                        "kms:ViaService": "secretsmanager.us-west-2.amazonaws.com",
                        "kms:CallerAccount": "111122223333",
                    }
                },
            },
            {
                "Sid": "Allow direct access to key metadata to the account",
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
                "Action": ["kms:Describe*", "kms:Get*", "kms:List*", "kms:RevokeGrant"],
                "Resource": "*",
            },
        ],
    }
    via_sm = {"kms:ViaService": "secretsmanager.us-west-2.amazonaws.com", "kms:CallerAccount": "111122223333"}
    app = "arn:aws:iam::111122223333:role/app"
    assert outcome(Request(app, "kms:Decrypt", KEY_111, context=via_sm), key_policy=policy) is ALLOW
    assert outcome(Request(app, "kms:Decrypt", KEY_111), key_policy=policy) is IMPLICIT
    assert outcome(Request(app, "kms:GetKeyPolicy", KEY_111), key_policy=policy) is IMPLICIT  # needs an IAM policy
    get = allow_everywhere("kms:Get*")
    assert outcome(Request(app, "kms:GetKeyPolicy", KEY_111), key_policy=policy, identity_policies=[get]) is ALLOW
    stranger = Request(
        "arn:aws:iam::444455556666:role/app",
        "kms:Decrypt",
        KEY_111,
        context={**via_sm, "kms:CallerAccount": "444455556666"},
    )
    assert outcome(stranger, key_policy=policy, identity_policies=[DECRYPT_KEY_111]) is IMPLICIT


# --------------------------------------------------------------------------------------------------
# Secrets Manager: SM/auth-and-access_examples.html


def test_secret_name_wildcards():
    """ "Example: Wildcards", "Match secret name": '??????' matches the six random characters; with "-*"
    "Secrets Manager matches not only the intended secret ... but also
    another_secret_name-<anything-here>a1b2c3"."""
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "secretsmanager:*",
                "Resource": [
                    "arn:aws:secretsmanager:us-east-1:123456789012:secret:a_specific_secret_name-a1b2c3",
                    "arn:aws:secretsmanager:us-east-1:123456789012:secret:another_secret_name-??????",
                ],
            }
        ],
    }
    star = {
        "Version": "2012-10-17",
        "Statement": {
            "Effect": "Allow",
            "Action": "secretsmanager:*",
            "Resource": "arn:aws:secretsmanager:us-east-1:123456789012:secret:another_secret_name-*",
        },
    }
    base = "arn:aws:secretsmanager:us-east-1:123456789012:secret:"

    def get(name: str, doc: dict) -> Outcome:
        return outcome(Request(USER, "secretsmanager:GetSecretValue", base + name), identity_policies=[doc])

    assert get("another_secret_name-x9y8z7", policy) is ALLOW
    assert get("another_secret_name-extra-x9y8z7", policy) is IMPLICIT
    assert get("another_secret_name-extra-x9y8z7", star) is ALLOW
    assert get("a_specific_secret_name-zzzzzz", policy) is IMPLICIT


def test_secret_resource_tag_abac():
    """ "Example: Control access to secrets using tags": DescribeSecret "on secrets with a tag with the key
    ServerName and the value ServerABC"."""
    policy = _stmt(
        {"StringEquals": {"secretsmanager:ResourceTag/ServerName": "ServerABC"}}, "secretsmanager:DescribeSecret", "*"
    )
    secret = "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf"
    tagged = Request(USER, "secretsmanager:DescribeSecret", secret, resource_tags={"ServerName": "ServerABC"})
    other = Request(USER, "secretsmanager:DescribeSecret", secret, resource_tags={"ServerName": "ServerXYZ"})
    assert outcome(tagged, identity_policies=[policy]) is ALLOW
    assert outcome(other, identity_policies=[policy]) is IMPLICIT
    assert outcome(Request(USER, "secretsmanager:DescribeSecret", secret), identity_policies=[policy]) is IMPLICIT


def test_secret_policy_matching_principal_and_resource_tags():
    """ "Example: Limit access to identities with tags that match secrets' tags": GetSecretValue "to account
    123456789012 only if the tag AccessProject has the same value for the secret and the role" (note the
    spaces inside ``${ aws:PrincipalTag/AccessProject }``, as printed). The account principal delegates, so
    the caller's identity policy must allow too (cross-account here)."""
    policy = {
        "Version": "2012-10-17",
        "Statement": {
            "Effect": "Allow",
            "Principal": {"AWS": "123456789012"},
            "Condition": {"StringEquals": {"aws:ResourceTag/AccessProject": "${ aws:PrincipalTag/AccessProject }"}},
            "Action": "secretsmanager:GetSecretValue",
            "Resource": "*",
        },
    }
    allow = {
        "Version": "2012-10-17",
        "Statement": {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "*"},
    }
    secret = "arn:aws:secretsmanager:us-east-1:999988887777:secret:shared-AbCdEf"

    def get(principal_tag: str | None, resource_tag: str) -> Outcome:
        request = Request(
            "arn:aws:iam::123456789012:role/app",
            "secretsmanager:GetSecretValue",
            secret,
            principal_tags={"AccessProject": principal_tag} if principal_tag else {},
            resource_tags={"AccessProject": resource_tag},
        )
        return outcome(request, resource_policy=policy, identity_policies=[allow])

    assert get("alpha", "alpha") is ALLOW
    assert get("beta", "alpha") is IMPLICIT
    assert get(None, "alpha") is IMPLICIT


def test_secret_policy_for_a_service_principal():
    """ "Example: Service principal": a service may read the secret only for sources in account
    123456789012 (aws:SourceArn and aws:SourceAccount; "aws:sourceArn" as printed: key names are
    case-insensitive)."""
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": ["service-name.amazonaws.com"]},
                "Action": "secretsmanager:GetSecretValue",
                "Resource": "*",
                "Condition": {
                    "ArnLike": {"aws:sourceArn": "arn:aws:service-name::123456789012:*"},
                    "StringEquals": {"aws:sourceAccount": "123456789012"},
                },
            }
        ],
    }
    secret = "arn:aws:secretsmanager:us-east-1:123456789012:secret:s-AbCdEf"

    def get(account: str | None) -> Outcome:
        context = (
            {"aws:SourceArn": f"arn:aws:service-name::{account}:thing/x", "aws:SourceAccount": account}
            if account
            else {}
        )
        return outcome(
            Request("service-name.amazonaws.com", "secretsmanager:GetSecretValue", secret, context=context),
            resource_policy=policy,
        )

    assert get("123456789012") is ALLOW
    assert get("999999999999") is IMPLICIT
    assert get(None) is IMPLICIT


# --------------------------------------------------------------------------------------------------
# Documents the evaluator refuses rather than misreads


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Conditon": {}}}, "unknown element"),
        ({"Statement": {"Effect": "Permit", "Action": "s3:*", "Resource": "*"}}, "Effect"),
        (
            {"Statement": {"Effect": "Allow", "Action": "s3:*", "NotAction": "s3:Get*", "Resource": "*"}},
            "exactly one of Action",
        ),
        (
            {
                "Statement": {
                    "Effect": "Allow",
                    "Action": "s3:*",
                    "Resource": "*",
                    "Condition": {"StringMatches": {"k": "v"}},
                }
            },
            "not one this evaluator models",
        ),
        (
            {
                "Statement": {
                    "Effect": "Allow",
                    "Action": "s3:*",
                    "Resource": "*",
                    "Condition": {"NumericEquals": {"k": "ten"}},
                }
            },
            "numeric values",
        ),
        (
            {
                "Statement": {
                    "Effect": "Allow",
                    "Action": "s3:*",
                    "Resource": "*",
                    "Condition": {"Null": {"k": "maybe"}},
                }
            },
            "Null takes",
        ),
        ({"Version": "2020-01-01", "Statement": []}, "Version"),
        ({"Statement": {"Effect": "Allow", "Action": "GetObject", "Resource": "*"}}, "service:action"),
    ],
)
def test_malformed_documents_are_refused(document, message):
    with pytest.raises(PolicyError, match=message):
        Policy.parse(document)


def test_policy_types_are_checked_at_evaluation():
    """An identity policy cannot name a Principal; a resource policy must (IAM/reference_policies_elements_principal.html:
    "You cannot use the Principal element in an identity-based policy")."""
    with_principal = {
        "Version": "2012-10-17",
        "Statement": {"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": "*"},
    }
    without = allow_everywhere("s3:*")
    request = Request(USER, "s3:GetObject", "arn:aws:s3:::b/k")
    with pytest.raises(PolicyError, match="cannot name a Principal"):
        evaluate(request, identity_policies=[with_principal])
    with pytest.raises(PolicyError, match="must name a Principal"):
        evaluate(request, resource_policy=without)
    with pytest.raises(ValueError, match="key_policy"):
        evaluate(Request(USER, "kms:Decrypt", KEY_111), identity_policies=[without])
