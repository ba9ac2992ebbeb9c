//! Batched loads of one relation within one request: every key the request's resolvers ask for
//! until they have all asked is read in one batch.
//!
//! async-graphql's own DataLoader sends a batch 1 ms after its first key. Its executor polls the
//! items of a list of more than 30 two at a time, yielding to the scheduler in between (a
//! `FuturesUnordered` yields after two of its futures wake themselves, and an object whose fields
//! wait does), so on a busy server or in a debug build a page of 50 customers asked for their
//! owners over several milliseconds, and the batch went out with some of them: the statements of
//! a page changed with how fast it was polled. A batch here is sent once the request's execution
//! ([`Execution`]) has nothing left to do but wait, and no key came in since the batch last
//! looked: every resolver that will ask has asked.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::hash::Hash;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Wake, Waker};

use async_graphql::dataloader::Loader;
use futures_util::future::BoxFuture;

use crate::error::Error;

/// A request's execution, and the batches its loads gather. It is waiting when it has not been
/// woken since its last poll began (an execution nobody tracks always counts as waiting).
///
/// Batches go out in rounds: every loader of the request sends what it gathered at the same
/// moment, and the next round waits until every read of this one has answered and the
/// execution waits again. So what one round asks does not depend on which of the round before
/// answered first (an owner read beside the complaints it shares a user with, or after them):
/// the statements of a page follow its shape and its data, not the timing of the database.
pub struct Execution {
    /// Woken since its last poll began: it has more to do before it waits.
    woken: AtomicBool,
    /// The execution ended or was dropped (a timeout, a client gone): nothing more will ask.
    ended: AtomicBool,
    /// Reads of the last round still running, and their end told.
    reading: AtomicUsize,
    read: tokio::sync::Notify,
    /// Keys ever added to a batch of the request.
    added: AtomicU64,
    /// Whether a task waits to send the gathered batches.
    dispatching: AtomicBool,
    /// Each loader's way to take its gathered batch, as a read to run.
    loaders: Mutex<Vec<Take>>,
    spawn: Spawn,
}

/// Takes a loader's gathered batch, if any, as the read that answers it.
type Take = Box<dyn Fn() -> Option<BoxFuture<'static, ()>> + Send + Sync>;

impl Execution {
    /// An execution whose batches run in tasks made by `spawn`.
    #[must_use]
    pub fn new(spawn: Spawn) -> Self {
        Self {
            woken: AtomicBool::new(false),
            ended: AtomicBool::new(false),
            reading: AtomicUsize::new(0),
            read: tokio::sync::Notify::new(),
            added: AtomicU64::new(0),
            dispatching: AtomicBool::new(false),
            loaders: Mutex::default(),
            spawn,
        }
    }

    /// Runs `fut`, the request's execution, noting whether it has been woken since it was last
    /// polled.
    pub async fn track<F: Future>(self: Arc<Self>, fut: F) -> F::Output {
        let mut fut = std::pin::pin!(fut);
        // Dropped with the execution, finished or not: a dispatcher then stops waiting for it.
        let _ended = Ended(self.clone());
        futures_util::future::poll_fn(move |cx| {
            let noted = Arc::new(Noted { waker: cx.waker().clone(), execution: self.clone() });
            let waker = Waker::from(noted);
            self.woken.store(false, Ordering::Release);
            let polled = fut.as_mut().poll(&mut Context::from_waker(&waker));
            if polled.is_ready() {
                self.woken.store(false, Ordering::Release);
            }
            polled
        })
        .await
    }

    /// Whether the execution has nothing to do but wait: it was not woken since its last poll,
    /// or it has ended.
    fn waiting(&self) -> bool {
        self.ended.load(Ordering::Acquire) || !self.woken.load(Ordering::Acquire)
    }

    /// Notes keys added to a batch, and makes sure a task will send it.
    fn added(self: &Arc<Self>, keys: u64) {
        self.added.fetch_add(keys, Ordering::AcqRel);
        if !self.dispatching.swap(true, Ordering::AcqRel) {
            (self.spawn)(Box::pin(dispatch(self.clone())));
        }
    }
}

