-- Issue 10, replica loss and rebuild: whether a replica holds every acknowledged write.
-- A replica a compute host reported failed (a write to it failed) or rebuilding is stale
-- until the host reports it in sync again; a replacement replica starts stale. A stale
-- replica never serves reads (hosts plug only in-sync replicas and rebuild the others),
-- and snapshots read only in-sync ones.
ALTER TABLE block_storage.volume_replicas
    ADD COLUMN in_sync boolean NOT NULL DEFAULT true,
    ADD COLUMN sync_changed_at timestamptz;
