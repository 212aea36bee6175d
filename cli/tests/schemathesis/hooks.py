"""Schemathesis hooks for cli/tests/schemathesis.rs.

The run authenticates as the operator with one bearer token. Generated requests may name
the operator itself (schemathesis feeds ids it saw in responses, e.g. from GET /v1/accounts,
back into other operations), and demoting, deleting, re-passwording or signing out the
operator would revoke that token and turn the rest of the run into 401s. Such requests are
pointed at a user that does not exist instead: everything else, for every other user, is
exercised as generated.

`no_server_error` replaces schemathesis's `not_a_server_error`: the cloud under test runs
without a compute agent, so a well-formed POST /v1/instances rightly answers 503
`InsufficientCapacity` (retry later). Every other 5xx fails the run.
"""

import json
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


@schemathesis.check
def no_server_error(ctx, response, case):
    if response.status_code < 500:
        return None
    try:
        code = json.loads(response.content)["error"]["code"]
    except (ValueError, KeyError, TypeError):
        code = None
    if response.status_code == 503 and code == "InsufficientCapacity":
        return None
    raise AssertionError(
        f"server error {response.status_code} {code}: {response.content[:300]!r}"
    )
