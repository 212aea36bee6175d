//! The instance state machine as one pure function: what a tenant's request (start, stop,
//! reboot, terminate) or an agent's observation does to an instance, given its state and
//! desired state. The domain functions (`instances::start`, …, `hosts::sync`) only load
//! rows, call [`transition`] and apply what it decides. docs/compute.md shows the table.

use kumo_compute_protocol::{DesiredState, ObservedState};

use super::{InstanceState, ShutdownBehavior};

/// What the state machine looks at in an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InstanceFacts {
    pub state: InstanceState,
    pub desired: DesiredState,
    pub shutdown_behavior: ShutdownBehavior,
    /// `disableApiTermination`.
    pub termination_protected: bool,
    /// Placed on a host (without one, nothing runs anywhere to be stopped).
    pub on_host: bool,
}

/// What happened to the instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event<'a> {
    /// StartInstances.
    Start,
    /// StopInstances.
    Stop,
    /// RebootInstances.
    Reboot,
    /// TerminateInstances.
    Terminate,
    /// An agent's report of what it sees on its host.
    Observed(Observation<'a>),
}

/// One instance as its agent reported it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observation<'a> {
    pub state: ObservedState,
    /// The agent acted on the instance's current generation: a report about an older
    /// generation cannot undo a newer request.
    pub current_generation: bool,
    /// The agent's words on why, when the host could not run it.
    pub detail: Option<&'a str>,
}

/// What the caller does to the instance's row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Nothing changes.
    None,
    /// Record the new state, desired state and reason.
    Update,
    /// Ask the agent for a reboot (the state stays).
    Reboot,
    /// Nothing is left on the host (or there never was a host): the instance is
    /// terminated, its capacity and address are given back.
    FinishTermination,
}

/// The outcome of an event: the instance's state, desired state and reason afterwards,
/// and what to do to get there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub state: InstanceState,
    pub desired: DesiredState,
    /// The state reason with [`Action::Update`]: requests write it as is (`None` clears
    /// it), observations only when it is `Some`.
    pub reason: Option<String>,
    pub action: Action,
}

/// Why a request is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The instance is not in a state from which it can be (the verb).
    IncorrectState(&'static str),
    /// Terminating an instance with `disableApiTermination`.
    TerminationProtected,
}

const USER_INITIATED: &str = "User initiated";
const USER_SHUTDOWN: &str = "Client.UserInitiatedShutdown: User initiated shutdown";
const INSTANCE_SHUTDOWN: &str = "Client.InstanceInitiatedShutdown: Instance initiated shutdown";

/// The state machine: AWS's `pending → running → stopping → stopped → pending …`, and
/// `shutting-down → terminated` from any state. Requests move the state at once and set
/// the desired state agents converge to; observations complete the move.
pub fn transition(instance: &InstanceFacts, event: Event<'_>) -> Result<Transition, Refusal> {
    use InstanceState as S;
    let InstanceFacts { state, desired, .. } = *instance;
    let keep = Transition {
        state,
        desired,
        reason: None,
        action: Action::None,
    };
    let update = |state, desired, reason: Option<&str>| Transition {
        state,
        desired,
        reason: reason.map(str::to_owned),
        action: Action::Update,
    };
    let terminated = Transition {
        state: S::Terminated,
        desired: DesiredState::Terminated,
        reason: None,
        action: Action::FinishTermination,
    };
    Ok(match event {
        Event::Start => match state {
            S::Stopped => update(S::Pending, DesiredState::Running, None),
            S::Pending | S::Running => keep,
            S::Stopping | S::ShuttingDown | S::Terminated => {
                return Err(Refusal::IncorrectState("started"))
            }
        },
        Event::Stop => match state {
            S::Pending | S::Running => {
                update(S::Stopping, DesiredState::Stopped, Some(USER_INITIATED))
            }
            S::Stopping | S::Stopped => keep,
            S::ShuttingDown | S::Terminated => return Err(Refusal::IncorrectState("stopped")),
        },
        Event::Reboot => match state {
            S::Pending | S::Running => Transition {
                action: Action::Reboot,
                ..keep
            },
            S::Stopping | S::Stopped => keep,
            S::ShuttingDown | S::Terminated => return Err(Refusal::IncorrectState("rebooted")),
        },
        Event::Terminate => match state {
            _ if instance.termination_protected && state != S::Terminated => {
                return Err(Refusal::TerminationProtected)
            }
            S::ShuttingDown | S::Terminated => keep,
            _ if !instance.on_host => terminated,
            _ => update(
                S::ShuttingDown,
                DesiredState::Terminated,
                Some(USER_INITIATED),
            ),
        },
        Event::Observed(observation) => observed(instance, observation).unwrap_or(keep),
    })
}

/// An agent's observation; `None` when it changes nothing.
fn observed(instance: &InstanceFacts, observation: Observation<'_>) -> Option<Transition> {
    use InstanceState as S;
    let (state, desired) = (instance.state, instance.desired);
    let update = |state, desired, reason: Option<String>| Transition {
        state,
        desired,
        reason,
        action: Action::Update,
    };
    match observation.state {
        ObservedState::Absent => (desired == DesiredState::Terminated && state != S::Terminated)
            .then_some(Transition {
                state: S::Terminated,
                desired: DesiredState::Terminated,
                reason: None,
                action: Action::FinishTermination,
            }),
        ObservedState::Running => (state == S::Pending && desired == DesiredState::Running)
            .then(|| update(S::Running, DesiredState::Running, None)),
        ObservedState::Stopped => match state {
            S::Stopping if desired == DesiredState::Stopped => Some(update(
                S::Stopped,
                DesiredState::Stopped,
                Some(USER_SHUTDOWN.into()),
            )),
            // The workload died on its own, or could not start (the agent acted on this
            // very generation).
            S::Running | S::Pending
                if desired == DesiredState::Running && observation.current_generation =>
            {
                let reason = match observation.detail {
                    // The host could not run it: our fault, in the host's words.
                    Some(detail) => format!("Server.InternalError: {detail}"),
                    None => INSTANCE_SHUTDOWN.into(),
                };
                Some(match instance.shutdown_behavior {
                    ShutdownBehavior::Terminate => {
                        update(S::ShuttingDown, DesiredState::Terminated, Some(reason))
                    }
                    ShutdownBehavior::Stop => {
                        update(S::Stopped, DesiredState::Stopped, Some(reason))
                    }
                })
            }
            _ => None,
        },
        ObservedState::Starting | ObservedState::Stopping => None,
    }
}

#[cfg(test)]
mod tests;
