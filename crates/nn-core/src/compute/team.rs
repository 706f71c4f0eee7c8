//! Hand-offs between threads that cost a microsecond, not the tens of microseconds of
//! waking a sleeping thread: teams of helper threads that wait for work by spinning, one
//! for the duration of a training run, and the process's own for everything else.
//!
//! A training step hands work to the other threads several times (the shares' passes,
//! the sum of their gradients, the optimizer's blocks, the gather of the next batch),
//! with a little single-threaded work in between (the loss, the bookkeeping of a step).
//! rayon's workers go to sleep as soon as they find no work for a few microseconds, and
//! waking one takes 10–40 µs on the virtual machines this was measured on (an
//! inter-processor interrupt through the hypervisor). Measured with a rayon `join` of two
//! 50 µs halves after 50 µs of work on the calling thread: 35–55 µs lost per `join`;
//! with a helper that spins: 1–3 µs.
//!
//! [`with_team`] runs a closure with `threads − 1` helper threads that spin between
//! jobs; every [`join`] inside it (on the calling thread or on a helper) gives its second
//! half to an idle helper, or runs both halves itself when none is idle. Outside such a
//! team, [`join`] uses the process's own team, started at the first `join` that needs
//! it (a helper for each core but one), the same way: a `predict` or a `train` called
//! on its own hands off to threads that are still spinning when the calls follow each
//! other closely. A helper that has had no work for [`SPIN_FOR`] sleeps until the next
//! job, so a team costs no CPU while nothing is handed to it.

use std::cell::{Cell, UnsafeCell};
use std::panic::{self, AssertUnwindSafe};
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::OnceLock;
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

/// How long a thread waits by spinning before it sleeps (a helper without work) or
/// yields its core between checks (a thread waiting for its helper's half). Longer than
/// the gaps between a training step's hand-offs, short enough that a team wastes little
/// when its closure pauses.
pub const SPIN_FOR: Duration = Duration::from_micros(200);

// A helper's states. Only the helper moves IDLE → SLEEPING and POSTED → IDLE; a claimer
// moves IDLE or SLEEPING → CLAIMED → POSTED; the team's owner moves IDLE or SLEEPING →
// EXIT when its closure has returned.
const IDLE: u8 = 0;
const SLEEPING: u8 = 1;
const CLAIMED: u8 = 2;
const POSTED: u8 = 3;
const EXIT: u8 = 4;

/// One helper thread's mailbox.
struct Helper {
    state: AtomicU8,
    /// Written by the claimer between CLAIMED and POSTED, read by the helper after it
    /// sees POSTED: the state's release/acquire orders the two.
    job: UnsafeCell<Option<JobRef>>,
    /// Set by the owner right after spawning the thread, before anyone can claim it.
    thread: OnceLock<Thread>,
}

// SAFETY: `job` is only touched by the one thread the state protocol gives it to (the
// claimer that moved the state to CLAIMED, then the helper once it reads POSTED).
unsafe impl Sync for Helper {}

/// A type-erased pointer to a [`StackJob`] on a claimer's stack.
#[derive(Clone, Copy)]
struct JobRef {
    data: *const (),
    execute: unsafe fn(*const ()),
    done: *const AtomicBool,
}

// SAFETY: the job it points to is `Send` (its closure and result are), and the claimer
// keeps it alive until `done` is set (see `join`).
unsafe impl Send for JobRef {}

/// The second half of a [`join`], on the stack of the thread that called it.
struct StackJob<B, R> {
    f: UnsafeCell<Option<B>>,
    result: UnsafeCell<Option<thread::Result<R>>>,
    done: AtomicBool,
}

impl<B: FnOnce() -> R, R> StackJob<B, R> {
    /// Runs the closure and stores its result or its panic.
    ///
    /// # Safety
    /// `this` points to a live `StackJob<B, R>` whose closure has not run, and no other
    /// thread touches its `f` and `result` until its `done` is set.
    unsafe fn execute(this: *const ()) {
        // SAFETY: as the caller promises.
        let this = unsafe { &*this.cast::<Self>() };
        // SAFETY: this thread has exclusive access to `f` and `result` (the caller's promise).
        let f = unsafe { (*this.f.get()).take() }.expect("a job runs once");
        let result = panic::catch_unwind(AssertUnwindSafe(f));
        // SAFETY: as above.
        unsafe { *this.result.get() = Some(result) };
    }
}

