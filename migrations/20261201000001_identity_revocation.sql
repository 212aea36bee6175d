-- Token revocation and credential-cache invalidation.
--
-- A user can be disabled; every login token carries the user's token generation, and
-- bumping it (sign out everywhere, a role or password change, disabling) revokes every
-- token issued before. A single token is revoked (logout) by listing its id until it
-- would have expired anyway.
ALTER TABLE identity.users
    ADD COLUMN enabled boolean NOT NULL DEFAULT true,
    ADD COLUMN token_generation bigint NOT NULL DEFAULT 0;

CREATE TABLE identity.revoked_tokens (
    jti        text PRIMARY KEY,
    user_id    text NOT NULL REFERENCES identity.users (user_id) ON DELETE CASCADE,
    -- The token's own expiry: after it the row is useless and is purged.
    expires_at timestamptz NOT NULL
);
CREATE INDEX revoked_tokens_by_user ON identity.revoked_tokens (user_id);

-- Every process caches credentials (access keys, users, signing keys) and listens on
-- `kumo_identity`; any change to them, by any process or by hand, tells every cache to
-- drop what it holds. NOTIFY is delivered at commit, so no cache reloads too early.
CREATE FUNCTION identity.notify_user_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('kumo_identity', 'user:' || OLD.user_id);
    ELSE
        PERFORM pg_notify('kumo_identity', 'user:' || NEW.user_id);
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION identity.notify_access_key_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('kumo_identity', 'key:' || OLD.access_key_id);
    ELSE
        PERFORM pg_notify('kumo_identity', 'key:' || NEW.access_key_id);
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION identity.notify_signing_key_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('kumo_identity', 'signing-key:' || OLD.kid);
    ELSE
        PERFORM pg_notify('kumo_identity', 'signing-key:' || NEW.kid);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER users_notify AFTER INSERT OR UPDATE OR DELETE ON identity.users
    FOR EACH ROW EXECUTE FUNCTION identity.notify_user_change();
CREATE TRIGGER revoked_tokens_notify AFTER INSERT OR UPDATE OR DELETE ON identity.revoked_tokens
    FOR EACH ROW EXECUTE FUNCTION identity.notify_user_change();
CREATE TRIGGER access_keys_notify AFTER INSERT OR UPDATE OR DELETE ON identity.access_keys
    FOR EACH ROW EXECUTE FUNCTION identity.notify_access_key_change();
CREATE TRIGGER signing_keys_notify AFTER INSERT OR UPDATE OR DELETE ON identity.signing_keys
    FOR EACH ROW EXECUTE FUNCTION identity.notify_signing_key_change();
