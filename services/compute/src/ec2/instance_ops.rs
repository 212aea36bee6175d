//! EC2 RunInstances, DescribeInstances, Start/Stop/Reboot/TerminateInstances, DescribeInstanceStatus and GetConsoleOutput.

use super::*;

pub(super) fn instance_ids(p: Params<'_>) -> Result<Vec<String>> {
    let ids = p.list("InstanceId")?;
    if ids.is_empty() {
        return Err(ComputeError::Missing("InstanceId".into()));
    }
    Ok(ids)
}

// ---------------------------------------------------------------- instances

pub(super) async fn run_instances(
    compute: &Compute,
    caller: &Principal,
    p: Params<'_>,
) -> Result<String> {
    let image_id = p.required("ImageId")?.to_string();
    let min_count = p.required_int("MinCount")?;
    let max_count = p.required_int("MaxCount")?;
    let user_data_bytes = match p.string("UserData").filter(|u| !u.trim().is_empty()) {
        Some(text) => Some(api::decode_user_data(text)?),
        None => None,
    };
    // Volumes and interfaces are not separate resources here: their tags have nowhere to go.
    let tags: BTreeMap<String, String> = p
        .tags_for("instance", &["volume", "network-interface"])?
        .into_iter()
        .collect();
    let input = RunInstances {
        image_id,
        instance_type: p.string("InstanceType").map(str::to_string),
        min_count: Some(min_count),
        max_count: Some(max_count),
        key_name: p.string("KeyName").map(str::to_string),
        user_data: None,
        user_data_bytes,
        client_token: p.string("ClientToken").map(str::to_string),
        tags,
        availability_zone: p
            .string("Placement.AvailabilityZone")
            .filter(|z| !z.is_empty())
            .map(str::to_string),
        disable_api_termination: p.bool("DisableApiTermination")?,
        shutdown_behavior: p
            .string("InstanceInitiatedShutdownBehavior")
            .map(str::to_string),
    };
    p.bool("EbsOptimized")?;
    let reservation = instances::run(compute, caller, &input).await?;
    let types = instance_types::list(&compute.pool).await?;
    Ok(xml::reservation_xml(&reservation, &types))
}

pub(super) async fn describe_instances(
    compute: &Compute,
    caller: &Principal,
    p: Params<'_>,
) -> Result<String> {
    let query = DescribeQuery {
        instance_ids: p.list("InstanceId")?,
        filters: p.filters()?,
        max_results: p.int("MaxResults")?,
        next_token: p
            .string("NextToken")
            .filter(|t| !t.is_empty())
            .map(str::to_string),
    };
    let (found, next_token) = instances::describe(&compute.pool, caller, &query).await?;
    let types = instance_types::list(&compute.pool).await?;
    Ok(xml::describe_instances_xml(
        &xml::group_reservations(found),
        next_token.as_deref(),
        &types,
    ))
}

pub(super) async fn start_instances(
    compute: &Compute,
    caller: &Principal,
    p: Params<'_>,
) -> Result<String> {
    let ids = instance_ids(p)?;
    Ok(xml::state_changes_xml(
        &instances::start(&compute.pool, caller, &ids).await?,
    ))
}

pub(super) async fn stop_instances(
    compute: &Compute,
    caller: &Principal,
    p: Params<'_>,
) -> Result<String> {
    let ids = instance_ids(p)?;
    // Accepted and ignored: every stop is a clean one.
    p.bool("Force")?;
    p.bool("Hibernate")?;
    Ok(xml::state_changes_xml(
        &instances::stop(&compute.pool, caller, &ids).await?,
    ))
}

pub(super) async fn terminate_instances(
    compute: &Compute,
    caller: &Principal,
    p: Params<'_>,
) -> Result<String> {
    let ids = instance_ids(p)?;
    Ok(xml::state_changes_xml(
        &instances::terminate(&compute.pool, caller, &ids).await?,
    ))
}

pub(super) async fn reboot_instances(
    compute: &Compute,
    caller: &Principal,
    p: Params<'_>,
) -> Result<String> {
    let ids = instance_ids(p)?;
    instances::reboot(&compute.pool, caller, &ids).await?;
    Ok(xml::return_true())
}

/// The instance states whose status is `status` (`ok` when running, else `not-applicable`).
pub(super) fn states_with_status(values: &[String], reachability: bool) -> Vec<String> {
    let all = [
        "pending",
        "running",
        "stopping",
        "stopped",
        "shutting-down",
        "terminated",
    ];
    let wanted = kumo_describe::ValueSet::new(values);
    let mut states = BTreeSet::new();
    for state in all {
        let running = state == "running";
        let status = match (reachability, running) {
            (false, true) => "ok",
            (false, false) => "not-applicable",
            (true, true) => "passed",
            (true, false) => "",
        };
        if !status.is_empty() && wanted.matches(status) {
            states.insert(state.to_string());
        }
    }
    states.into_iter().collect()
}

pub(super) async fn describe_instance_status(
    compute: &Compute,
    caller: &Principal,
    p: Params<'_>,
) -> Result<String> {
    let include_all = p.bool("IncludeAllInstances")?.unwrap_or(false);
    let mut filters = Vec::new();
    for filter in p.filters()? {
        match filter.name.as_str() {
            "availability-zone" | "instance-state-name" | "instance-state-code" => {
                filters.push(filter)
            }
            "instance-status.status" | "system-status.status" => filters.push(Filter {
                name: "instance-state-name".into(),
                values: states_with_status(&filter.values, false),
            }),
            "instance-status.reachability" | "system-status.reachability" => filters.push(Filter {
                name: "instance-state-name".into(),
                values: states_with_status(&filter.values, true),
            }),
            other => return Err(kumo_describe::filters::invalid_filter(other).into()),
        }
    }
    if !include_all {
        filters.push(Filter {
            name: "instance-state-name".into(),
            values: vec!["running".into()],
        });
    }
    let query = DescribeQuery {
        instance_ids: p.list("InstanceId")?,
        filters,
        max_results: p.int("MaxResults")?,
        next_token: p
            .string("NextToken")
            .filter(|t| !t.is_empty())
            .map(str::to_string),
    };
    let (found, next_token) = instances::describe(&compute.pool, caller, &query).await?;
    Ok(xml::instance_status_xml(&found, next_token.as_deref()))
}

pub(super) async fn get_console_output(
    compute: &Compute,
    caller: &Principal,
    p: Params<'_>,
) -> Result<String> {
    let instance_id = p.required("InstanceId")?;
    p.bool("Latest")?;
    let (output, at) = instances::console_output(&compute.pool, caller, instance_id).await?;
    Ok(xml::console_output_xml(
        instance_id,
        &output,
        &at.unwrap_or_else(chrono::Utc::now),
    ))
}
