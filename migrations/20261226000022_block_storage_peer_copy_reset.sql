-- Issue 10, rebuild of a detached volume's stale replica on its own node (a returned node's,
-- or a copy spoiled by an attach): `reset` = the node deletes it (desired absent), then it is
-- wanted again (`due`) and copied from an in-sync peer like a replacement.
ALTER TABLE block_storage.volume_replicas
    DROP CONSTRAINT volume_replicas_peer_copy_check,
    ADD CONSTRAINT volume_replicas_peer_copy_check
        CHECK (peer_copy IN ('due', 'copying', 'spoiled', 'reset'));
