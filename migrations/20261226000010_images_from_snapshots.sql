-- Images from EBS snapshots (CreateImage, RegisterImage with a root snapshot): an image is
-- `pending` until its snapshots are completed, then `available` (`failed` when one errors).
ALTER TABLE compute.images DROP CONSTRAINT images_state_check;
ALTER TABLE compute.images ADD CONSTRAINT images_state_check
    CHECK (state IN ('pending', 'available', 'failed', 'deregistered'));

-- An EBS image's block device mapping: each device's volume is made from its snapshot (or
-- empty, of its size) when the image launches.
CREATE TABLE compute.image_block_devices (
    image_id              text NOT NULL REFERENCES compute.images (image_id) ON DELETE CASCADE,
    device_name           text NOT NULL,
    snapshot_id           text,
    volume_size_gib       bigint NOT NULL CHECK (volume_size_gib > 0),
    volume_type           text NOT NULL,
    delete_on_termination boolean NOT NULL,
    PRIMARY KEY (image_id, device_name)
);
CREATE INDEX image_block_devices_snapshot ON compute.image_block_devices (snapshot_id);

-- Contract view for block storage: the snapshots a registered image uses (DeleteSnapshot
-- answers InvalidSnapshot.InUse for them, as AWS does).
CREATE VIEW compute.snapshots_in_use AS
    SELECT d.snapshot_id, d.image_id
    FROM compute.image_block_devices d JOIN compute.images i USING (image_id)
    WHERE i.state <> 'deregistered' AND d.snapshot_id IS NOT NULL;
