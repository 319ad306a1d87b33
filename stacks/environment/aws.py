"""AWS composition: identities first, then the store that names them, then access, rotation, webhooks."""

from __future__ import annotations

import functools
import hashlib
from datetime import UTC, date, timedelta

import pulumi
import pulumi_aws as aws

from components.aws.access import ConsumerAccess, ConsumerAccessArgs, ConsumerGrant, OnboardingGrant
from components.aws.identity import ConsumerRoles, ConsumerRolesArgs
from components.aws.keeper import RuntimeClassAccess, SecretKeeper, SecretKeeperArgs
from components.aws.policies import class_token_pattern
from components.aws.rotation import Reminder, TokenRotation, TokenRotationArgs, rotation_role
from components.aws.store import SecretStore, SecretStoreArgs, StoreSecretArgs
from components.aws.webhook import WebhookEndpoint, WebhookEndpointArgs, receiver_role

from ..catalog import (
    DOCTOR_READS,
    OAUTH_CLIENT_PATH,
    WEBHOOK_SECRET_PATH,
    SystemIdentity,
    netsuite_m2m_key_path,
    runtime_token_path,
)
from ..config.aws import PERMISSIONS_BOUNDARY_NAME
from ..config.model import StackConfig
from ..naming import aws_secret_name
from ..rotation import (
    HAND_ISSUED,
    Deadline,
    bindings_document,
    reminder_deadlines,
    reminder_moment,
    reminder_note,
    rotated_runtime_classes,
    rotation_bindings,
    runtime_prefix,
)
from .common import Context, secret_tags, secret_value