/// Waits until the last round's reads have answered, the execution waits and a turn of the
/// scheduler added no key, then sends every loader's gathered batch.
async fn dispatch(execution: Arc<Execution>) {
    loop {
        let read = execution.read.notified();
        if execution.reading.load(Ordering::Acquire) == 0 {
            break;
        }
        read.await;
    }
    let mut seen = None;
    loop {
        tokio::task::yield_now().await;
        let added = execution.added.load(Ordering::Acquire);
        if seen == Some(added) && execution.waiting() {
            break;
        }
        seen = Some(added);
    }
    // Keys added from here on gather for the next dispatch.
    execution.dispatching.store(false, Ordering::Release);
    let reads: Vec<BoxFuture<'static, ()>> = {
        let loaders = execution.loaders.lock().unwrap_or_else(PoisonError::into_inner);
        loaders.iter().filter_map(|take| take()).collect()
    };
    execution.reading.fetch_add(reads.len(), Ordering::AcqRel);
    for read in reads {
        let done = Done(execution.clone());
        (execution.spawn)(Box::pin(async move {
            read.await;
            drop(done);
        }));
    }
}

/// Marks the execution ended when dropped.
struct Ended(Arc<Execution>);

impl Drop for Ended {
    fn drop(&mut self) {
        self.0.ended.store(true, Ordering::Release);
    }
}

/// Tells the execution that a read of its round has ended, when dropped: also when the read
/// panicked or its task was cancelled, so that the next round is never held up.
struct Done(Arc<Execution>);

impl Drop for Done {
    fn drop(&mut self) {
        if self.0.reading.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.read.notify_waiters();
        }
    }
}

/// The execution's waker, noting that it was woken.
struct Noted {
    waker: Waker,
    execution: Arc<Execution>,
}

impl Wake for Noted {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.execution.woken.store(true, Ordering::Release);
        self.waker.wake_by_ref();
    }
}

/// What a batch may be keyed by.
pub trait Key: Send + Sync + Hash + Eq + Clone + 'static {}

impl<K: Send + Sync + Hash + Eq + Clone + 'static> Key for K {}

