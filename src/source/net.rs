//! Concurrency for network work: a process-wide limit on requests in flight (shared by
//! every model of one command), and ordered parallel maps that run work on scoped threads
//! and either stop at the first failure (the shards of one checkpoint) or keep going (the
//! models of a batch).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, OnceLock};

/// Requests in flight at once when neither `--concurrency` nor `PARAMAUDIT_CONCURRENCY`
/// says otherwise.
pub const DEFAULT_CONCURRENCY: usize = 16;
/// Largest concurrency accepted.
pub const MAX_CONCURRENCY: usize = 256;
/// Files downloaded at once (as `huggingface_hub` does).
pub const DOWNLOADS_AT_ONCE: usize = 8;

/// A counting semaphore.
#[derive(Debug)]
pub struct Limiter {
    free: Mutex<usize>,
    freed: Condvar,
    size: usize,
}

/// A held slot; released when dropped.
#[derive(Debug)]
pub struct Permit<'a>(&'a Limiter);

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        let mut free = self.0.free.lock().unwrap_or_else(|e| e.into_inner());
        *free += 1;
        self.0.freed.notify_one();
    }
}

impl Limiter {
    /// A limiter with `size` slots (at least one).
    pub fn new(size: usize) -> Limiter {
        let size = size.clamp(1, MAX_CONCURRENCY);
        Limiter {
            free: Mutex::new(size),
            freed: Condvar::new(),
            size,
        }
    }

    /// Wait for a free slot.
    pub fn acquire(&self) -> Permit<'_> {
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        while *free == 0 {
            free = self.freed.wait(free).unwrap_or_else(|e| e.into_inner());
        }
        *free -= 1;
        Permit(self)
    }

    /// Its number of slots.
    pub fn size(&self) -> usize {
        self.size
    }
}

static REQUESTS: OnceLock<Limiter> = OnceLock::new();

/// The process-wide request limiter, sized on first use from `PARAMAUDIT_CONCURRENCY`
/// (or [`set_concurrency`] before any request).
pub fn requests() -> &'static Limiter {
    REQUESTS.get_or_init(|| {
        let n = std::env::var("PARAMAUDIT_CONCURRENCY")
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .filter(|n| *n > 0)
            .unwrap_or(DEFAULT_CONCURRENCY);
        Limiter::new(n)
    })
}

/// Size the request limiter (the `--concurrency` flag); only the first call before any
/// request takes effect.
pub fn set_concurrency(n: usize) {
    let _ = REQUESTS.set(Limiter::new(n));
}

/// Run `f` on every item with up to `threads` threads; results in input order. The first
/// failure (by input order among those that ran) is returned and no further item starts.
pub fn map_until_error<T: Sync, R: Send, E: Send>(
    items: &[T],
    threads: usize,
    f: impl Fn(&T) -> Result<R, E> + Sync,
) -> Result<Vec<R>, E> {
    let failed = AtomicBool::new(false);
    let results = map(items, threads, |item| {
        if failed.load(Ordering::SeqCst) {
            return None;
        }
        let r = f(item);
        if r.is_err() {
            failed.store(true, Ordering::SeqCst);
        }
        Some(r)
    });
    let mut out = Vec::with_capacity(items.len());
    let mut first_error = None;
    for r in results {
        match r {
            Some(Ok(v)) => out.push(v),
            Some(Err(e)) if first_error.is_none() => first_error = Some(e),
            _ => {}
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

/// Run `f` on every item with up to `threads` threads; results in input order.
pub fn map<T: Sync, R: Send>(items: &[T], threads: usize, f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = threads.clamp(1, items.len().max(1));
    if threads == 1 {
        return items.iter().map(f).collect();
    }
    let next = AtomicUsize::new(0);
    let slots: Vec<Mutex<Option<R>>> = items.iter().map(|_| Mutex::new(None)).collect();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(item) = items.get(i) else { break };
                let r = f(item);
                *slots[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(r);
            });
        }
    });
    slots
        .into_iter()
        .filter_map(|m| m.into_inner().unwrap_or_else(|e| e.into_inner()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn results_come_back_in_input_order_whatever_finishes_first() {
        let items: Vec<u64> = (0..40).collect();
        let out = map(&items, 8, |&i| {
            std::thread::sleep(Duration::from_millis((40 - i) % 7));
            i * 2
        });
        assert_eq!(out, items.iter().map(|i| i * 2).collect::<Vec<_>>());
    }

    #[test]
    fn the_first_failure_stops_the_rest_from_starting() {
        let started = AtomicUsize::new(0);
        let items: Vec<u64> = (0..1000).collect();
        let r: Result<Vec<u64>, String> = map_until_error(&items, 4, |&i| {
            started.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(1));
            if i == 5 {
                Err(format!("item {i} failed"))
            } else {
                Ok(i)
            }
        });
        assert_eq!(r.unwrap_err(), "item 5 failed");
        assert!(
            started.load(Ordering::SeqCst) < 50,
            "cancelled, not run to the end"
        );
    }

    #[test]
    fn the_limiter_never_lets_more_than_its_size_through() {
        let limiter = Limiter::new(3);
        let inside = AtomicUsize::new(0);
        let most = AtomicUsize::new(0);
        let items: Vec<u32> = (0..60).collect();
        map(&items, 12, |_| {
            let _p = limiter.acquire();
            let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(now, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(2));
            inside.fetch_sub(1, Ordering::SeqCst);
        });
        assert_eq!(most.load(Ordering::SeqCst), 3);
    }
}