/// The helpers of one [`with_team`] call, or the process's.
struct Team {
    helpers: Box<[Helper]>,
}

impl Team {
    /// `helpers` helpers, idle, without their threads yet.
    fn new(helpers: usize) -> Self {
        Team {
            helpers: (0..helpers)
                .map(|_| Helper {
                    state: AtomicU8::new(IDLE),
                    job: UnsafeCell::new(None),
                    thread: OnceLock::new(),
                })
                .collect(),
        }
    }

    /// Records the thread started for `helper`, or, when the system refused to start
    /// one, marks the helper as never to be claimed. Returns whether it started.
    fn attach(helper: &Helper, started: std::io::Result<Thread>) -> bool {
        match started {
            Ok(thread) => {
                let _ = helper.thread.set(thread);
                true
            }
            Err(_) => {
                helper.state.store(EXIT, Ordering::Relaxed);
                false
            }
        }
    }

    /// An idle (spinning or sleeping) helper, moved to CLAIMED, and whether it slept.
    fn claim(&self) -> Option<(&Helper, bool)> {
        for helper in self.helpers.iter() {
            for (from, slept) in [(IDLE, false), (SLEEPING, true)] {
                if helper
                    .state
                    .compare_exchange(from, CLAIMED, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
                {
                    return Some((helper, slept));
                }
            }
        }
        None
    }
}

thread_local! {
    /// The team whose closure or helper this thread is running, if any.
    static TEAM: Cell<*const Team> = const { Cell::new(ptr::null()) };
}

/// Runs `body` on this thread with up to `threads − 1` helper threads (no more than the
/// machine has cores, minus this one) that wait for work by spinning; every [`join`]
/// inside `body` hands its second half to one of them. With one thread, one core, inside
/// another team, or when the system refuses to start a thread, `body` runs with fewer
/// helpers or none, and [`join`] falls back as it documents. The helpers stop when `body`
/// returns or panics.
pub fn with_team<R>(threads: usize, body: impl FnOnce() -> R) -> R {
    let cores = thread::available_parallelism().map_or(1, |n| n.get());
    let helpers = threads.min(cores).saturating_sub(1);
    if helpers == 0 || !TEAM.with(Cell::get).is_null() {
        return body();
    }
    let team = Team::new(helpers);
    thread::scope(|scope| {
        for helper in team.helpers.iter() {
            let team = &team;
            let started = thread::Builder::new()
                .name("nn-team".into())
                .spawn_scoped(scope, move || work(team, helper));
            Team::attach(helper, started.map(|handle| handle.thread().clone()));
        }
        let _active = Active::enter(&team);
        body()
    })
}

/// While alive, makes `team` this thread's team; on drop (also when unwinding), restores
/// the previous one and tells the helpers to stop.
struct Active<'a> {
    team: &'a Team,
    previous: *const Team,
}

impl<'a> Active<'a> {
    fn enter(team: &'a Team) -> Self {
        let previous = TEAM.with(|t| t.replace(team));
        Active { team, previous }
    }
}

impl Drop for Active<'_> {
    fn drop(&mut self) {
        TEAM.with(|t| t.set(self.previous));
        // Every join has waited for its half, so no helper holds a job: each is IDLE,
        // SLEEPING or already EXIT.
        for helper in self.team.helpers.iter() {
            if helper.state.swap(EXIT, Ordering::AcqRel) == SLEEPING {
                if let Some(thread) = helper.thread.get() {
                    thread.unpark();
                }
            }
        }
    }
}

