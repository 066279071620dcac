//! Ctrl-C and SIGTERM, for every command that talks to Modal.
//!
//! One listener per run counts the signals into an [`Interrupt`]. Read-only commands are cut at the
//! first signal ([`Interrupt::cut`]): their future is dropped, which signals the process groups of the
//! `modal` processes it started, and those groups are then waited for ([`settle`]). `apply` and `deploy`
//! hand the interrupt to the executor instead, which starts nothing new and lets running deploys finish
//! within the grace period; a second signal ends the grace period at once.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

/// The signals received so far: set by the listener, read by whoever must wind down.
#[derive(Debug, Clone)]
pub struct Interrupt {
    receiver: watch::Receiver<u32>,
}

/// Counts a signal into the [`Interrupt`] it was made with.
#[derive(Debug, Clone)]
pub struct InterruptHandle {
    sender: Arc<watch::Sender<u32>>,
}

impl Interrupt {
    pub fn new() -> (InterruptHandle, Interrupt) {
        let (sender, receiver) = watch::channel(0);
        (
            InterruptHandle {
                sender: Arc::new(sender),
            },
            Interrupt { receiver },
        )
    }

    /// One that never fires.
    pub fn never() -> Interrupt {
        Self::new().1
    }

    /// True once a first signal arrived.
    pub fn requested(&self) -> bool {
        *self.receiver.borrow() > 0
    }

    /// Resolves once interrupted; never, when the handle is gone without firing.
    pub async fn wait(&self) {
        self.wait_for_count(1).await;
    }

    /// Resolves `grace_period` after the first signal, or at the second signal if that comes sooner.
    pub async fn grace_expired(&self, grace_period: Duration) {
        let after_grace = async {
            self.wait().await;
            tokio::time::sleep(grace_period).await;
        };
        tokio::select! {
            () = after_grace => {}
            () = self.wait_for_count(2) => {}
        }
    }

    /// Runs `work` to its end, or drops it at the first signal and returns `None`. Dropping it signals
    /// the process groups it started; they are waited for before this returns.
    pub async fn cut<T>(&self, work: impl Future<Output = T>) -> Option<T> {
        if self.requested() {
            return None;
        }
        let outcome = tokio::select! {
            biased;
            () = self.wait() => None,
            value = work => Some(value),
        };
        if outcome.is_none() {
            settle().await;
        }
        outcome
    }

    async fn wait_for_count(&self, count: u32) {
        let mut receiver = self.receiver.clone();
        if receiver
            .wait_for(|received| *received >= count)
            .await
            .is_err()
        {
            std::future::pending::<()>().await;
        }
    }
}

impl InterruptHandle {
    /// Counts one signal.
    pub fn trigger(&self) {
        self.sender.send_modify(|received| *received += 1);
    }
}

/// Counts every Ctrl-C and SIGTERM into `handle` until the task is aborted. Installing it replaces the
/// default action of both signals (ending the process) for the rest of the run.
pub async fn listen(handle: InterruptHandle) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt()).ok();
    let mut terminate = signal(SignalKind::terminate()).ok();
    loop {
        tokio::select! {
            Some(()) = next(interrupt.as_mut()) => {}
            Some(()) = next(terminate.as_mut()) => {}
            else => return,
        }
        handle.trigger();
    }
}

/// The next delivery of `signal`; never, when it could not be installed.
async fn next(signal: Option<&mut tokio::signal::unix::Signal>) -> Option<()> {
    match signal {
        Some(signal) => signal.recv().await,
        None => std::future::pending().await,
    }
}

/// Waits (at most a little over two seconds) for the process groups signalled by interrupted work to
/// end, then kills what is left of them.
pub async fn settle() {
    crate::backend::process::settle_signalled_groups().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_grace_period_runs_from_the_first_signal() {
        let (handle, interrupt) = Interrupt::new();
        let started = tokio::time::Instant::now();
        handle.trigger();
        interrupt.grace_expired(Duration::from_secs(30)).await;
        assert_eq!(started.elapsed(), Duration::from_secs(30));
    }

    #[tokio::test(start_paused = true)]
    async fn a_second_signal_ends_the_grace_period_at_once() {
        let (handle, interrupt) = Interrupt::new();
        handle.trigger();
        let second = {
            let handle = handle.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(5)).await;
                handle.trigger();
            })
        };
        let started = tokio::time::Instant::now();
        interrupt.grace_expired(Duration::from_secs(30)).await;
        assert_eq!(started.elapsed(), Duration::from_secs(5));
        second.await.expect("second signal");
    }

    /// Set when dropped.
    struct Flag(Arc<std::sync::atomic::AtomicBool>);

    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn cut_drops_the_work_at_the_first_signal() {
        let (handle, interrupt) = Interrupt::new();
        let dropped = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = Flag(Arc::clone(&dropped));
        let work = async move {
            let _flag = flag;
            tokio::time::sleep(Duration::from_secs(60)).await;
            "finished"
        };
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            handle.trigger();
        });
        assert_eq!(interrupt.cut(work).await, None);
        assert!(dropped.load(std::sync::atomic::Ordering::SeqCst));
    }

    #[tokio::test]
    async fn cut_returns_what_the_work_returns_when_no_signal_comes() {
        let (_handle, interrupt) = Interrupt::new();
        assert_eq!(interrupt.cut(async { 7 }).await, Some(7));
    }

    #[tokio::test]
    async fn cut_starts_nothing_once_interrupted() {
        let (handle, interrupt) = Interrupt::new();
        handle.trigger();
        let started = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = Arc::clone(&started);
        let outcome = interrupt
            .cut(async move { flag.store(true, std::sync::atomic::Ordering::SeqCst) })
            .await;
        assert_eq!(outcome, None);
        assert!(!started.load(std::sync::atomic::Ordering::SeqCst));
    }
}
