//! Deterministic DataLoader batching for one request.
//!
//! async-graphql's DataLoader batches by time: a batch takes the keys asked
//! for within a short delay of its first key. While a long list resolves,
//! its resolvers yield now and then, and a batch that fires at such a yield
//! takes only part of a level: the more rows, the more batches.
//!
//! Here a request's future is [`Batching::track`]ed to know when it is idle
//! (waiting on nothing but I/O), and every batch is [`Batching::spawn`]ed
//! behind a gate: a batch runs only when the request is idle, no other batch
//! is loading, and it is the oldest batch waiting. A batch then holds every
//! key asked for until that moment, and the batches of a request run in an
//! order set by the query alone, so its statement count depends on the
//! query's shape, never on how many rows it returns or how fast the database
//! answers.
//!
//! A gate that may not open yet parks its waker; the two moments that can
//! open it (the request going idle, a batch finishing) wake the oldest
//! parked gate. Nothing polls in a loop, so a request waiting on its batches
//! costs no CPU, and requests run as ordinary tasks on the runtime's
//! workers (no thread of their own).

use futures::future::BoxFuture;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Wake, Waker};

#[derive(Default)]
struct State {
    /// The request future is running or has been woken since it last slept.
    busy: AtomicBool,
    /// The request future is gone (answered or dropped): gates still parked
    /// are let go without loading.
    closed: AtomicBool,
    /// Batches that have started loading and not finished.
    loading: AtomicUsize,
    /// Batches spawned and not yet started, by sequence number, with the
    /// waker of each one that has parked.
    waiting: Mutex<BTreeMap<u64, Option<Waker>>>,
    next: AtomicU64,
}

impl State {
    /// Wakes the oldest parked gate: the only one that may open next.
    /// Called after a change that may open it, and under the same lock a gate
    /// parks under, so a gate never parks after the wake meant for it.
    fn wake_oldest(&self) {
        let waker = self.waiting().values_mut().next().and_then(Option::take);
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// The waiting list; no code panics while holding it, so a poisoned
    /// lock still holds a consistent list.
    fn waiting(&self) -> MutexGuard<'_, BTreeMap<u64, Option<Waker>>> {
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn wake_all(&self) {
        let wakers: Vec<Waker> = self.waiting().values_mut().filter_map(Option::take).collect();
        for waker in wakers {
            waker.wake();
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

    /// Spawns a batch as a runtime task, gated as described above.
    pub fn spawn(&self, task: BoxFuture<'static, ()>) {
        let sequence = self.0.next.fetch_add(1, Ordering::SeqCst);
        self.0.waiting().insert(sequence, None);
        drop(tokio::spawn(Gated { task, sequence, started: false, state: self.0.clone() }));
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
            self.state.wake_oldest();
        }
        polled
    }
}

impl<F> Drop for Tracked<F> {
    fn drop(&mut self) {
        self.state.closed.store(true, Ordering::SeqCst);
        self.state.wake_all();
    }
}

struct Gated {
    task: BoxFuture<'static, ()>,
    sequence: u64,
    started: bool,
    state: Arc<State>,
}

impl Gated {
    /// Opens the gate, or parks this task's waker until something that may
    /// open it happens. `None`: the request is gone, nothing to load for.
    fn open(&mut self, cx: &Context<'_>) -> Option<Poll<()>> {
        let state = &self.state;
        let mut waiting = state.waiting();
        if state.closed.load(Ordering::SeqCst) {
            waiting.remove(&self.sequence);
            return None;
        }
        let oldest = waiting.keys().next() == Some(&self.sequence);
        if state.busy.load(Ordering::SeqCst) || state.loading.load(Ordering::SeqCst) > 0 || !oldest {
            waiting.insert(self.sequence, Some(cx.waker().clone()));
            return Some(Poll::Pending);
        }
        waiting.remove(&self.sequence);
        state.loading.fetch_add(1, Ordering::SeqCst);
        self.started = true;
        Some(Poll::Ready(()))
    }
}

impl Future for Gated {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if !self.started {
            match self.open(cx) {
                None => return Poll::Ready(()),
                Some(Poll::Pending) => return Poll::Pending,
                Some(Poll::Ready(())) => {}
            }
        }
        match self.task.as_mut().poll(cx) {
            Poll::Ready(()) => {
                self.state.loading.fetch_sub(1, Ordering::SeqCst);
                self.state.wake_oldest();
                Poll::Ready(())
            }
            Poll::Pending => Poll::Pending,
        }
    }
}
