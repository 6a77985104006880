//! Waiting for listeners to settle (`--settle`, `--timeout`): re-scan until
//! the set of listeners has not changed for the settle period, so services
//! still starting at first boot (or under `exec`) do not give a flaky
//! result. Hitting the timeout is a coverage gap, never a silent pass.
//!
//! The loop owns no OS access: it is handed a scan, a liveness check and a
//! [`Clock`], so it is tested with fake inventories and fake time.

use std::time::{Duration, Instant};

use crate::model::{Gap, GapKind, Inventory, NetnsId};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settle {
    /// How long the listeners must stay unchanged.
    pub quiet: Duration,
    /// The longest wait in all.
    pub timeout: Duration,
}

/// Time, as the loop sees it.
pub trait Clock {
    fn elapsed(&self) -> Duration;
    fn sleep(&mut self, d: Duration);
}

/// The real clock.
pub struct Wall(Instant);

impl Wall {
    pub fn start() -> Wall {
        Wall(Instant::now())
    }
}

impl Clock for Wall {
    fn elapsed(&self) -> Duration {
        self.0.elapsed()
    }

    fn sleep(&mut self, d: Duration) {
        std::thread::sleep(d);
    }
}

/// A listener as the settle loop compares it.
type Bind<'a> = (NetnsId, &'static str, &'a str, Option<&'a str>, u16);

/// What must stay the same: the namespaces, and every listener's namespace,
/// protocol, bind and port. Holders may still come and go (worker
/// processes forking) without restarting the wait.
fn shape(inv: &Inventory) -> (Vec<NetnsId>, Vec<Bind<'_>>) {
    let mut namespaces: Vec<NetnsId> = inv.namespaces.iter().map(|n| n.id).collect();
    namespaces.sort_unstable();
    let mut binds: Vec<Bind<'_>> = inv
        .listeners
        .iter()
        .map(|l| {
            (
                l.netns,
                l.protocol.as_str(),
                l.address.as_str(),
                l.bound_device.as_deref(),
                l.port,
            )
        })
        .collect();
    binds.sort_unstable();
    (namespaces, binds)
}

/// Where the wait stands, after each re-scan: for a progress line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Listeners that appeared or went away in the last re-scan.
    pub changed: usize,
    /// How long the listeners have been unchanged.
    pub unchanged_for: Duration,
    /// What is left of `--timeout`.
    pub left: Duration,
}

/// Scans until the listeners are unchanged for `settle.quiet`, or until
/// `settle.timeout` (then the last inventory carries a `settle_timeout`
/// gap). `alive` is asked before each scan; its error ends the wait (a
/// command under `exec` that exited). `progress` is told after every
/// re-scan.
pub fn settle<E>(
    settle: Settle,
    clock: &mut dyn Clock,
    scan: &mut dyn FnMut() -> Result<Inventory, E>,
    alive: &mut dyn FnMut() -> Result<(), E>,
    progress: &mut dyn FnMut(Progress),
) -> Result<Inventory, E> {
    // Often enough to notice a change soon, rarely enough not to load the
    // host: a quarter of the settle period, between 50 ms and 1 s.
    let interval = (settle.quiet / 4).clamp(Duration::from_millis(50), Duration::from_secs(1));
    alive()?;
    let mut last = scan()?;
    let mut stable_since = clock.elapsed();
    loop {
        let now = clock.elapsed();
        if now.saturating_sub(stable_since) >= settle.quiet {
            return Ok(last);
        }
        if now >= settle.timeout {
            last.gaps.push(Gap {
                kind: GapKind::SettleTimeout,
                netns: None,
                pids: vec![],
                detail: format!(
                    "listeners were still changing after {} (--timeout); the last scan is reported",
                    humantime::format_duration(settle.timeout)
                ),
            });
            return Ok(last);
        }
        clock.sleep(interval.min(settle.timeout - now));
        alive()?;
        let next = scan()?;
        let (before, after) = (shape(&last), shape(&next));
        let changed = if before != after {
            stable_since = clock.elapsed();
            symmetric_difference(&before.1, &after.1).max(1)
        } else {
            0
        };
        let now = clock.elapsed();
        progress(Progress {
            changed,
            unchanged_for: now.saturating_sub(stable_since),
            left: settle.timeout.saturating_sub(now),
        });
        last = next;
    }
}

