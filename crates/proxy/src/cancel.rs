//! CancelRequest routing: which session a (process id, secret key) pair belongs to.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use strata_warehouse::Canceller;

/// What a CancelRequest reaches.
#[derive(Clone)]
pub enum CancelTarget {
    /// An engine session: raise its flag and interrupt its warehouse query.
    Engine(Arc<EngineCancel>),
    /// A relayed session: forward the request to the upstream that issued the key.
    Upstream(SocketAddr),
}

/// The cancel state an engine session shares with the registry.
#[derive(Default)]
pub struct EngineCancel {
    running: AtomicBool,
    requested: AtomicBool,
    interrupt: Mutex<Option<Canceller>>,
}

impl EngineCancel {
    pub fn set_interrupt(&self, interrupt: Option<Canceller>) {
        *self.interrupt.lock().unwrap_or_else(|e| e.into_inner()) = interrupt;
    }

    /// Marks the start of a statement; clears an earlier request.
    pub fn begin(&self) {
        self.requested.store(false, Ordering::SeqCst);
        self.running.store(true, Ordering::SeqCst);
    }

    pub fn end(&self) {
        self.running.store(false, Ordering::SeqCst);
    }

    pub fn requested(&self) -> bool {
        self.requested.load(Ordering::SeqCst)
    }

    /// Cancels the running statement, if one runs (a request between statements is a no-op,
    /// as in PostgreSQL).
    pub fn cancel(&self) {
        if self.running.load(Ordering::SeqCst) {
            self.requested.store(true, Ordering::SeqCst);
            if let Some(interrupt) = self.interrupt.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
                interrupt();
            }
        }
    }
}

#[derive(Default)]
pub struct CancelRegistry {
    targets: Mutex<HashMap<(i32, i32), CancelTarget>>,
}

impl CancelRegistry {
    /// Registers a target under a fresh random key pair.
    pub fn register_new(&self, target: CancelTarget) -> (i32, i32) {
        let mut targets = self.targets.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            let process_id = (rand::random::<u32>() >> 1) as i32 | 1;
            let secret = rand::random::<i32>();
            if let std::collections::hash_map::Entry::Vacant(v) = targets.entry((process_id, secret)) {
                v.insert(target);
                return (process_id, secret);
            }
        }
    }

    /// Registers a target under the key the upstream gave.
    pub fn register(&self, key: (i32, i32), target: CancelTarget) {
        self.targets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, target);
    }

    pub fn remove(&self, key: (i32, i32)) {
        self.targets.lock().unwrap_or_else(|e| e.into_inner()).remove(&key);
    }

    pub fn get(&self, key: (i32, i32)) -> Option<CancelTarget> {
        self.targets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
            .cloned()
    }
}