class AwsBackend:
    """Everything on AWS for one environment, as children of the environment component."""

    def __init__(self, ctx: Context):
        self.ctx = ctx
        cfg, catalog, name = ctx.config, ctx.catalog, ctx.name
        # Identities the stack creates exist before the store: its secret policies and key policy name
        # them, and KMS refuses a principal that does not exist yet.
        self.system_arns: dict[SystemIdentity, pulumi.Output[str]] = {}
        self.webhook_role = None
        # In production the system roles are kept too: recreating one would change its unique id, and
        # the secret and key policies would have to be rewritten in the same deployment.
        keep = pulumi.ResourceOptions(parent=ctx.parent, protect=cfg.production, retain_on_delete=cfg.production)
        self.permissions_boundary = self._permissions_boundary()
        boundary = self.permissions_boundary
        if cfg.webhooks.enabled:
            self.webhook_role = receiver_role(
                f"{name}-webhook-receiver-role", cfg.environment, ctx.tags, opts=keep, permissions_boundary=boundary
            )
            self.system_arns[SystemIdentity.WEBHOOK_RECEIVER] = self.webhook_role.arn
        self.rotation_role = None
        if any(SystemIdentity.ROTATION in s.writers for s in catalog.secrets) or catalog.classes_written_by(
            SystemIdentity.ROTATION
        ):
            self.rotation_role = rotation_role(
                f"{name}-rotation-role", cfg.environment, ctx.tags, opts=keep, permissions_boundary=boundary
            )
            self.system_arns[SystemIdentity.ROTATION] = self.rotation_role.arn
        self.roles = self._roles()
        self.store = self._store()
        self.webhook = self._webhook() if self.webhook_role is not None else None
        # After the receiver: rotation alarms go to its alarm topic when there is one.
        self.rotation = self._rotation() if self.rotation_role is not None else None
        # After rotation: run-time tokens get the rotation function, and its alarms' topic.
        self.keeper = self._keeper()
        # Last: consumers of the webhook queue are granted on the queue the endpoint created.
        self.access = self._access()

    # -- identities ---------------------------------------------------------------------------------

    def _permissions_boundary(self) -> pulumi.Output[str]:
        """Every role this stack creates carries this boundary: the configured one, else the policy
        ``makini-infra-boundary`` that bootstrap/ creates in the account (the CI deploy role may create a
        role only with it)."""
        cfg = self.ctx.config
        if cfg.aws is not None and cfg.aws.permissions_boundary_arn is not None:
            return pulumi.Output.from_input(cfg.aws.permissions_boundary_arn)
        invoke = pulumi.InvokeOutputOptions(parent=self.ctx.parent)
        partition = aws.get_partition_output(opts=invoke).partition
        account = aws.get_caller_identity_output(opts=invoke).account_id
        return pulumi.Output.concat("arn:", partition, ":iam::", account, ":policy/", PERMISSIONS_BOUNDARY_NAME)

    def _roles(self) -> ConsumerRoles | None:
        cfg = self.ctx.config
        trust = {
            n: c.aws.create_role.trust_policy
            for n, c in cfg.consumers.items()
            if c.aws is not None and c.aws.create_role is not None
        }
        if not trust:
            return None
        return ConsumerRoles(
            f"{self.ctx.name}-aws-roles",
            ConsumerRolesArgs(
                environment=cfg.environment,
                production=cfg.production,
                trust_policies=trust,
                tags=self.ctx.tags,
                permissions_boundary=self.permissions_boundary,
            ),
            opts=self.ctx.opts(),
        )

    def consumer_arns(self) -> dict[str, pulumi.Input[str]]:
        """Consumer -> its AWS role ARN: the configured one, or the role this stack created."""
        created = self.roles.arns if self.roles is not None else {}
        return {
            n: c.aws.role_arn if c.aws.role_arn is not None else created[n]
            for n, c in self.ctx.config.consumers.items()
            if c.aws is not None
        }

    # -- store and access ---------------------------------------------------------------------------

    def _store(self) -> SecretStore:
        ctx, cfg = self.ctx, self.ctx.config
        aws_cfg = cfg.aws
        consumer_arn = self.consumer_arns()
        system = self.system_arns
        secrets = [
            StoreSecretArgs(
                path=s.path,
                slug=s.slug,
                description=s.description,
                reader_arns=[consumer_arn[r] for r in s.readers] + [system[i] for i in s.system_readers if i in system],
                writer_arns=[system[i] for i in s.writers if i in system],
                value=secret_value(cfg, s, ctx.generated),
                tags=secret_tags(cfg, s),
                drift_reads=s.kind in DOCTOR_READS,
            )
            for s in ctx.catalog.secrets
        ]
        return SecretStore(
            f"{ctx.name}-aws",
            SecretStoreArgs(
                environment=cfg.environment,
                production=cfg.production,
                secrets=secrets,
                recovery_window_days=cfg.recovery_window_days,
                kms_deletion_window_days=aws_cfg.kms_deletion_window_days if aws_cfg else 30,
                key_admin_arns=aws_cfg.key_admin_arns if aws_cfg else (),
                operator_arns=aws_cfg.operator_arns if aws_cfg else (),
                deployer_arns=aws_cfg.deployer_arns if aws_cfg else (),
                break_glass_arns=aws_cfg.break_glass_arns if aws_cfg else (),
                drift_arns=aws_cfg.drift_arns if aws_cfg else (),
                tags=ctx.tags,
            ),
            opts=ctx.opts(),
        )

    def _access(self) -> ConsumerAccess:
        ctx = self.ctx
        arns = self.consumer_arns()
        consumers = ctx.config.consumers
        grants = [
            ConsumerGrant(
                consumer=n,
                role_arn=arns[n],
                paths=[s.path for s in ctx.catalog.explicitly_readable_by(n)],
                webhook_queue=consumers[n].webhook_queue,
                classes=[c.name for c in ctx.catalog.classes_read_by(n)],
            )
            for n in sorted(arns)
        ]
        onboarding = ctx.catalog.onboarding_identity
        return ConsumerAccess(
            f"{ctx.name}-aws-access",
            ConsumerAccessArgs(
                environment=ctx.config.environment,
                consumers=grants,
                secret_arns=self.store.secret_arns,
                kms_key_arn=self.store.kms_key_arn,
                queue_arn=self.webhook.queue_arn if self.webhook is not None else None,
                dlq_arn=self.webhook.dlq_arn if self.webhook is not None else None,
                tags=ctx.tags,
                onboarding=OnboardingGrant(
                    consumer=onboarding,
                    role_arn=arns[onboarding],
                    classes=[c.name for c in ctx.catalog.classes_created_by(onboarding)],
                    recovery_window_days=ctx.config.recovery_window_days,
                )
                if onboarding is not None
                else None,
            ),
            opts=ctx.opts(),
        )

    # -- rotation -----------------------------------------------------------------------------------

    def _reminders(self) -> list[Reminder]:
        return aws_reminders(self.ctx.config, self.ctx.today)

    def _rotation(self) -> TokenRotation:
        ctx, cfg, r = self.ctx, self.ctx.config, self.ctx.config.rotation
        rotated = {s.path: self.store.secret_arns[s.path] for s in ctx.catalog.secrets if s.rotated}
        return TokenRotation(
            f"{ctx.name}-aws-rotation",
            TokenRotationArgs(
                environment=cfg.environment,
                production=cfg.production,
                role=self.rotation_role,
                token_secret_arns=rotated,
                bindings_document=bindings_document(
                    cfg.environment,
                    "aws",
                    r.connection_token_days,
                    {aws_secret_name(cfg.environment, p): c for p, c in rotation_bindings(cfg, ctx.catalog).items()},
                    {c: runtime_prefix("aws", cfg.environment, c) for c in rotated_runtime_classes(ctx.catalog)},
                ),
                oauth_client_secret_arn=self.store.secret_arns[OAUTH_CLIENT_PATH],
                kms_key_arn=self.store.kms_key_arn,
                period_days=r.connection_token_days or 1,
                rotation_window=r.rotation_window,
                rotate_immediately=r.rotate_immediately,
                log_retention_days=cfg.webhooks.log_retention_days(cfg.production),
                reminders=self._reminders(),
                notify_email=r.notify_email,
                tags=ctx.tags,
                permissions_boundary=self.permissions_boundary,
                alarm_topic_arn=self.webhook.alarm_topic_arn if self.webhook is not None else None,
                alarm_email=r.notify_email,
            ),
            opts=ctx.opts(),
        )

    # -- run-time secrets -------------------------------------------------------------------------

    def _keeper(self) -> SecretKeeper | None:
        """The keeper of the run-time classes' tokens (issue 19): when the environment takes run-time connections
        and its onboarding identity is on AWS."""
        ctx, cfg = self.ctx, self.ctx.config
        catalog, arns = ctx.catalog, self.consumer_arns()
        onboarding = catalog.onboarding_identity
        if onboarding is None or onboarding not in arns or not catalog.classes_created_by(onboarding):
            return None
        system, aws_cfg, r = self.system_arns, cfg.aws, cfg.rotation
        rotation = self.rotation.function_arn if self.rotation is not None else None
        return SecretKeeper(
            f"{ctx.name}-aws-keeper",
            SecretKeeperArgs(
                environment=cfg.environment,
                production=cfg.production,
                classes=[
                    RuntimeClassAccess(
                        name=c.name,
                        reader_arns=[arns[n] for n in c.readers if n in arns],
                        writer_arns=[system[i] for i in c.writers if i in system],
                    )
                    for c in catalog.classes_created_by(onboarding)
                ],
                onboarding_role_arn=arns[onboarding],
                deployer_arns=self.store.deployer_arns,
                operator_arns=aws_cfg.operator_arns if aws_cfg else (),
                break_glass_arns=aws_cfg.break_glass_arns if aws_cfg else (),
                drift_arns=aws_cfg.drift_arns if aws_cfg else (),
                recovery_window_days=cfg.recovery_window_days,
                rotation_function_arn=rotation,
                period_days=r.connection_token_days if rotation is not None else None,
                rotation_window=r.rotation_window,
                log_retention_days=cfg.webhooks.log_retention_days(cfg.production),
                permissions_boundary=self.permissions_boundary,
                alarm_topic_arn=self.rotation.alarm_topic_arn
                if self.rotation is not None
                else (self.webhook.alarm_topic_arn if self.webhook is not None else None),
                alarm_email=r.notify_email,
                tags=ctx.tags,
            ),
            opts=ctx.opts(),
        )

    # -- webhooks -----------------------------------------------------------------------------------

    def _webhook(self) -> WebhookEndpoint:
        ctx, cfg, w = self.ctx, self.ctx.config, self.ctx.config.webhooks
        domain = w.aws.custom_domain
        return WebhookEndpoint(
            f"{ctx.name}-aws-webhooks",
            WebhookEndpointArgs(
                environment=cfg.environment,
                production=cfg.production,
                role=self.webhook_role,
                secret_arn=self.store.secret_arns[WEBHOOK_SECRET_PATH],
                kms_key_arn=self.store.kms_key_arn,
                route_path=w.route_path,
                throttle_burst=w.aws.throttling.burst_limit,
                throttle_rate=w.aws.throttling.rate_limit,
                log_retention_days=w.log_retention_days(cfg.production),
                memory_mb=w.aws.memory_mb,
                timeout_seconds=w.aws.timeout_seconds,
                reserved_concurrency=w.aws.reserved_concurrency,
                custom_domain=(domain.domain_name, domain.certificate_arn) if domain else None,
                allowed_source_ips=w.source_ips(),
                signature_mode=w.signature_mode,
                grace_seconds=w.grace_seconds,
                dedupe_ttl_seconds=w.dedupe_ttl_seconds,
                silence_hours=w.alarms.effective_silence_hours(cfg.production),
                error_rate_percent=w.alarms.error_rate_percent,
                alarm_email=w.alarms.email,
                consumer_arns=[
                    arn for n, arn in sorted(self.consumer_arns().items()) if cfg.consumers[n].webhook_queue
                ],
                deployer_arns=self.store.deployer_arns,
                break_glass_arns=cfg.aws.break_glass_arns if cfg.aws else (),
                tags=ctx.tags,
            ),
            opts=ctx.opts(),
        )

    # -- outputs ------------------------------------------------------------------------------------

    def outputs(self) -> dict[str, object]:
        out: dict[str, object] = {"awsKmsKeyArn": self.store.kms_key_arn, "awsSecretArns": dict(self.store.secret_arns)}
        if self.keeper is not None:
            out["awsKeeperFunctionName"] = self.keeper.function_name
        return out

    def consumer_view(self, consumer: str) -> dict[str, object]:
        catalog, queue = self.ctx.catalog, self.webhook if self.ctx.config.consumers[consumer].webhook_queue else None
        prefix = self.access.secret_arn_prefix
        return {
            "roleArn": self.consumer_arns()[consumer],
            # No None in an output: the engine drops null values from maps, and the key would be missing.
            "readPolicyArn": self.access.policy_arns.get(consumer, ""),
            "secretArns": {s.path: self.store.secret_arns[s.path] for s in catalog.explicitly_readable_by(consumer)},
            "classArnPatterns": {
                c.name: prefix.apply(functools.partial(class_token_pattern, access_class=c.name))
                for c in catalog.classes_read_by(consumer)
            },
            "webhookQueue": {"url": queue.queue_url, "arn": queue.queue_arn} if queue is not None else {},
            # The onboarding identity's write rights (issue 19): where it may create run-time tokens, and the policy
            # that allows it (attached to roleArn). Empty for every other consumer.
            "createNamePatterns": {
                c.name: aws_secret_name(self.ctx.config.environment, runtime_token_path(c.name, "*"))
                for c in catalog.classes_created_by(consumer)
            },
            "onboardingPolicyArn": (self.access.onboarding_policy_arn or "")
            if catalog.classes_created_by(consumer)
            else "",
        }

    def rotation_outputs(self) -> dict[str, object] | None:
        if self.rotation is None:
            return None
        # Which reminders are scheduled depends on the day (an overdue secret has none): the plan's calendar
        # and python -m infra.due say so, not an output.
        return {
            "awsRotationFunctionArn": self.rotation.function_arn,
            "awsRotationAlarmTopicArn": self.rotation.alarm_topic_arn,
            "awsRotationAlarms": list(self.rotation.alarm_names),
            "awsReminderTopicArn": self.rotation.topic_arn,
        }

    def webhook_outputs(self) -> dict[str, object] | None:
        if self.webhook is None:
            return None
        return {
            "awsWebhookUrl": self.webhook.url,
            "awsWebhookQueueUrl": self.webhook.queue_url,
            "awsWebhookQueueArn": self.webhook.queue_arn,
            "awsWebhookDlqUrl": self.webhook.dlq_url,
            "awsWebhookDlqArn": self.webhook.dlq_arn,
            "awsWebhookAlarmTopicArn": self.webhook.alarm_topic_arn,
        }


