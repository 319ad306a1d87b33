"""The makini-baseline policy pack: ``pulumi preview --policy-pack policy`` runs this file.

Constructing ``PolicyPack`` starts the analyzer's gRPC server and blocks, so it happens only here; the
policies themselves live in ``policies.py`` (imported by the tests without side effects).
"""

from policies import ALL_POLICIES, ENFORCEMENT, PACK_NAME  # the pack's folder is on sys.path
from pulumi_policy import PolicyPack

PolicyPack(PACK_NAME, enforcement_level=ENFORCEMENT, policies=list(ALL_POLICIES))