/// A helper's loop: spin until a job is posted, run it, and sleep after [`SPIN_FOR`]
/// without one.
fn work(team: &Team, helper: &Helper) {
    TEAM.with(|t| t.set(team));
    let mut idle_since = Instant::now();
    let mut spins = 0u32;
    loop {
        match helper.state.load(Ordering::Acquire) {
            POSTED => {
                // SAFETY: the claimer wrote the job before its release store of POSTED,
                // which this thread acquired; nobody else touches it until IDLE.
                let job = unsafe { (*helper.job.get()).take() }.expect("a posted job");
                // SAFETY: the claimer keeps the job alive and untouched until `done`.
                unsafe { (job.execute)(job.data) };
                // IDLE before `done`, so that the claimer's next join finds this helper
                // free; the job is still alive here, as its claimer waits for `done`.
                helper.state.store(IDLE, Ordering::Release);
                // SAFETY: as above; after this store this thread no longer touches it.
                unsafe { (*job.done).store(true, Ordering::Release) };
                idle_since = Instant::now();
            }
            EXIT => return,
            IDLE => {
                spins = spins.wrapping_add(1);
                if tired(spins, idle_since)
                    && helper
                        .state
                        .compare_exchange(IDLE, SLEEPING, Ordering::AcqRel, Ordering::Acquire)
                        .is_ok()
                {
                    // A claimer or the owner moves the state on, then unparks.
                    while helper.state.load(Ordering::Acquire) == SLEEPING {
                        thread::park();
                    }
                    idle_since = Instant::now();
                } else {
                    pause(spins, idle_since);
                }
            }
            // CLAIMED: the job is being posted.
            _ => std::hint::spin_loop(),
        }
    }
}

/// Whether a helper that has spun `spins` times since it was last busy, at
/// `idle_since`, should sleep: it has waited [`SPIN_FOR`]. The clock is read every 64
/// spins only.
fn tired(spins: u32, idle_since: Instant) -> bool {
    spins.is_multiple_of(64) && idle_since.elapsed() > SPIN_FOR
}

/// How long a thread spins before it also yields its core between checks.
const YIELD_AFTER: Duration = Duration::from_micros(5);

/// One turn of a wait that started at `since`: a spin-loop hint, and after
/// [`YIELD_AFTER`] (checked every 64 turns) a `yield_now` too. The scheduler sometimes
/// puts the helper on the caller's core (a thread it wakes tends to be placed there);
/// a thread that only spun would then keep the other from running until its time
/// slice ended (0.2-0.5 ms measured here), where a yield hands the core over at once.
fn pause(spins: u32, since: Instant) {
    if spins.is_multiple_of(64) && since.elapsed() > YIELD_AFTER {
        thread::yield_now();
    } else {
        std::hint::spin_loop();
    }
}

/// The process's team, for the joins made outside [`with_team`]: a helper for each core
/// but one, started at the first call, never stopped (they sleep when idle). `None` on a
/// single core, when no thread could be started, and in a child process made by `fork`
/// after the team started (Python's multiprocessing does that): the child has none of
/// its parent's threads, and a job handed to one would never run.
fn process_team() -> Option<&'static Team> {
    static TEAM_OF_THE_PROCESS: OnceLock<Option<(&'static Team, u32)>> = OnceLock::new();
    let (team, started_by) = (*TEAM_OF_THE_PROCESS.get_or_init(|| {
        let cores = thread::available_parallelism().map_or(1, |n| n.get());
        if cores < 2 {
            return None;
        }
        // Leaked on purpose: its helpers live as long as the process.
        let team: &'static Team = Box::leak(Box::new(Team::new(cores - 1)));
        let mut started = 0;
        for helper in team.helpers.iter() {
            let thread = thread::Builder::new()
                .name("nn-helper".into())
                .spawn(move || work(team, helper));
            started += usize::from(Team::attach(helper, thread.map(|h| h.thread().clone())));
        }
        (started > 0).then_some((team, std::process::id()))
    }))?;
    (started_by == std::process::id()).then_some(team)
}

