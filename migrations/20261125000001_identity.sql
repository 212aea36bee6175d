-- Identity service schema: accounts (tenants), users, access keys, JWT signing keys.
CREATE SCHEMA IF NOT EXISTS identity;

CREATE TABLE identity.accounts (
    account_id  text PRIMARY KEY CHECK (account_id ~ '^[1-9][0-9]{11}$'),
    name        text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 64),
    -- The one account that holds the cloud's operators; created at first start.
    is_operator boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX accounts_one_operator ON identity.accounts (is_operator) WHERE is_operator;

CREATE TABLE identity.users (
    user_id       text PRIMARY KEY,
    account_id    text NOT NULL REFERENCES identity.accounts (account_id) ON DELETE CASCADE,
    user_name     text NOT NULL,
    role          text NOT NULL CHECK (role IN ('operator', 'admin', 'member', 'reader')),
    password_hash text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (account_id, user_name)
);

CREATE TABLE identity.access_keys (
    access_key_id     text PRIMARY KEY,
    user_id           text NOT NULL REFERENCES identity.users (user_id) ON DELETE CASCADE,
    account_id        text NOT NULL REFERENCES identity.accounts (account_id) ON DELETE CASCADE,
    -- AES-256-GCM under the master key; the plaintext is needed to check SigV4 signatures.
    secret_ciphertext bytea NOT NULL,
    secret_nonce      bytea NOT NULL,
    status            text NOT NULL DEFAULT 'Active' CHECK (status IN ('Active', 'Inactive')),
    created_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX access_keys_by_user ON identity.access_keys (user_id);

CREATE TABLE identity.signing_keys (
    kid               text PRIMARY KEY,
    secret_ciphertext bytea NOT NULL,
    secret_nonce      bytea NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    -- Set when a newer key takes over signing; a retired key still verifies tokens it
    -- signed until they expire, then it is deleted.
    retired_at        timestamptz
);

-- Proves at start-up that the configured master key is the one the secrets were sealed with.
CREATE TABLE identity.master_key_check (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    ciphertext bytea NOT NULL,
    nonce      bytea NOT NULL
);
