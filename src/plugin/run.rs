//! Calling into one plugin under limits: a fresh store per call, memory
//! capped, fuel and an epoch deadline, bounded logging. Every way a call can
//! go wrong comes back as a [`CallError`] whose text names what happened.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use wasmtime::component::{HasSelf, Linker};
use wasmtime::{Engine, Store, StoreLimits, StoreLimitsBuilder, Trap};

use super::abi::{current, v0_1};
use super::served::{ReadBudget, Records};
use crate::model::Limits;

/// Epoch tick: the granularity of the wall-clock backstop.
pub const TICK: Duration = Duration::from_millis(10);

/// A log line's level, whichever ABI version sent it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
}

pub struct State {
    limits: Limiter,
    log_budget: u32,
    pub logs: Vec<(LogLevel, String)>,
    pub logs_dropped: u32,
    /// What `evaluate` reads through the `inventory` interface (ABI 0.2).
    pub inventory: Option<std::sync::Arc<Records>>,
    pub reads: ReadBudget,
}

/// One log line is cut here; the whole message still crossed into the host,
/// bounded by the plugin's memory limit.
const LOG_LINE_BYTES: usize = 1024;

impl State {
    fn log(&mut self, level: LogLevel, mut message: String) {
        if self.log_budget == 0 {
            self.logs_dropped += 1;
            return;
        }
        self.log_budget -= 1;
        if message.len() > LOG_LINE_BYTES {
            let cut = (0..=LOG_LINE_BYTES)
                .rev()
                .find(|&i| message.is_char_boundary(i))
                .unwrap_or(0);
            message.truncate(cut);
            message.push('…');
        }
        self.logs.push((level, message));
    }
}

impl current::portcullis::plugin::host::Host for State {
    fn log(&mut self, level: current::portcullis::plugin::host::LogLevel, message: String) {
        use current::portcullis::plugin::host::LogLevel as L;
        let level = match level {
            L::Debug => LogLevel::Debug,
            L::Info => LogLevel::Info,
            L::Warn => LogLevel::Warn,
        };
        State::log(self, level, message);
    }
}

impl v0_1::portcullis::plugin::host::Host for State {
    fn log(&mut self, level: v0_1::portcullis::plugin::host::LogLevel, message: String) {
        use v0_1::portcullis::plugin::host::LogLevel as L;
        let level = match level {
            L::Debug => LogLevel::Debug,
            L::Info => LogLevel::Info,
            L::Warn => LogLevel::Warn,
        };
        State::log(self, level, message);
    }
}

impl current::portcullis::plugin::types::Host for State {}
impl v0_1::portcullis::plugin::types::Host for State {}

/// A linker that provides exactly the imports of every served ABI version
/// and nothing else (their names carry their versions, so they coexist).
pub fn linker(engine: &Engine) -> wasmtime::Result<Linker<State>> {
    let mut linker = Linker::new(engine);
    current::Plugin::add_to_linker::<State, HasSelf<State>>(&mut linker, |s| s)?;
    v0_1::Plugin::add_to_linker::<State, HasSelf<State>>(&mut linker, |s| s)?;
    Ok(linker)
}

#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("ran out of fuel (budget {0})")]
    OutOfFuel(u64),
    #[error(
        "was stopped by the wall-clock backstop of {0:?} (fuel and memory decide a plugin's fate; this is a stall, not a verdict: raise timeout_ms if the machine was stalled)"
    )]
    Timeout(Duration),
    #[error("{0}")]
    ReadBudget(String),
    #[error("exceeded its memory limit of {} MiB", .0 >> 20)]
    Memory(usize),
    #[error("trapped: {0}")]
    Trap(String),
    #[error("failed: {0}")]
    Host(String),
}

/// wasmtime's store limits, remembering whether it refused memory: a
/// refused growth surfaces as a host error, and knowing it from this flag
/// rather than from the error's text keeps the classification exact.
struct Limiter {
    inner: StoreLimits,
    memory_refused: bool,
}

impl wasmtime::ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let grown = self.inner.memory_growing(current, desired, maximum);
        self.memory_refused |= !matches!(grown, Ok(true));
        grown
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.inner.table_growing(current, desired, maximum)
    }

    fn instances(&self) -> usize {
        self.inner.instances()
    }

    fn tables(&self) -> usize {
        self.inner.tables()
    }

    fn memories(&self) -> usize {
        self.inner.memories()
    }
}

/// A store for one call, with every limit set.
pub fn store(engine: &Engine, limits: &Limits) -> Store<State> {
    let state = State {
        limits: Limiter {
            inner: StoreLimitsBuilder::new()
                .memory_size(limits.memory_bytes)
                .instances(16)
                .tables(16)
                .memories(4)
                .trap_on_grow_failure(true)
                .build(),
            memory_refused: false,
        },
        log_budget: limits.log_lines,
        logs: Vec::new(),
        logs_dropped: 0,
        inventory: None,
        reads: ReadBudget::default(),
    };
    let mut store = Store::new(engine, state);
    store.limiter(|s| &mut s.limits);
    store
        .set_fuel(limits.fuel)
        .expect("fuel is enabled in the engine config");
    let ticks = (limits.timeout.as_millis() / TICK.as_millis()).max(1) as u64;
    store.set_epoch_deadline(ticks);
    store
}

/// Calls `f` (which instantiates the plugin and calls it), mapping
/// failures to what the user needs to know.
pub fn call<T>(
    store: &mut Store<State>,
    limits: &Limits,
    f: impl FnOnce(&mut Store<State>) -> wasmtime::Result<T>,
) -> Result<T, CallError> {
    let result = f(&mut *store);
    let state = store.data();
    result.map_err(|e| classify(e, limits, state.limits.memory_refused, &state.reads))
}

fn classify(
    e: wasmtime::Error,
    limits: &Limits,
    memory_refused: bool,
    reads: &ReadBudget,
) -> CallError {
    if memory_refused {
        return CallError::Memory(limits.memory_bytes);
    }
    if let Some(over) = reads.exceeded() {
        return CallError::ReadBudget(over);
    }
    match e.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => CallError::OutOfFuel(limits.fuel),
        Some(Trap::Interrupt) => CallError::Timeout(limits.timeout),
        Some(Trap::UnreachableCodeReached) => {
            CallError::Trap("unreachable code reached (a panic, or an explicit trap)".into())
        }
        Some(trap) => CallError::Trap(trap.to_string()),
        None => CallError::Host(format!("{e:#}")),
    }
}

/// Ticks the engine's epoch while plugins run, so deadlines are wall-clock.
pub struct EpochTicker {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl EpochTicker {
    pub fn start(engine: &Engine) -> EpochTicker {
        let stop = Arc::new(AtomicBool::new(false));
        let (engine, flag) = (engine.clone(), stop.clone());
        // Parked rather than slept, so that stopping it wakes it at once:
        // a join that waited out a sleep cost every load and evaluation
        // up to a tick (six of them in `portcullis rules`).
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::Acquire) {
                std::thread::park_timeout(TICK);
                engine.increment_epoch();
            }
        });
        EpochTicker {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}
