//! Hot-plugging NICs into a running VM over QMP (a VPC's secondary interfaces).
//!
//! A hot-plugged NIC is a `virtio-net-pci` device whose QOM id is the network
//! interface's id (`eni-…`), on a tap netdev with id `net-<interface id>` that QEMU opens
//! by name (`ifname=`, the tap made beforehand in QEMU's own network namespace). Which
//! NICs a VM has is read back from QEMU (`qom-list /machine/peripheral` and each device's
//! `mac`), so nothing is recorded locally and a restarted agent adopts them.
//!
//! Removal is guest-cooperative (ACPI hot-plug): `device_del` asks the guest, and the
//! device goes once it lets go; the netdev is deleted at once (QEMU closes the tap and
//! keeps the NIC unplugged from it until the device goes).

use std::collections::BTreeMap;

use kumo_common::ids::{InstanceId, NetworkInterfaceId};
use serde_json::{json, Value};

use super::qmp::QmpClient;
use super::{VmRuntime, QMP_SOCKET, QMP_TIMEOUT};
use crate::error::{NodeError, Result};
use crate::network::{validate_link_name, validate_mac};

/// Where QEMU lists the devices added by id (`-device` or `device_add`).
const PERIPHERALS: &str = "/machine/peripheral";

/// One NIC to hot-plug.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HotplugNic {
    /// The network interface's id (`eni-…`): the device's id.
    pub network_interface_id: String,
    /// The tap QEMU opens (existing, in QEMU's network namespace).
    pub tap: String,
    pub mac: String,
}

/// The netdev id of a hot-plugged NIC.
pub fn netdev_id(network_interface_id: &str) -> String {
    format!("net-{network_interface_id}")
}

impl VmRuntime {
    /// The hot-plugged NICs of a running VM: interface id → MAC (devices whose id is an
    /// interface id; the primary NIC has none).
    pub async fn hotplugged_nics(&self, instance_id: &str) -> Result<BTreeMap<String, String>> {
        let mut qmp = self.connect_qmp(instance_id).await?;
        let children = qmp
            .execute("qom-list", Some(json!({ "path": PERIPHERALS })))
            .await?;
        let mut nics = BTreeMap::new();
        for child in children.as_array().into_iter().flatten() {
            let Some(name) = child.get("name").and_then(Value::as_str) else {
                continue;
            };
            let is_nic = child
                .get("type")
                .and_then(Value::as_str)
                .is_some_and(|t| t.starts_with("child<"));
            if !is_nic || NetworkInterfaceId::parse(name).is_err() {
                continue;
            }
            let mac = qmp
                .execute(
                    "qom-get",
                    Some(json!({ "path": format!("{PERIPHERALS}/{name}"), "property": "mac" })),
                )
                .await?;
            nics.insert(
                name.to_string(),
                mac.as_str().unwrap_or_default().to_ascii_lowercase(),
            );
        }
        Ok(nics)
    }

    /// Add `nic` to the running VM: its tap netdev (kept if already there) and its
    /// `virtio-net-pci` device.
    pub async fn plug_nic(&self, instance_id: &str, nic: &HotplugNic) -> Result<()> {
        NetworkInterfaceId::parse(&nic.network_interface_id)?;
        validate_link_name(&nic.tap)?;
        validate_mac(&nic.mac)?;
        let netdev = netdev_id(&nic.network_interface_id);
        let mut qmp = self.connect_qmp(instance_id).await?;
        let added = qmp
            .execute(
                "netdev_add",
                Some(json!({
                    "type": "tap",
                    "id": netdev,
                    "ifname": nic.tap,
                    "script": "no",
                    "downscript": "no",
                })),
            )
            .await;
        match added {
            Ok(_) => {}
            // Left by an interrupted plug: reuse it.
            Err(NodeError::Qmp(message)) if message.contains("Duplicate") => {}
            Err(e) => return Err(e),
        }
        qmp.execute(
            "device_add",
            Some(json!({
                "driver": "virtio-net-pci",
                "id": nic.network_interface_id,
                "netdev": netdev,
                "mac": nic.mac.to_ascii_lowercase(),
            })),
        )
        .await?;
        tracing::info!(
            instance = instance_id,
            interface = nic.network_interface_id,
            tap = nic.tap,
            "hot-plugged a NIC"
        );
        Ok(())
    }

    /// Ask the guest to release the NIC of `network_interface_id` and delete its netdev
    /// (either already gone is fine).
    pub async fn unplug_nic(&self, instance_id: &str, network_interface_id: &str) -> Result<()> {
        NetworkInterfaceId::parse(network_interface_id)?;
        let mut qmp = self.connect_qmp(instance_id).await?;
        for (command, id) in [
            ("device_del", network_interface_id.to_string()),
            ("netdev_del", netdev_id(network_interface_id)),
        ] {
            match qmp.execute(command, Some(json!({ "id": id }))).await {
                Ok(_) => {}
                Err(NodeError::Qmp(message)) if message.contains("DeviceNotFound") => {}
                // A second request while the guest has not answered the first.
                Err(NodeError::Qmp(message)) if message.contains("in the process of unplug") => {}
                Err(e) => return Err(e),
            }
        }
        tracing::info!(
            instance = instance_id,
            interface = network_interface_id,
            "unplugged a NIC"
        );
        Ok(())
    }

    pub(super) async fn connect_qmp(&self, instance_id: &str) -> Result<QmpClient> {
        InstanceId::parse(instance_id)?;
        let socket = self.instance_dir(instance_id).join(QMP_SOCKET);
        QmpClient::connect(&socket, QMP_TIMEOUT).await
    }
}
