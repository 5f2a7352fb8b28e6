//! Deterministic DataLoader batching for one request.
//!
//! async-graphql's DataLoader batches by time: a batch takes the keys asked
//! for within a short delay of its first key. While a long list resolves,
//! its resolvers yield now and then, and a batch that fires at such a yield
//! takes only part of a level: the more rows, the more batches.
//!
//! Here a request runs on one thread (a `LocalSet`), its future is
//! [`Batching::track`]ed to know when it is idle (waiting on nothing but
//! I/O), and every batch is [`Batching::spawn`]ed behind a gate: a batch
//! runs only when the request is idle, no other batch is loading, and it is
//! the oldest batch waiting. A batch then holds every key asked for until
//! that moment, and the batches of a request run in an order set by the
//! query alone, so its statement count depends on the query's shape, never
//! on how many rows it returns or how fast the database answers.

use futures::future::BoxFuture;
use std::collections::BTreeSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

#[derive(Default)]
struct State {
    /// The request future is running or has been woken since it last slept.
    busy: AtomicBool,
    /// Batches that have started loading and not finished.
    loading: AtomicUsize,
    /// Sequence numbers of batches spawned and not yet started.
    waiting: Mutex<BTreeSet<u64>>,
    next: AtomicU64,
}

impl State {
    fn is_oldest_waiting(&self, sequence: u64) -> bool {
        self.waiting.lock().map(|w| w.first() == Some(&sequence)).unwrap_or(true)
    }

    fn stop_waiting(&self, sequence: u64) {
        if let Ok(mut waiting) = self.waiting.lock() {
            waiting.remove(&sequence);
        }
    }
}

/// Shared by a request's future and its loaders.
#[derive(Clone, Default)]
pub struct Batching(Arc<State>);

impl Batching {
    /// Wraps the request's future so that its idle moments are known.
    pub fn track<F: Future>(&self, future: F) -> Tracked<F> {
        Tracked { inner: Box::pin(future), state: self.0.clone() }
    }

    /// Spawns a batch on the request's `LocalSet`, gated as described above.
    pub fn spawn(&self, task: BoxFuture<'static, ()>) {
        let sequence = self.0.next.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut waiting) = self.0.waiting.lock() {
            waiting.insert(sequence);
        }
        drop(tokio::task::spawn_local(Gated { task, sequence, started: false, state: self.0.clone() }));
    }
}

pub struct Tracked<F> {
    inner: Pin<Box<F>>,
    state: Arc<State>,
}

/// Marks the request busy whenever anything wakes it.
struct FlagWaker {
    state: Arc<State>,
    woken: AtomicBool,
    inner: Waker,
}

impl Wake for FlagWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::SeqCst);
        self.state.busy.store(true, Ordering::SeqCst);
        self.inner.wake_by_ref();
    }
}

impl<F: Future> Future for Tracked<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.state.busy.store(true, Ordering::SeqCst);
        let flag = Arc::new(FlagWaker {
            state: self.state.clone(),
            woken: AtomicBool::new(false),
            inner: cx.waker().clone(),
        });
        let waker = Waker::from(flag.clone());
        let polled = self.inner.as_mut().poll(&mut Context::from_waker(&waker));
        // Woken during its own poll means it only yielded: still busy.
        if polled.is_pending() && !flag.woken.load(Ordering::SeqCst) {
            self.state.busy.store(false, Ordering::SeqCst);
        }
        polled
    }
}

struct Gated {
    task: BoxFuture<'static, ()>,
    sequence: u64,
    started: bool,
    state: Arc<State>,
}

impl Future for Gated {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let busy = self.state.busy.load(Ordering::SeqCst);
        let may_start = self.started
            || (self.state.loading.load(Ordering::SeqCst) == 0
                && self.state.is_oldest_waiting(self.sequence));
        if busy || !may_start {
            // Let the request finish asking; try again on the next turn.
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        if !self.started {
            self.started = true;
            self.state.stop_waiting(self.sequence);
            self.state.loading.fetch_add(1, Ordering::SeqCst);
        }
        match self.task.as_mut().poll(cx) {
            Poll::Ready(()) => {
                self.state.loading.fetch_sub(1, Ordering::SeqCst);
                Poll::Ready(())
            }
            Poll::Pending => Poll::Pending,
        }
    }
}