/// How many entries of two sorted lists are in one only.
fn symmetric_difference<T: Ord>(a: &[T], b: &[T]) -> usize {
    let (mut i, mut j, mut n) = (0, 0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => (i, n) = (i + 1, n + 1),
            std::cmp::Ordering::Greater => (j, n) = (j + 1, n + 1),
            std::cmp::Ordering::Equal => (i, j) = (i + 1, j + 1),
        }
    }
    n + (a.len() - i) + (b.len() - j)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{HostFacts, Listener};

    #[test]
    fn changes_are_counted_both_ways() {
        assert_eq!(symmetric_difference(&[1, 2, 3], &[2, 3, 4, 5]), 3);
        assert_eq!(symmetric_difference::<u8>(&[], &[]), 0);
    }

    struct Fake(Duration);

    impl Clock for Fake {
        fn elapsed(&self) -> Duration {
            self.0
        }
        fn sleep(&mut self, d: Duration) {
            self.0 += d;
        }
    }

    fn inventory(ports: &[u16]) -> Inventory {
        let fixture: Inventory =
            serde_json::from_str(include_str!("../testdata/inventory/seed-complete.json")).unwrap();
        let template: Listener = fixture.listeners[0].clone();
        Inventory {
            schema_version: crate::model::SCHEMA_VERSION,
            host: HostFacts::default(),
            namespaces: vec![],
            listeners: ports
                .iter()
                .map(|&port| Listener {
                    port,
                    ..template.clone()
                })
                .collect(),
            gaps: vec![],
            containers: vec![],
            published: vec![],
            only_selected: false,
        }
    }

    /// What the scripted command's exit is reported as.
    #[derive(Debug, PartialEq)]
    struct Stopped;

    const SETTLE: Settle = Settle {
        quiet: Duration::from_secs(2),
        timeout: Duration::from_secs(10),
    };

    /// Scans that return `script[i]` at the i-th call (the last one after).
    fn scripted(script: Vec<Vec<u16>>) -> impl FnMut() -> Result<Inventory, Stopped> {
        let mut i = 0;
        move || {
            let ports = &script[i.min(script.len() - 1)];
            i += 1;
            Ok(inventory(ports))
        }
    }

    #[test]
    fn waits_for_a_late_listener_then_settles() {
        let mut clock = Fake(Duration::ZERO);
        let mut scan = scripted(vec![vec![22], vec![22], vec![22, 80]]);
        let inv = settle(SETTLE, &mut clock, &mut scan, &mut || Ok(()), &mut |_| {}).unwrap();
        let ports: Vec<u16> = inv.listeners.iter().map(|l| l.port).collect();
        assert_eq!(ports, [22, 80]);
        assert!(inv.gaps.is_empty());
        // Two intervals of 500 ms saw the change, then 2 s of quiet.
        assert_eq!(clock.0, Duration::from_millis(3000));
    }

    #[test]
    fn a_listener_set_that_never_settles_is_a_gap() {
        let mut clock = Fake(Duration::ZERO);
        let mut n = 0u16;
        let mut scan = || {
            n += 1;
            Ok::<_, Stopped>(inventory(&[n]))
        };
        let inv = settle(SETTLE, &mut clock, &mut scan, &mut || Ok(()), &mut |_| {}).unwrap();
        assert_eq!(inv.gaps.len(), 1);
        assert_eq!(inv.gaps[0].kind, GapKind::SettleTimeout);
        assert_eq!(clock.0, SETTLE.timeout);
    }

    #[test]
    fn a_dead_command_ends_the_wait() {
        let mut clock = Fake(Duration::ZERO);
        let mut calls = 0;
        let mut alive = || {
            calls += 1;
            if calls > 2 { Err(Stopped) } else { Ok(()) }
        };
        let mut scan = scripted(vec![vec![22]]);
        assert_eq!(
            settle(SETTLE, &mut clock, &mut scan, &mut alive, &mut |_| {}).unwrap_err(),
            Stopped
        );
    }
}
