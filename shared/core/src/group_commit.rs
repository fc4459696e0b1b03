//! Group commit: callers submit items one by one and wait; a few committers each take everything waiting (up to a
//! maximum), commit it as one unit (one broker-confirmed message, one database transaction) and answer every
//! caller with its own result. At low load an item is committed alone at once (no timer, no added latency); under
//! load batches grow and the per-commit cost (a confirm, an fsync, statement planning) is shared.
//!
//! Used by the collector's webhook (notifications → fetch jobs) and analytics (call records → one transaction).

use std::future::Future;
use std::sync::Arc;

use tokio::sync::{Semaphore, mpsc, oneshot};

type Pending<T, R> = (T, oneshot::Sender<R>);

/// A group-commit queue of items `T` answered with `R`; cheap to clone.
pub struct GroupCommit<T, R> {
    tx: mpsc::UnboundedSender<Pending<T, R>>,
}

impl<T, R> Clone for GroupCommit<T, R> {
    fn clone(&self) -> Self {
        Self { tx: self.tx.clone() }
    }
}

/// The queue's committer stopped (its runtime shut down).
#[derive(Debug, Clone, thiserror::Error)]
#[error("the group committer stopped")]
pub struct Stopped;

impl<T: Send + 'static, R: Send + 'static> GroupCommit<T, R> {
    /// Starts the committer on `runtime`: up to `committers` commits run at once, each of at most `max` items.
    /// `commit` must answer with one result per item, in the items' order.
    pub fn spawn<F, Fut>(runtime: &tokio::runtime::Handle, committers: usize, max: usize, commit: F) -> Self
    where
        F: Fn(Vec<T>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Vec<R>> + Send + 'static,
    {
        let (tx, rx) = mpsc::unbounded_channel();
        runtime.spawn(run(rx, committers.max(1), max.max(1), Arc::new(commit)));
        Self { tx }
    }

    /// Waits until `item` is committed; its result.
    pub async fn submit(&self, item: T) -> Result<R, Stopped> {
        let (done, wait) = oneshot::channel();
        self.tx.send((item, done)).map_err(|_| Stopped)?;
        wait.await.map_err(|_| Stopped)
    }
}

async fn run<T, R, F, Fut>(
    mut rx: mpsc::UnboundedReceiver<Pending<T, R>>,
    committers: usize,
    max: usize,
    commit: Arc<F>,
) where
    T: Send + 'static,
    R: Send + 'static,
    F: Fn(Vec<T>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Vec<R>> + Send + 'static,
{
    let permits = Arc::new(Semaphore::new(committers));
    loop {
        let Ok(permit) = permits.clone().acquire_owned().await else { return };
        let Some(first) = rx.recv().await else { return };
        let mut batch = vec![first];
        while batch.len() < max {
            match rx.try_recv() {
                Ok(pending) => batch.push(pending),
                Err(_) => break,
            }
        }
        let commit = commit.clone();
        tokio::spawn(async move {
            let (items, answers): (Vec<T>, Vec<oneshot::Sender<R>>) = batch.into_iter().unzip();
            let results = commit(items).await;
            debug_assert_eq!(results.len(), answers.len(), "one result per item");
            for (answer, result) in answers.into_iter().zip(results) {
                let _ = answer.send(result);
            }
            drop(permit);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[tokio::test]
    async fn items_waiting_together_are_committed_together_and_each_gets_its_own_result() {
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let seen = sizes.clone();
        let group = GroupCommit::spawn(&tokio::runtime::Handle::current(), 1, 10, move |items: Vec<u32>| {
            seen.lock().unwrap().push(items.len());
            async move {
                tokio::task::yield_now().await;
                items.into_iter().map(|i| i * 2).collect::<Vec<_>>()
            }
        });
        let results = futures::future::join_all((0..25).map(|i| group.submit(i))).await;
        let results: Vec<u32> = results.into_iter().map(Result::unwrap).collect();
        assert_eq!(results, (0..25).map(|i| i * 2).collect::<Vec<_>>());
        let sizes = sizes.lock().unwrap().clone();
        assert_eq!(sizes.iter().sum::<usize>(), 25);
        assert!(sizes.iter().all(|s| *s <= 10), "{sizes:?}");
        assert!(sizes.len() < 25, "items were grouped: {sizes:?}");
    }
}
