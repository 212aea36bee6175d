-- Idempotency tokens of the network service's EC2 create actions (CreateRouteTable,
-- CreateNetworkInterface): per account and action, the resource the first request made and
-- a fingerprint of its parameters (a retry with other parameters is
-- IdempotentParameterMismatch). The primary key is the claim: a concurrent twin waits on it.
CREATE TABLE network.client_tokens (
    account_id   text NOT NULL,
    action       text NOT NULL,
    client_token text NOT NULL CHECK (length(client_token) BETWEEN 1 AND 64),
    fingerprint  text NOT NULL,
    resource_id  text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, action, client_token)
);
