-- EBS-backed instances (issue 10): a VM launched from an image with a disk boots from a
-- root volume created for it; RunInstances' BlockDeviceMapping adds more volumes.

-- The image disk a new volume's replicas start from (copy-on-write), for root volumes.
ALTER TABLE block_storage.volumes ADD COLUMN source_disk text;

-- The instance boots from this volume (its root): plugged before the guest starts.
ALTER TABLE block_storage.attachments ADD COLUMN boot boolean NOT NULL DEFAULT false;

-- The root device of an EBS-backed instance (`/dev/xvda`); NULL: instance store.
ALTER TABLE compute.instances ADD COLUMN root_device_name text;
