//! One task runs every controller.
//!
//! A task per policy set cost about 1.3 KiB each (tokio's task cell, the future holding its
//! timer and one `changed()` future per input) for what is, between evaluations, a few
//! deadlines and version checks. The driver keeps the controllers in a map and their next
//! deadlines (tick or scheduled action) in an ordered set, and sleeps until the earliest. Every
//! [`INPUT_CHECK_INTERVAL`] it checks each controller's inputs (feeds, `trustState` alarms, the
//! observed scale target) for a new version, a few atomic loads per policy set, and evaluates
//! those that changed: a new datapoint or replica count is evaluated within that interval,
//! whatever the rate at which inputs change.
//!
//! Evaluations are synchronous and short (the engine allocates nothing), so one task keeps up
//! with 10,000 policy sets ticking every 10 s; it yields to the runtime between batches.
//! (Its tests are the controller's: `controller/tests.rs`.)

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior};

use super::Controller;

/// How often the driver looks for controllers whose inputs changed.
pub const INPUT_CHECK_INTERVAL: Duration = Duration::from_millis(100);

/// Evaluations made before the driver yields to the runtime.
const BATCH: usize = 256;

/// Tells running controllers apart (never reused).
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// Work for the driver once a controller is dropped.
type AfterStop = Box<dyn FnOnce() + Send>;

enum Command {
    Run(u64, Box<Controller>),
    /// Runs the controller in place of the one with the first id, keeping its state
    /// ([`Controller::carry_from`]).
    Replace(u64, u64, Box<Controller>),
    Stop(u64, Option<AfterStop>),
}

/// A handle to the driver task. The task ends once every handle and every [`Running`]
/// controller is dropped.
#[derive(Clone)]
pub struct Driver {
    commands: mpsc::UnboundedSender<Command>,
}

impl Driver {
    /// Starts the driver task. Must be called within a tokio runtime.
    pub fn spawn() -> Self {
        let (commands, receiver) = mpsc::unbounded_channel();
        tokio::spawn(drive(receiver));
        Self { commands }
    }

    /// Runs `controller`: it evaluates now, then on each tick, scheduled action and change of
    /// its inputs, until the returned handle is dropped.
    pub fn run(&self, controller: Controller) -> Running {
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        // Fails only once the task is gone (its runtime shut down): nothing runs anyway.
        let _ = self.commands.send(Command::Run(id, Box::new(controller)));
        Running {
            id,
            commands: self.commands.clone(),
        }
    }

    /// Runs `controller` in place of `previous`, a version of the same policy set: it keeps
    /// the state of `previous` for everything whose definition did not change
    /// ([`Controller::carry_from`]), then runs as [`Driver::run`] does. `previous` stops now;
    /// dropping its handle afterwards stops nothing more.
    pub fn replace(&self, previous: &Running, controller: Controller) -> Running {
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let _ = self
            .commands
            .send(Command::Replace(previous.id, id, Box::new(controller)));
        Running {
            id,
            commands: self.commands.clone(),
        }
    }
}

/// A controller run by a [`Driver`]; dropping it stops and drops the controller.
pub struct Running {
    id: u64,
    commands: mpsc::UnboundedSender<Command>,
}

impl Running {
    /// Stops the controller, then runs `after` on the driver once the controller is dropped:
    /// nothing the controller reports (a verdict, a metric) can come after `after`.
    pub fn stop_then(self, after: impl FnOnce() + Send + 'static) {
        let _ = self
            .commands
            .send(Command::Stop(self.id, Some(Box::new(after))));
        // Dropping `self` sends a second stop, which finds nothing to stop.
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.commands.send(Command::Stop(self.id, None));
    }
}

/// A controller and when it runs next.
struct Slot {
    controller: Box<Controller>,
    next_tick: Instant,
    deadline: Instant,
}

/// The controllers of a driver and their deadlines.
#[derive(Default)]
struct Slots {
    slots: HashMap<u64, Slot>,
    /// `(deadline, id)` of every slot.
    deadlines: BTreeSet<(Instant, u64)>,
}

