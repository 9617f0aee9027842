//! A page's files fetched ahead of the one being written, within the tenant's download slots.
//!
//! Every stream of a tenant draws from the same few slots (`[http] file_downloads`), and a
//! stream writes its files strictly in order. If a stream could wait for a slot while already
//! holding others (files ahead of the one it needs next), streams could end up each holding
//! slots for later files while waiting for their first: every stream stuck, nothing failing.
//! That happened when each file's task waited for its own slot (tasks start in any order).
//!
//! So a stream waits for a slot only for the file it needs next, and only when it holds none;
//! files ahead start only on a slot free at that moment. Every slot is then held by a file its
//! stream is about to read or reading, so slots always come free again. A stream that waits is
//! also served before any file ahead starts: a freed slot goes to a waiter first.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinError;
use tokio_util::task::AbortOnDropHandle;

/// The files of one page, started up to `ahead` at a time, handed out in order.
pub struct Prefetch<I: Iterator, F, T> {
    slots: Arc<Semaphore>,
    ahead: usize,
    todo: std::iter::Peekable<I>,
    start: F,
    /// Started, in order; each holds its slot until its result is dropped.
    running: VecDeque<AbortOnDropHandle<Fetched<T>>>,
}

/// A started file's result, with the slot it holds until dropped.
pub type Fetched<T> = (T, OwnedSemaphorePermit);

impl<I, F, Fut, T> Prefetch<I, F, T>
where
    I: Iterator,
    F: FnMut(I::Item) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    pub fn new(slots: Arc<Semaphore>, ahead: usize, items: I, start: F) -> Self {
        Prefetch {
            slots,
            ahead: ahead.max(1),
            todo: items.peekable(),
            start,
            running: VecDeque::new(),
        }
    }

    /// The next item's result, in order; `None` when every item is handed out. Waits for a slot
    /// only when nothing is running (the caller must have dropped the slot of the item before,
    /// as it holds none while it waits). Dropping the `Prefetch` aborts what is running.
    pub async fn next(&mut self) -> Option<Result<Fetched<T>, JoinError>> {
        if self.running.is_empty() {
            self.todo.peek()?;
            let slot = self.slots.clone().acquire_owned().await.ok()?;
            self.launch(slot);
        }
        while self.running.len() < self.ahead && self.todo.peek().is_some() {
            match self.slots.clone().try_acquire_owned() {
                Ok(slot) => self.launch(slot),
                Err(_) => break,
            }
        }
        let head = self.running.pop_front()?;
        Some(head.await)
    }

    fn launch(&mut self, slot: OwnedSemaphorePermit) {
        if let Some(item) = self.todo.next() {
            let work = (self.start)(item);
            self.running
                .push_back(AbortOnDropHandle::new(tokio::spawn(async move {
                    let out = work.await;
                    (out, slot)
                })));
        }
    }

    /// Items started and not yet handed out.
    #[cfg(test)]
    fn started(&self) -> usize {
        self.running.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Items that finish at once, recording the order they started in.
    fn items(
        name: &'static str,
        log: Arc<std::sync::Mutex<Vec<String>>>,
    ) -> impl FnMut(usize) -> std::future::Ready<usize> {
        move |i| {
            log.lock().unwrap().push(format!("{name}{i}"));
            std::future::ready(i)
        }
    }

    #[tokio::test]
    async fn items_come_out_in_order_with_at_most_ahead_started() {
        let slots = Arc::new(Semaphore::new(8));
        let log = Arc::default();
        let mut p = Prefetch::new(slots.clone(), 3, 0..5, items("a", Arc::clone(&log)));
        let mut got = Vec::new();
        while let Some(r) = p.next().await {
            let (i, _slot) = r.unwrap();
            assert!(p.started() <= 2, "the item handed out plus two ahead");
            got.push(i);
        }
        assert_eq!(got, vec![0, 1, 2, 3, 4]);
        assert_eq!(slots.available_permits(), 8, "every slot came back");
    }

    /// Two streams share two slots. The first holds both (its next file and one ahead); the
    /// second waits for one. When the first hands out its file, it may not take the freed slot
    /// for a file further ahead: the waiting stream gets it. Were each file to wait for its own
    /// slot, later files could hold every slot while the files needed first wait: no progress.
    #[tokio::test]
    async fn a_waiting_stream_gets_a_freed_slot_before_files_ahead() {
        let slots = Arc::new(Semaphore::new(2));
        let log: Arc<std::sync::Mutex<Vec<String>>> = Arc::default();
        let mut a = Prefetch::new(slots.clone(), 2, 0..4, items("a", Arc::clone(&log)));
        let mut b = Prefetch::new(slots.clone(), 2, 0..2, items("b", Arc::clone(&log)));

        let (a0, slot_a0) = a.next().await.unwrap().unwrap();
        assert_eq!(a0, 0);
        assert_eq!(a.started(), 1, "a1 started ahead on the second slot");
        assert_eq!(slots.available_permits(), 0);

        // b waits: nothing for it yet.
        let waiting = Arc::new(AtomicUsize::new(usize::MAX));
        let seen = Arc::clone(&waiting);
        let b_task = tokio::spawn(async move {
            let (b0, slot) = b.next().await.unwrap().unwrap();
            seen.store(b0, Ordering::SeqCst);
            drop(slot);
            b.next().await.map(|r| r.unwrap().0)
        });
        tokio::task::yield_now().await;
        assert_eq!(
            waiting.load(Ordering::SeqCst),
            usize::MAX,
            "b has no slot yet"
        );

        // a is done with its first file; its second is already running on the other slot.
        drop(slot_a0);
        let (a1, slot_a1) = a.next().await.unwrap().unwrap();
        assert_eq!(a1, 1);
        assert_eq!(a.started(), 0, "the freed slot went to b, not to a2");
        drop(slot_a1);
        assert_eq!(b_task.await.unwrap(), Some(1), "b read both its files");
        assert_eq!(waiting.load(Ordering::SeqCst), 0);
        let rest: Vec<usize> = {
            let mut v = Vec::new();
            while let Some(r) = a.next().await {
                v.push(r.unwrap().0);
            }
            v
        };
        assert_eq!(rest, vec![2, 3]);
        let order = log.lock().unwrap().clone();
        let b0 = order.iter().position(|s| s == "b0").unwrap();
        let a2 = order.iter().position(|s| s == "a2").unwrap();
        assert!(
            b0 < a2,
            "b's first file started before a's third: {order:?}"
        );
        assert_eq!(slots.available_permits(), 2);
    }

    #[tokio::test]
    async fn many_streams_on_one_slot_all_finish() {
        let slots = Arc::new(Semaphore::new(1));
        let mut tasks = Vec::new();
        for s in 0..6 {
            let slots = slots.clone();
            tasks.push(tokio::spawn(async move {
                let mut p = Prefetch::new(slots, 4, 0..20, move |i: usize| async move {
                    tokio::task::yield_now().await;
                    i + s * 100
                });
                let mut n = 0;
                while let Some(r) = p.next().await {
                    let (v, _slot) = r.unwrap();
                    assert_eq!(v, n + s * 100);
                    n += 1;
                }
                n
            }));
        }
        for t in tasks {
            assert_eq!(t.await.unwrap(), 20);
        }
    }
}
