//! Single-flight across cores: concurrent misses for one key run one decode; everyone
//! else waits for its result. The registry is a papaya map (shared); each flight's
//! waiter list is a small mutex touched only on the miss path.

use super::ChunkKey;
use crate::audio::decode::DecodeError;
use bytes::Bytes;
use std::sync::{Arc, Mutex};

/// Why a flight ended without a chunk.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum FlightError {
    /// A queued prefetch was refused by a full decode queue: waiters retry as leaders.
    Dropped,
    /// The decode itself failed (every waiter gets the same reason).
    Failed(DecodeError),
}

/// Result every waiter of a flight receives.
pub(crate) type FlightResult = Result<Bytes, FlightError>;

#[derive(Default)]
struct State {
    result: Option<FlightResult>,
    waiters: Vec<async_channel::Sender<FlightResult>>,
}

/// One decode in progress.
#[derive(Default)]
pub(crate) struct Flight {
    state: Mutex<State>,
}

impl Flight {
    /// A receiver for the result (immediately ready if already done).
    pub(crate) fn wait(&self) -> async_channel::Receiver<FlightResult> {
        let (tx, rx) = async_channel::bounded(1);
        if let Ok(mut s) = self.state.lock() {
            match &s.result {
                Some(r) => {
                    let _ = tx.try_send(r.clone());
                }
                None => s.waiters.push(tx),
            }
        }
        rx
    }

    fn finish(&self, result: FlightResult) {
        if let Ok(mut s) = self.state.lock() {
            for w in s.waiters.drain(..) {
                let _ = w.try_send(result.clone());
            }
            s.result = Some(result);
        }
    }
}

/// Outcome of asking to decode a key.
pub(crate) enum Role {
    /// Nobody was decoding it: you run the decode and must call `complete`.
    Leader(Arc<Flight>),
    /// Someone is: wait on this flight.
    Follower(Arc<Flight>),
}

/// The registry of flights in progress. Crosses threads.
#[derive(Default)]
pub(crate) struct Flights {
    map: papaya::HashMap<ChunkKey, Arc<Flight>>,
}

impl Flights {
    pub(crate) fn join(&self, key: ChunkKey) -> Role {
        let map = self.map.pin();
        let mine = Arc::new(Flight::default());
        match map.try_insert(key, mine.clone()) {
            Ok(_) => Role::Leader(mine),
            Err(occupied) => Role::Follower(occupied.current.clone()),
        }
    }

    pub(crate) fn in_flight(&self, key: &ChunkKey) -> bool {
        self.map.pin().contains_key(key)
    }

    /// Publishes the result to every waiter and retires the flight.
    pub(crate) fn complete(&self, key: &ChunkKey, flight: &Flight, result: FlightResult) {
        self.map.pin().remove(key);
        flight.finish(result);
    }
}