/// Runs a batch in a task of its own (carrying the request's counters and clock).
pub type Spawn = Arc<dyn Fn(BoxFuture<'static, ()>) + Send + Sync>;

/// The answers for the keys one load waits for.
type Answers<K, V> = std::result::Result<HashMap<K, V>, Arc<Error>>;

/// Loads of one relation, keyed by `K`, answered with `V` by the loader `L`, batched; answers
/// are kept for the request when `keep` is set.
pub struct Batched<K, V, L> {
    inner: Arc<Inner<K, V, L>>,
}

struct Inner<K, V, L> {
    loader: L,
    keep: bool,
    execution: Arc<Execution>,
    state: Mutex<State<K, V>>,
}

struct State<K, V> {
    answers: HashMap<K, V>,
    /// Keys of the batch being gathered.
    gathering: HashSet<K>,
    /// Loads waiting for the batch being gathered, with their keys.
    waiting: Vec<Waiting<K, V>>,
}

/// A load waiting for a batch: its keys, and where its answers go.
type Waiting<K, V> = (Vec<K>, tokio::sync::oneshot::Sender<Answers<K, V>>);

impl<K, V, L> Batched<K, V, L>
where
    K: Key,
    V: Send + Sync + Clone + 'static,
    L: Loader<K, Value = V, Error = Arc<Error>>,
{
    /// A batched loader for the request whose execution is `execution`; `keep` keeps its
    /// answers for the rest of the request.
    pub fn new(loader: L, execution: &Arc<Execution>, keep: bool) -> Self {
        let state = State { answers: HashMap::new(), gathering: HashSet::new(), waiting: Vec::new() };
        let inner = Arc::new(Inner { loader, keep, execution: execution.clone(), state: Mutex::new(state) });
        // The execution holds the loader weakly: the loader holds the execution.
        let weak = Arc::downgrade(&inner);
        let take: Take = Box::new(move || weak.upgrade().and_then(take_batch));
        execution.loaders.lock().unwrap_or_else(PoisonError::into_inner).push(take);
        Self { inner }
    }

    /// The loader behind the batches.
    pub fn loader(&self) -> &L {
        &self.inner.loader
    }

    /// One key's answer; `None` when the batch had none for it.
    ///
    /// # Errors
    /// The batch's failure.
    pub async fn load_one(&self, key: K) -> std::result::Result<Option<V>, Arc<Error>> {
        let mut found = self.load_many(std::iter::once(key.clone())).await?;
        Ok(found.remove(&key))
    }

    /// The answers for `keys` (those the batch had).
    ///
    /// # Errors
    /// The batch's failure.
    pub async fn load_many(
        &self,
        keys: impl IntoIterator<Item = K>,
    ) -> std::result::Result<HashMap<K, V>, Arc<Error>> {
        let mut out = HashMap::new();
        let waiting = {
            let mut state = self.inner.state.lock().unwrap_or_else(PoisonError::into_inner);
            let mut missing = Vec::new();
            for key in keys {
                match state.answers.get(&key) {
                    Some(value) => {
                        out.insert(key, value.clone());
                    }
                    None => missing.push(key),
                }
            }
            if missing.is_empty() {
                return Ok(out);
            }
            let added = missing.iter().filter(|key| state.gathering.insert((*key).clone())).count();
            let (tx, rx) = tokio::sync::oneshot::channel();
            state.waiting.push((missing, tx));
            drop(state);
            self.inner.execution.added(u64::try_from(added).unwrap_or(u64::MAX).max(1));
            rx
        };
        let found = waiting
            .await
            .map_err(|_| Arc::new(Error::Internal(anyhow::anyhow!("a batch ended without answering"))))??;
        out.extend(found);
        Ok(out)
    }

    /// Keeps answers read elsewhere (ignored unless answers are kept).
    pub fn feed_many(&self, values: impl IntoIterator<Item = (K, V)>) {
        if self.inner.keep {
            self.inner.state.lock().unwrap_or_else(PoisonError::into_inner).answers.extend(values);
        }
    }
}

/// The batch `inner` gathered, if any, as the read that answers it.
fn take_batch<K, V, L>(inner: Arc<Inner<K, V, L>>) -> Option<BoxFuture<'static, ()>>
where
    K: Key,
    V: Send + Sync + Clone + 'static,
    L: Loader<K, Value = V, Error = Arc<Error>>,
{
    let (keys, waiting) = {
        let mut state = inner.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.waiting.is_empty() {
            return None;
        }
        let keys: Vec<K> = state.gathering.drain().collect();
        (keys, std::mem::take(&mut state.waiting))
    };
    Some(Box::pin(read(inner, keys, waiting)))
}

/// Reads a batch and answers every load waiting for it.
async fn read<K, V, L>(inner: Arc<Inner<K, V, L>>, keys: Vec<K>, waiting: Vec<Waiting<K, V>>)
where
    K: Key,
    V: Send + Sync + Clone + 'static,
    L: Loader<K, Value = V, Error = Arc<Error>>,
{
    let lock = || inner.state.lock().unwrap_or_else(PoisonError::into_inner);
    match inner.loader.load(&keys).await {
        Ok(found) => {
            let answers: Vec<_> = waiting
                .into_iter()
                .map(|(wanted, tx)| {
                    let answers: HashMap<K, V> =
                        wanted.into_iter().filter_map(|k| Some((k.clone(), found.get(&k)?.clone()))).collect();
                    (answers, tx)
                })
                .collect();
            // Kept before anyone is answered, so that nothing answered asks for them again.
            if inner.keep {
                lock().answers.extend(found);
            }
            for (answers, tx) in answers {
                let _ = tx.send(Ok(answers));
            }
        }
        Err(err) => {
            for (_, tx) in waiting {
                let _ = tx.send(Err(err.clone()));
            }
        }
    }
}
