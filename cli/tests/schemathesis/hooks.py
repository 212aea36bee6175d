"""Schemathesis hooks for cli/tests/schemathesis.rs.

The run authenticates as the operator with one bearer token. Generated requests may name
the operator itself (schemathesis feeds ids it saw in responses, e.g. from GET /v1/accounts,
back into other operations), and demoting, deleting, re-passwording or signing out the
operator would revoke that token and turn the rest of the run into 401s. Such requests are
pointed at a user that does not exist instead: everything else, for every other user, is
exercised as generated.
"""

import os

import schemathesis

OPERATOR_ACCOUNT = os.environ.get("KUMO_ST_OPERATOR_ACCOUNT", "")
OPERATOR_USER = os.environ.get("KUMO_ST_OPERATOR_USER", "operator")
SPARED = "spared-by-schemathesis-hooks"


@schemathesis.hook
def before_call(context, case, kwargs):
    params = case.path_parameters
    if not params or "user_name" not in params:
        return
    if case.method.upper() == "GET":
        return
    account = str(params.get("account_id", ""))
    if account in (OPERATOR_ACCOUNT, "operator") and str(params["user_name"]) == OPERATOR_USER:
        params["user_name"] = SPARED
