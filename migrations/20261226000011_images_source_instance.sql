-- CreateImage's source instance (DescribeImages' sourceInstanceId).
ALTER TABLE compute.images ADD COLUMN source_instance_id text;