#: EventBridge Scheduler schedule names: at most 64 characters.
SCHEDULE_NAME_MAX = 64


def _schedule_slug(environment: str, slug: str) -> str:
    """``slug``, shortened with a hash of it when ``makini-<env>-<slug>-reminder`` would pass 64 characters."""
    room = SCHEDULE_NAME_MAX - len(f"makini-{environment}--reminder")
    if len(slug) <= room:
        return slug
    digest = hashlib.sha256(slug.encode()).hexdigest()[:8]
    return f"{slug[: room - 9].rstrip('-')}-{digest}"


def aws_reminders(cfg: StackConfig, today: date) -> list[Reminder]:
    """The reminders of the hand-issued secrets and the NetSuite certificates as of ``today``: each at its moment,
    or with a note saying why none is scheduled. Pure (the plan's rotation calendar shows them too)."""
    reminders = []
    for path, deadline in reminder_deadlines(cfg).items():
        what, key, where = HAND_ISSUED[path]
        slug = path.replace("/", "-")
        note = reminder_note(cfg, path, deadline, today)
        if deadline is None:
            reminders.append(Reminder(path, slug, None, "", "", note=note))
            continue
        moment = reminder_moment(deadline, today)
        subject = f"makini-infra {cfg.environment}: rotate the {what} by {deadline.due.isoformat()}"
        message = (
            f"The Makini {what} of environment {cfg.environment} ({aws_secret_name(cfg.environment, path)}) was issued on "
            f"{deadline.rotated_on.isoformat()} and reaches its {deadline.max_age_days}-day maximum age on "
            f"{deadline.due.isoformat()}. Issue a new one on {where}, store it, then set "
            f"makini:rotation.{key} to the new date."
        )
        reminders.append(Reminder(path, slug, moment, subject, message, note=note))
    return reminders + _netsuite_reminders(cfg, today)


