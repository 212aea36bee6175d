#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The whole table: every state × desired state × event (× the facts some rows look at)
//! is checked against the table below, and every row of the table is used.

use super::*;

/// `state desired event when => outcome`, first match wins. `*` matches anything, `a|b`
/// either; `when` lists conditions (comma-separated): `protected`, `off-host`, `stale`
/// (the report is about an older generation), `current`, `stop-behaviour`,
/// `terminate-behaviour`, `detail` (the agent said why), `no-detail`. Outcomes: `keep`
/// (nothing changes), `refused <verb>`, `protected`, or `<state> <desired> <action>
/// <reason…>` with `=` for unchanged and `-` for no reason.
const TABLE: &str = "
# StartInstances
pending|running         *           start       *       => keep
stopped                 *           start       *       => pending running update -
stopping|shutting-down  *           start       *       => refused started
terminated              *           start       *       => refused started
# StopInstances
pending|running         *           stop        *       => stopping stopped update User initiated
stopping|stopped        *           stop        *       => keep
shutting-down           *           stop        *       => refused stopped
terminated              *           stop        *       => refused stopped
# RebootInstances
pending|running         *           reboot      *       => = = reboot -
stopping|stopped        *           reboot      *       => keep
shutting-down           *           reboot      *       => refused rebooted
terminated              *           reboot      *       => refused rebooted
# TerminateInstances
terminated              *           terminate   *           => keep
*                       *           terminate   protected   => protected
shutting-down           *           terminate   *           => keep
*                       *           terminate   off-host    => terminated terminated finish -
*                       *           terminate   *           => shutting-down terminated update User initiated
# Observed: nothing left on the host.
terminated              *           absent      *       => keep
*                       terminated  absent      *       => terminated terminated finish -
*                       *           absent      *       => keep
# Observed: booted.
pending                 running     running     *       => running running update -
*                       *           running     *       => keep
# Observed: on the way.
*                       *           starting    *       => keep
*                       *           stopping    *       => keep
# Observed: stopped on request.
stopping                stopped     stopped     *       => stopped stopped update Client.UserInitiatedShutdown: User initiated shutdown
# Observed: died on its own or could not start, at the generation the agent acted on.
pending|running running stopped current,stop-behaviour,no-detail      => stopped stopped update Client.InstanceInitiatedShutdown: Instance initiated shutdown
pending|running running stopped current,stop-behaviour,detail         => stopped stopped update Server.InternalError: runc failed
pending|running running stopped current,terminate-behaviour,no-detail => shutting-down terminated update Client.InstanceInitiatedShutdown: Instance initiated shutdown
pending|running running stopped current,terminate-behaviour,detail    => shutting-down terminated update Server.InternalError: runc failed
# Observed stopped otherwise: a stale report, or a state that does not expect it.
*                       *           stopped     *       => keep
";

const STATES: [InstanceState; 6] = [
    InstanceState::Pending,
    InstanceState::Running,
    InstanceState::Stopping,
    InstanceState::Stopped,
    InstanceState::ShuttingDown,
    InstanceState::Terminated,
];
const DESIRED: [DesiredState; 3] = [
    DesiredState::Running,
    DesiredState::Stopped,
    DesiredState::Terminated,
];
const EVENTS: [&str; 9] = [
    "start",
    "stop",
    "reboot",
    "terminate",
    "starting",
    "running",
    "stopping",
    "stopped",
    "absent",
];

/// One input of the state machine, with the words the table uses for it.
struct Case {
    facts: InstanceFacts,
    event: &'static str,
    current_generation: bool,
    detail: Option<&'static str>,
}

impl Case {
    fn event(&self) -> Event<'static> {
        let observed = |state| {
            Event::Observed(Observation {
                state,
                current_generation: self.current_generation,
                detail: self.detail,
            })
        };
        match self.event {
            "start" => Event::Start,
            "stop" => Event::Stop,
            "reboot" => Event::Reboot,
            "terminate" => Event::Terminate,
            "starting" => observed(ObservedState::Starting),
            "running" => observed(ObservedState::Running),
            "stopping" => observed(ObservedState::Stopping),
            "stopped" => observed(ObservedState::Stopped),
            "absent" => observed(ObservedState::Absent),
            other => panic!("unknown event {other}"),
        }
    }

    fn holds(&self, condition: &str) -> bool {
        let facts = &self.facts;
        match condition {
            "*" => true,
            "protected" => facts.termination_protected,
            "off-host" => !facts.on_host,
            "current" => self.current_generation,
            "stale" => !self.current_generation,
            "stop-behaviour" => facts.shutdown_behavior == ShutdownBehavior::Stop,
            "terminate-behaviour" => facts.shutdown_behavior == ShutdownBehavior::Terminate,
            "detail" => self.detail.is_some(),
            "no-detail" => self.detail.is_none(),
            other => panic!("unknown condition {other}"),
        }
    }
}

