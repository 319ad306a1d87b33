"""The keeper of an environment's run-time secrets on AWS (``keeper.aws_lambda.handler``).

Every secret the onboarding identity creates at ``makini/<env>/connections/<run-time class>/<id>/token`` gets its
class's resource policy and, when the environment rotates tokens, rotation with the environment's function:
right after it is created (the onboarding client invokes the keeper with the secret's name or ARN) and on a
schedule (a sweep over the run-time classes). See aws_lambda.py and docs/access-at-scale.md.
"""
