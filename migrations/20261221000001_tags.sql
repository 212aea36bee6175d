-- One tag store for every EC2 resource, whichever service owns it (crate kumo-tags):
-- compute's and network's tags move here and their own tables go.
CREATE SCHEMA IF NOT EXISTS tags;

CREATE TABLE tags.tags (
    account_id  text NOT NULL,
    resource_id text NOT NULL,
    key         text NOT NULL,
    value       text NOT NULL DEFAULT '',
    PRIMARY KEY (account_id, resource_id, key)
);
-- `tag:`/`tag-key` lookups within an account, and purging a resource's tags by id.
CREATE INDEX tags_by_key ON tags.tags (account_id, key, value);
CREATE INDEX tags_by_resource ON tags.tags (resource_id);

INSERT INTO tags.tags (account_id, resource_id, key, value)
    SELECT account_id, resource_id, key, value FROM compute.tags
    ON CONFLICT DO NOTHING;
INSERT INTO tags.tags (account_id, resource_id, key, value)
    SELECT account_id, resource_id, key, value FROM network.tags
    ON CONFLICT DO NOTHING;

DROP TABLE compute.tags;
DROP TABLE network.tags;
