-- Accounts whose default VPC has been made (lazily, the first time the account needs
-- it). A default VPC the tenant deletes is not made again behind its back: only
-- CreateDefaultVpc makes another, as in AWS.
CREATE TABLE network.default_vpcs_made (
    account_id text PRIMARY KEY,
    made_at    timestamptz NOT NULL DEFAULT now()
);