impl Slots {
    fn start(&mut self, id: u64, controller: Box<Controller>, now: Instant) {
        let next_tick = now + controller.config.tick;
        let mut slot = Slot {
            controller,
            next_tick,
            deadline: next_tick,
        };
        slot.evaluate(now);
        self.deadlines.insert((slot.deadline, id));
        self.slots.insert(id, slot);
    }

    fn apply(&mut self, command: Command) {
        match command {
            Command::Run(id, controller) => self.start(id, controller, Instant::now()),
            Command::Replace(previous, id, mut controller) => {
                if let Some(old) = self.slots.remove(&previous) {
                    self.deadlines.remove(&(old.deadline, previous));
                    controller.carry_from(&old.controller);
                }
                self.start(id, controller, Instant::now());
            }
            Command::Stop(id, after) => {
                self.stop(id);
                if let Some(after) = after {
                    after();
                }
            }
        }
    }

    fn stop(&mut self, id: u64) {
        if let Some(slot) = self.slots.remove(&id) {
            self.deadlines.remove(&(slot.deadline, id));
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.first().map(|(deadline, _)| *deadline)
    }

    /// Evaluates up to [`BATCH`] controllers whose deadline has come; whether some are left.
    fn run_due(&mut self, now: Instant) -> bool {
        for _ in 0..BATCH {
            match self.deadlines.first() {
                Some(&(deadline, id)) if deadline <= now => self.evaluate(id, now),
                _ => return false,
            }
        }
        true
    }

    /// The controllers whose inputs changed since the last check.
    fn changed(&mut self) -> Vec<u64> {
        self.slots
            .iter_mut()
            .filter_map(|(id, slot)| slot.controller.inputs_changed().then_some(*id))
            .collect()
    }

    /// Evaluates controller `id` (if it still runs) at `now` and reschedules it.
    fn evaluate(&mut self, id: u64, now: Instant) {
        if let Some(slot) = self.slots.get_mut(&id) {
            self.deadlines.remove(&(slot.deadline, id));
            slot.evaluate(now);
            self.deadlines.insert((slot.deadline, id));
        }
    }
}

impl Slot {
    /// Evaluates at `now` and sets the next deadline: the next tick, or the next scheduled
    /// action if it comes first.
    fn evaluate(&mut self, now: Instant) {
        let tick = self.controller.config.tick;
        if now >= self.next_tick {
            // Missed ticks are skipped, as `MissedTickBehavior::Skip` does.
            let behind = (now - self.next_tick).as_nanos() / tick.as_nanos().max(1);
            self.next_tick += tick * (u32::try_from(behind).unwrap_or(u32::MAX - 1) + 1);
        }
        self.controller.step();
        self.deadline = self
            .controller
            .next_scheduled_run()
            .map_or(self.next_tick, |at| at.min(self.next_tick));
    }
}

/// The driver task: applies commands, evaluates controllers at their deadlines and when their
/// inputs change, until every sender of `commands` is gone.
async fn drive(mut commands: mpsc::UnboundedReceiver<Command>) {
    let mut slots = Slots::default();
    let mut input_check = tokio::time::interval(INPUT_CHECK_INTERVAL);
    input_check.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        let next = slots.next_deadline();
        tokio::select! {
            command = commands.recv() => {
                let Some(command) = command else { return };
                slots.apply(command);
                // Apply what else is queued (a policy directory loads thousands at once).
                for applied in 1.. {
                    let Ok(command) = commands.try_recv() else { break };
                    slots.apply(command);
                    if applied % BATCH == 0 {
                        tokio::task::yield_now().await;
                    }
                }
            }
            () = tokio::time::sleep_until(next.unwrap_or_else(Instant::now)), if next.is_some() => {
                while slots.run_due(Instant::now()) {
                    tokio::task::yield_now().await;
                }
            }
            _ = input_check.tick() => {
                for batch in slots.changed().chunks(BATCH) {
                    let now = Instant::now();
                    for &id in batch {
                        slots.evaluate(id, now);
                    }
                    tokio::task::yield_now().await;
                }
            }
        }
    }
}
