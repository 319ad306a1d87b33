"""Runtime code deployed to Lambda, Azure Functions and the Vault rotator job; never imports Pulumi or the infrastructure code."""
