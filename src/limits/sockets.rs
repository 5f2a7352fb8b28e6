//! Caps on subscription sockets: per token once initialised, and per client
//! address before `connection_init`, so that sockets which never say who
//! they are cannot use up the process's file descriptors (and `/healthz`
//! with them). A slot is held by a guard and given back when it drops.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Counts of open sockets by token and of uninitialised ones by address.
pub struct SocketCaps {
    per_token: Counter<i32>,
    pending_per_address: Counter<IpAddr>,
}

impl SocketCaps {
    pub fn new(per_token: usize, pending_per_address: usize) -> Self {
        Self { per_token: Counter::new(per_token), pending_per_address: Counter::new(pending_per_address) }
    }

    /// A slot for a socket from `address` until it sends `connection_init`;
    /// `None` when the address holds its cap of such sockets already.
    pub fn pending(&self, address: IpAddr) -> Option<Slot<IpAddr>> {
        self.pending_per_address.take(address)
    }

    /// A slot for an initialised socket of `token_id`; `None` at its cap.
    pub fn open(&self, token_id: i32) -> Option<Slot<i32>> {
        self.per_token.take(token_id)
    }
}

struct Counter<K: Eq + Hash> {
    cap: usize,
    counts: Arc<Mutex<HashMap<K, usize>>>,
}

impl<K: Eq + Hash + Copy> Counter<K> {
    fn new(cap: usize) -> Self {
        Self { cap, counts: Arc::default() }
    }

    fn take(&self, key: K) -> Option<Slot<K>> {
        let mut counts = self.counts.lock().ok()?;
        let count = counts.entry(key).or_insert(0);
        if *count >= self.cap {
            return None;
        }
        *count += 1;
        Some(Slot { key, counts: self.counts.clone() })
    }
}

/// One socket's place under a cap, given back on drop.
pub struct Slot<K: Eq + Hash> {
    key: K,
    counts: Arc<Mutex<HashMap<K, usize>>>,
}

impl<K: Eq + Hash> Drop for Slot<K> {
    fn drop(&mut self) {
        if let Ok(mut counts) = self.counts.lock()
            && let Some(count) = counts.get_mut(&self.key)
        {
            *count = count.saturating_sub(1);
            if *count == 0 {
                counts.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_capped_and_given_back() {
        let caps = SocketCaps::new(2, 1);
        let a = caps.open(1);
        let b = caps.open(1);
        assert!(a.is_some() && b.is_some());
        assert!(caps.open(1).is_none(), "third socket of one token");
        assert!(caps.open(2).is_some(), "another token has its own cap");
        drop(a);
        assert!(caps.open(1).is_some(), "a closed socket gives its slot back");
        let address = IpAddr::from([127, 0, 0, 1]);
        let pending = caps.pending(address);
        assert!(pending.is_some() && caps.pending(address).is_none());
        drop(pending);
        assert!(caps.pending(address).is_some());
    }
}