def _netsuite_reminders(cfg: StackConfig, today: date) -> list[Reminder]:
    """One reminder per NetSuite M2M certificate, at its renew-by date (``renewalReminderDays`` before its
    recorded notAfter), to the same topic as the hand-issued secrets'."""
    out = []
    for i, conn in enumerate(cfg.connections):
        ns = conn.netsuite
        if ns is None:
            continue
        path = netsuite_m2m_key_path(conn.key)
        slug = _schedule_slug(cfg.environment, f"netsuite-{conn.key}")
        if ns.certificate_not_after is None:
            out.append(
                Reminder(
                    path,
                    slug,
                    None,
                    "",
                    "",
                    note=(
                        f"{cfg.environment}: no reminder for the NetSuite certificate of {conn.key}: record its "
                        f"notAfter (stack output netsuiteCertificateNotAfter, key {conn.key}) with pulumi config set "
                        f"--path 'makini:connections[{i}].netsuite.certificateNotAfter' <notAfter>"
                    ),
                )
            )
            continue
        end = ns.certificate_not_after.astimezone(UTC).date()
        validity = ns.certificate_validity_days
        deadline = Deadline(end - timedelta(days=validity), validity, ns.renewal_reminder_days)
        moment = reminder_moment(deadline, today)
        subject = f"makini-infra {cfg.environment}: renew the NetSuite certificate of {conn.key} by {end.isoformat()}"
        message = (
            f"The NetSuite M2M certificate of connection {conn.key} in {cfg.environment} expires on "
            f"{end.isoformat()}; NetSuite then refuses the connection. Replace the key pair (pulumi up --replace on "
            "its tls:index/privateKey:PrivateKey), upload the new certificate to the integration record, and record "
            f"the new notAfter in makini:connections[{i}].netsuite.certificateNotAfter."
        )
        note = "" if moment else f"{cfg.environment}: the NetSuite certificate of {conn.key} has expired: renew it now"
        out.append(Reminder(path, slug, moment, subject, message, note=note))
    return out
