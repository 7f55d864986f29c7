//! Cooperative cancellation of long runs: a caller that can be interrupted (the Python binding,
//! whose users press Ctrl-C) installs a hook for the length of a call with [`scoped`], and the
//! long loops (the serving engine's events, a search's batches, a sweep's points, a co-design
//! search's evaluations) ask [`requested`] now and then and stop with an error when it says so.
//!
//! The hook belongs to the thread that installed it: loops that run on that thread see it, work
//! spread over other threads is polled between its chunks. [`requested`] calls the hook at most
//! every [`POLL_INTERVAL`], so a loop may ask it every iteration; once the hook says yes, every
//! later call in the scope does too. Without a hook, nothing is ever cancelled.
//!
//! ```
//! use std::rc::Rc;
//! use archsim_sim::cancel;
//!
//! assert!(!cancel::requested());
//! let stopped = cancel::scoped(Rc::new(|| true), || {
//!     (0..u64::MAX).find(|_| cancel::requested())
//! });
//! assert_eq!(stopped, Some(0));
//! assert!(!cancel::requested());
//! ```

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// The least time between two calls of the hook.
pub const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// What a loop's caller gets back when the run was cancelled.
pub const MESSAGE: &str = "interrupted";

struct Scope {
    hook: Rc<dyn Fn() -> bool>,
    last: Option<Instant>,
    cancelled: bool,
}

thread_local! {
    static SCOPE: RefCell<Option<Scope>> = const { RefCell::new(None) };
}

/// Runs `f` with `hook` as this thread's cancellation hook (the previous one, if any, is put
/// back afterwards, also when `f` panics).
pub fn scoped<R>(hook: Rc<dyn Fn() -> bool>, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<Scope>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let prev = self.0.take();
            SCOPE.with(|s| *s.borrow_mut() = prev);
        }
    }
    let prev = SCOPE.with(|s| {
        s.borrow_mut().replace(Scope {
            hook,
            last: None,
            cancelled: false,
        })
    });
    let _restore = Restore(prev);
    f()
}

/// True when this thread's run has been asked to stop (its hook said so, now or earlier in
/// the scope). Cheap enough to call every iteration.
pub fn requested() -> bool {
    SCOPE.with(|s| {
        let hook = {
            let mut s = s.borrow_mut();
            let Some(scope) = s.as_mut() else {
                return false;
            };
            if scope.cancelled {
                return true;
            }
            let now = Instant::now();
            if scope
                .last
                .is_some_and(|t| now.duration_since(t) < POLL_INTERVAL)
            {
                return false;
            }
            scope.last = Some(now);
            Rc::clone(&scope.hook)
        };
        // The hook runs with the scope unborrowed (it may itself run code that asks).
        let stop = hook();
        if stop {
            if let Some(scope) = s.borrow_mut().as_mut() {
                scope.cancelled = true;
            }
        }
        stop
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[test]
    fn the_hook_is_polled_at_most_every_interval_and_sticks() {
        let calls = Rc::new(Cell::new(0));
        let c = Rc::clone(&calls);
        let hook: Rc<dyn Fn() -> bool> = Rc::new(move || {
            c.set(c.get() + 1);
            c.get() >= 2
        });
        scoped(hook, || {
            assert!(!requested());
            // Within the interval the hook is not asked again.
            for _ in 0..1000 {
                assert!(!requested());
            }
            assert_eq!(calls.get(), 1);
            std::thread::sleep(POLL_INTERVAL + Duration::from_millis(5));
            assert!(requested());
            assert!(requested());
            assert_eq!(calls.get(), 2);
        });
        // Other threads and code outside the scope never see it.
        assert!(!requested());
        assert!(!std::thread::spawn(requested).join().unwrap());
    }
}