/// `(a(), b())`, the two possibly in parallel, like `rayon::join`: `b` goes to an idle
/// helper of this thread's team (inside [`with_team`], or the process's own team
/// otherwise) while this thread runs `a`; both run here, `a` first, when no helper is
/// idle or the machine has one core. A panic in either is propagated once both have
/// finished.
pub fn join<A, B, RA, RB>(a: A, b: B) -> (RA, RB)
where
    A: FnOnce() -> RA + Send,
    B: FnOnce() -> RB + Send,
    RA: Send,
    RB: Send,
{
    let team = TEAM.with(Cell::get);
    let team = if team.is_null() {
        match process_team() {
            Some(team) => team,
            None => return (a(), b()),
        }
    } else {
        // SAFETY: TEAM points to a team only while `with_team`'s scope, which owns it,
        // runs this thread's closure (the owner) or has not yet joined this thread (a
        // helper), or to the process's team, which is never freed.
        unsafe { &*team }
    };
    let Some((helper, slept)) = team.claim() else {
        return (a(), b());
    };
    let job = StackJob {
        f: UnsafeCell::new(Some(b)),
        result: UnsafeCell::new(None),
        done: AtomicBool::new(false),
    };
    let job_ref = JobRef {
        data: ptr::from_ref(&job).cast(),
        execute: StackJob::<B, RB>::execute,
        done: &job.done,
    };
    // SAFETY: this thread claimed the helper (CLAIMED), so it alone writes the mailbox.
    unsafe { *helper.job.get() = Some(job_ref) };
    helper.state.store(POSTED, Ordering::Release);
    if slept {
        if let Some(thread) = helper.thread.get() {
            thread.unpark();
        }
    }
    let ra = panic::catch_unwind(AssertUnwindSafe(a));
    // Wait for `b` even when `a` panicked: the helper is using `job`, on this stack.
    let waiting_since = Instant::now();
    let mut spins = 0u32;
    while !job.done.load(Ordering::Acquire) {
        spins = spins.wrapping_add(1);
        pause(spins, waiting_since);
    }
    let rb = job.result.into_inner().expect("a done job has a result");
    match (ra, rb) {
        (Ok(ra), Ok(rb)) => (ra, rb),
        (Err(payload), _) | (_, Err(payload)) => panic::resume_unwind(payload),
    }
}

