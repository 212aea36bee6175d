-- The web console (issue 11): disabled accounts and the console's own access keys.

-- A disabled account's users cannot log in; their tokens and access keys are refused.
ALTER TABLE identity.accounts ADD COLUMN enabled boolean NOT NULL DEFAULT true;

-- Console keys sign the presigned S3 URLs the browser uses. They expire (an hour), are
-- never listed with the user's own keys and do not count against the two-key limit.
ALTER TABLE identity.access_keys
    ADD COLUMN expires_at timestamptz NULL,
    ADD COLUMN purpose text NOT NULL DEFAULT 'user' CHECK (purpose IN ('user', 'console'));
CREATE INDEX access_keys_console_by_user ON identity.access_keys (user_id, expires_at)
    WHERE purpose = 'console';

-- Disabling or enabling an account changes what every cached user of it may do.
CREATE FUNCTION identity.notify_account_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('kumo_identity', 'account:' || OLD.account_id);
    ELSE
        PERFORM pg_notify('kumo_identity', 'account:' || NEW.account_id);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER accounts_notify AFTER UPDATE OR DELETE ON identity.accounts
    FOR EACH ROW EXECUTE FUNCTION identity.notify_account_change();
