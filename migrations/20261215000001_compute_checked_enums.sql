-- Every enum-like TEXT column of the compute schema is CHECKed, so the Rust enums that map
-- them (InstanceState, DesiredState, InstanceKind, ShutdownBehavior, HostState, ImageState)
-- can always decode what they read. The instance, host and image columns were checked from
-- the start; these two were not. Every value written so far passes.
ALTER TABLE compute.hosts
    ADD CONSTRAINT hosts_kinds_check CHECK (kinds <@ ARRAY['vm', 'container']::text[]);
ALTER TABLE compute.key_pairs
    ADD CONSTRAINT key_pairs_key_type_check CHECK (key_type IN ('rsa', 'ed25519', 'ecdsa'));
