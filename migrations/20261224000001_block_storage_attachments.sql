-- Volume attachments (AttachVolume / DetachVolume): one per volume (no Multi-Attach). The
-- row lives from AttachVolume (attaching) until the compute agent reports the device gone
-- after DetachVolume (detaching), or a forced detach; a detached attachment has no row.
CREATE TABLE block_storage.attachments (
    volume_id     text PRIMARY KEY REFERENCES block_storage.volumes (volume_id),
    account_id    text NOT NULL,
    instance_id   text NOT NULL,
    device        text NOT NULL,
    state         text NOT NULL DEFAULT 'attaching'
                  CHECK (state IN ('attaching', 'attached', 'detaching')),
    delete_on_termination boolean NOT NULL DEFAULT false,
    attached_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (instance_id, device)
);
CREATE INDEX attachments_instance ON block_storage.attachments (instance_id);
