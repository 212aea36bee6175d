-- Issue 10, operators drain a storage node's volumes: new replicas are never placed on a
-- draining node, and each of its replicas gets a replacement elsewhere in the zone; the
-- drained replica is removed once its replacement (replaced_by: that node) is in sync.
CREATE TABLE block_storage.node_drains (
    node_id text PRIMARY KEY,
    since   timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE block_storage.volume_replicas ADD COLUMN replaced_by text;
