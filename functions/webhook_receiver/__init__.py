"""Makini webhook receiver: verification core plus AWS Lambda and Azure Functions handlers.

Kept import-free so that ``webhook_receiver.aws_lambda`` pulls in only the standard library
and boto3 (cold start). See README.md for the contract.
"""