fn every_case() -> Vec<Case> {
    let mut cases = Vec::new();
    for state in STATES {
        for desired in DESIRED {
            for event in EVENTS {
                for shutdown_behavior in [ShutdownBehavior::Stop, ShutdownBehavior::Terminate] {
                    for termination_protected in [false, true] {
                        for on_host in [true, false] {
                            for current_generation in [true, false] {
                                for detail in [None, Some("runc failed")] {
                                    cases.push(Case {
                                        facts: InstanceFacts {
                                            state,
                                            desired,
                                            shutdown_behavior,
                                            termination_protected,
                                            on_host,
                                        },
                                        event,
                                        current_generation,
                                        detail,
                                    });
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    cases
}

struct Row<'t> {
    line: &'t str,
    states: &'t str,
    desired: &'t str,
    event: &'t str,
    when: &'t str,
    outcome: Vec<&'t str>,
}

fn rows() -> Vec<Row<'static>> {
    TABLE
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            assert_eq!(words[4], "=>", "{line}");
            Row {
                line,
                states: words[0],
                desired: words[1],
                event: words[2],
                when: words[3],
                outcome: words[5..].to_vec(),
            }
        })
        .collect()
}

fn one_of(pattern: &str, word: &str) -> bool {
    pattern == "*" || pattern.split('|').any(|p| p == word)
}

fn state_named(word: &str) -> InstanceState {
    InstanceState::parse(word).unwrap_or_else(|| panic!("unknown state {word}"))
}

fn desired_named(word: &str) -> DesiredState {
    DESIRED
        .into_iter()
        .find(|d| d.as_str() == word)
        .unwrap_or_else(|| panic!("unknown desired state {word}"))
}

/// The outcome a row states, for this case.
fn expected(row: &Row<'_>, case: &Case) -> Result<Transition, Refusal> {
    let facts = &case.facts;
    let keep = Transition {
        state: facts.state,
        desired: facts.desired,
        reason: None,
        action: Action::None,
    };
    match row.outcome.as_slice() {
        ["keep"] => Ok(keep),
        ["protected"] => Err(Refusal::TerminationProtected),
        ["refused", verb] => Err(Refusal::IncorrectState(match *verb {
            "started" => "started",
            "stopped" => "stopped",
            "rebooted" => "rebooted",
            other => panic!("unknown verb {other}"),
        })),
        [state, desired, action, reason @ ..] => Ok(Transition {
            state: if *state == "=" {
                facts.state
            } else {
                state_named(state)
            },
            desired: if *desired == "=" {
                facts.desired
            } else {
                desired_named(desired)
            },
            reason: match reason.join(" ").as_str() {
                "-" => None,
                text => Some(text.to_owned()),
            },
            action: match *action {
                "update" => Action::Update,
                "reboot" => Action::Reboot,
                "finish" => Action::FinishTermination,
                other => panic!("unknown action {other}"),
            },
        }),
        other => panic!("bad outcome {other:?} in {}", row.line),
    }
}

#[test]
fn the_whole_table() {
    let rows = rows();
    let mut used = vec![0usize; rows.len()];
    let cases = every_case();
    assert_eq!(cases.len(), 6 * 3 * 9 * 32);
    for case in &cases {
        let (index, row) = rows
            .iter()
            .enumerate()
            .find(|(_, row)| {
                one_of(row.states, case.facts.state.as_str())
                    && one_of(row.desired, case.facts.desired.as_str())
                    && row.event == case.event
                    && row.when.split(',').all(|c| case.holds(c))
            })
            .unwrap_or_else(|| {
                panic!(
                    "no row for {:?} on {} (current generation {}, detail {:?})",
                    case.facts, case.event, case.current_generation, case.detail
                )
            });
        used[index] += 1;
        assert_eq!(
            transition(&case.facts, case.event()),
            expected(row, case),
            "{:?} on {} (current generation {}, detail {:?}), row: {}",
            case.facts,
            case.event,
            case.current_generation,
            case.detail,
            row.line
        );
    }
    for (row, count) in rows.iter().zip(used) {
        assert!(count > 0, "row never used: {}", row.line);
    }
}

#[test]
fn requests_and_observations_of_a_life() {
    let mut facts = InstanceFacts {
        state: InstanceState::Pending,
        desired: DesiredState::Running,
        shutdown_behavior: ShutdownBehavior::Stop,
        termination_protected: false,
        on_host: true,
    };
    let observed = |state| {
        Event::Observed(Observation {
            state,
            current_generation: true,
            detail: None,
        })
    };
    let mut step = |event| {
        let t = transition(&facts, event).unwrap();
        facts.state = t.state;
        facts.desired = t.desired;
        (t.state, t.action)
    };
    use InstanceState as S;
    assert_eq!(
        step(observed(ObservedState::Running)),
        (S::Running, Action::Update)
    );
    assert_eq!(step(Event::Reboot), (S::Running, Action::Reboot));
    assert_eq!(step(Event::Stop), (S::Stopping, Action::Update));
    assert_eq!(
        step(observed(ObservedState::Stopped)),
        (S::Stopped, Action::Update)
    );
    assert_eq!(step(Event::Start), (S::Pending, Action::Update));
    assert_eq!(step(Event::Terminate), (S::ShuttingDown, Action::Update));
    assert_eq!(
        step(observed(ObservedState::Absent)),
        (S::Terminated, Action::FinishTermination)
    );
    assert_eq!(step(Event::Terminate), (S::Terminated, Action::None));
}
