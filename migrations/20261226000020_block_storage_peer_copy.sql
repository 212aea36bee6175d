-- Issue 10, rebuild of a detached volume's replica: a replacement replica is copied by its
-- storage node from an in-sync peer's export (ReplicaSource::Peer).
--   due:      to be copied from a peer while the volume has no attachment;
--   copying:  the peer's credentials were handed to the node; a ready report with the
--             volume still detached makes the replica in sync;
--   spoiled:  the volume was attached during the copy (a guest may have written to the
--             peer meanwhile): the copy never counts, the attached host rebuilds it.
ALTER TABLE block_storage.volume_replicas
    ADD COLUMN peer_copy text CHECK (peer_copy IN ('due', 'copying', 'spoiled'));