/// Whether this thread is running a team's closure or is one of its helpers.
pub fn in_team() -> bool {
    !TEAM.with(Cell::get).is_null()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    /// The state of the first helper of this thread's team.
    fn first_helper_state() -> u8 {
        // SAFETY: called inside `with_team`, whose team outlives the call.
        let team = unsafe { &*TEAM.with(Cell::get) };
        team.helpers[0].state.load(Ordering::Acquire)
    }

    fn cores() -> usize {
        thread::available_parallelism().map_or(1, |n| n.get())
    }

    #[test]
    fn join_returns_both_results_in_and_out_of_a_team() {
        assert_eq!(join(|| 1, || "two"), (1, "two"));
        let (sum, in_team_inside) = with_team(2, || {
            let mut total = 0u64;
            for i in 0..1000u64 {
                let (x, y) = join(|| i * 2, || i * 3);
                total += x + y;
            }
            (total, in_team())
        });
        assert_eq!(sum, 5 * 999 * 1000 / 2);
        assert_eq!(in_team_inside, cores() > 1);
        assert!(!in_team());
    }

    #[test]
    fn the_second_half_runs_on_a_helper_when_there_is_one() {
        if cores() < 2 {
            return;
        }
        let here = thread::current().id();
        let (a_thread, b_thread) = with_team(2, || {
            join(|| thread::current().id(), || thread::current().id())
        });
        assert_eq!(a_thread, here);
        assert_ne!(b_thread, here);
        // One thread: no team of its own (joins go to the process's team).
        assert!(!with_team(1, in_team));
        let (_, b) = join(|| (), || thread::current().id());
        assert_eq!(
            b != here,
            cores() > 1,
            "outside a team, the process's helper"
        );
    }

    #[test]
    fn a_helper_sleeps_only_after_spin_for_without_work() {
        let now = Instant::now();
        let (long_ago, recently) = (now - SPIN_FOR * 2, now);
        assert!(tired(64, long_ago));
        assert!(tired(128, long_ago));
        assert!(!tired(64, recently), "busy a moment ago");
        assert!(!tired(63, long_ago), "the clock is read every 64 spins");
        assert!(!tired(65, recently));
    }

    #[test]
    fn a_helper_stays_awake_between_close_jobs() {
        if cores() < 2 {
            return;
        }
        // 20 µs after a job, well within SPIN_FOR, the helper is still spinning. This
        // thread may be preempted for longer now and then (tests run side by side), so
        // a fifth of the checks must find it awake (a helper that slept after each job
        // would be found awake at none).
        let awake = with_team(2, || {
            (0..50)
                .filter(|_| {
                    join(|| (), || ());
                    let started = Instant::now();
                    while started.elapsed() < Duration::from_micros(20) {
                        std::hint::spin_loop();
                    }
                    first_helper_state() == IDLE
                })
                .count()
        });
        assert!(awake >= 10, "awake at {awake} of 50 checks");
    }

    #[test]
    fn the_process_team_has_a_helper_for_each_core_but_one() {
        let helpers = process_team().map(|team| team.helpers.len());
        assert_eq!(helpers, (cores() > 1).then(|| cores() - 1));
    }

    #[test]
    fn nested_joins_split_a_sum_exactly() {
        fn sum(v: &[u64]) -> u64 {
            if v.len() < 8 {
                return v.iter().sum();
            }
            let (l, r) = v.split_at(v.len() / 2);
            let (x, y) = join(|| sum(l), || sum(r));
            x + y
        }
        let v: Vec<u64> = (0..10_000).collect();
        for threads in [1, 2, 3, 8] {
            assert_eq!(with_team(threads, || sum(&v)), 10_000 * 9_999 / 2);
        }
    }

    #[test]
    fn helpers_that_slept_wake_for_the_next_job() {
        let (ran, here) = (AtomicUsize::new(0), thread::current().id());
        with_team(2, || {
            for _ in 0..3 {
                if cores() > 1 {
                    // It sleeps once it has had SPIN_FOR without work (and the core for
                    // that long: other tests run beside this one).
                    let started = Instant::now();
                    while first_helper_state() != SLEEPING
                        && started.elapsed() < Duration::from_secs(5)
                    {
                        thread::sleep(SPIN_FOR);
                    }
                    assert_eq!(first_helper_state(), SLEEPING, "the helper went to sleep");
                } else {
                    thread::sleep(SPIN_FOR * 10);
                }
                let (_, b_thread) = join(
                    || ran.fetch_add(1, Ordering::Relaxed),
                    || {
                        ran.fetch_add(1, Ordering::Relaxed);
                        thread::current().id()
                    },
                );
                assert_eq!(b_thread != here, cores() > 1);
            }
        });
        assert_eq!(ran.load(Ordering::Relaxed), 6);
    }

    #[test]
    fn a_panic_in_either_half_reaches_the_caller_after_both_finish() {
        for panicking_half in [0, 1] {
            let finished = AtomicBool::new(false);
            let result = panic::catch_unwind(AssertUnwindSafe(|| {
                with_team(2, || {
                    join(
                        || {
                            if panicking_half == 0 {
                                panic!("half a");
                            }
                            thread::sleep(Duration::from_millis(5));
                            finished.store(true, Ordering::SeqCst);
                        },
                        || {
                            if panicking_half == 1 {
                                panic!("half b");
                            }
                            thread::sleep(Duration::from_millis(5));
                            finished.store(true, Ordering::SeqCst);
                        },
                    )
                })
            }));
            let payload = result.expect_err("the panic propagates");
            let message = payload.downcast_ref::<&str>().copied();
            assert_eq!(message, Some(["half a", "half b"][panicking_half]));
            assert!(
                finished.load(Ordering::SeqCst),
                "the other half ran to its end"
            );
            // The team is gone and joins still work.
            assert!(!in_team());
            assert_eq!(with_team(2, || join(|| 1, || 2)), (1, 2));
        }
    }

    #[test]
    fn a_team_inside_a_team_reuses_the_outer_one() {
        let (inner, b) = with_team(2, || with_team(2, || join(in_team, || 5)));
        assert_eq!((inner, b), (cores() > 1, 5));
    }
}
