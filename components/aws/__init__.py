"""AWS: the Secrets Manager store, consumer roles and access, the webhook endpoint and token rotation."""
