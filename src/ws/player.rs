//! A connection's player session: queue of track ids, current index, position, state,
//! and a monotonic `seq` bumped by every change. With `session_create` it becomes a
//! shared session whose changes are published to `session:<id>` on every core.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub(crate) enum PlayState {
    #[default]
    Stopped,
    Playing,
    Paused,
}

/// Most tracks one queue may hold.
pub(crate) const MAX_QUEUE: usize = 10_000;

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub(crate) struct Player {
    pub seq: u64,
    pub session_id: Option<String>,
    /// The token id of the session's creator (`None`: made without a token); it may
    /// join again without the join secret.
    #[serde(default)]
    pub owner: Option<i64>,
    pub state: PlayState,
    pub queue: Vec<i64>,
    pub index: Option<usize>,
    /// The position at `position_at_ms`; while playing it moves with the clock.
    pub position_ms: u64,
    /// Unix ms at which `position_ms` held (a status message carries both, so another
    /// node computes the same moving position).
    #[serde(default, rename = "position_updated_at_ms")]
    pub position_at_ms: u64,
}

/// What went wrong with a player command (an `invalid_payload` reply).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum PlayerError {
    #[error("the queue is empty")]
    EmptyQueue,
    #[error("index {index} is out of range (queue has {len})")]
    IndexOutOfRange { index: usize, len: usize },
    #[error("position {position} is out of range (queue has {len})")]
    PositionOutOfRange { position: usize, len: usize },
    #[error("nothing is playing")]
    NotPlaying,
    #[error("no current track")]
    NoCurrentTrack,
    #[error("position_ms {position_ms} is past the end ({duration_ms} ms)")]
    PastEnd { position_ms: u64, duration_ms: u64 },
    #[error("already at the first track")]
    AtFirst,
    #[error("already at the last track")]
    AtLast,
    #[error("a queue holds at most {MAX_QUEUE} tracks")]
    QueueFull,
    #[error("from and to must be below {0}")]
    ReorderOutOfRange(usize),
}

/// The envelope of a `status_update` text, for reading a session's state back.
#[derive(Deserialize)]
struct StatusText {
    payload: Player,
}

impl Player {
    /// The player state a `status_update` message carries (a session's state as
    /// published or stored by another node); `None` if the text is not one.
    pub(crate) fn from_status_text(text: &[u8]) -> Option<Player> {
        serde_json::from_slice::<StatusText>(text)
            .ok()
            .map(|s| s.payload)
            .filter(|p| p.session_id.is_some())
    }

    /// Takes `shared`'s state when it is newer (another controller of the same
    /// session changed it); the session id stays this connection's.
    pub(crate) fn follow(&mut self, shared: Player) {
        if shared.seq > self.seq {
            let id = self.session_id.take();
            *self = shared;
            self.session_id = id;
        }
    }

    fn changed(&mut self) {
        self.seq += 1;
    }

    /// The position at `now_ms` (unix ms): server time since play or seek, while
    /// playing; `duration_ms` caps it at the track's end.
    pub(crate) fn position(&self, now_ms: u64, duration_ms: Option<u64>) -> u64 {
        let moved = match self.state {
            PlayState::Playing => now_ms.saturating_sub(self.position_at_ms),
            _ => 0,
        };
        let at = self.position_ms.saturating_add(moved);
        duration_ms.map_or(at, |d| at.min(d))
    }

    /// Re-anchors the position at `now_ms` (before and after a command, so a pause
    /// keeps where playback got to and a play or seek starts the clock there).
    pub(crate) fn anchor(&mut self, now_ms: u64) {
        self.position_ms = self.position(now_ms, None);
        self.position_at_ms = now_ms;
    }

    pub(crate) fn play(&mut self, index: Option<usize>) -> Result<(), PlayerError> {
        if self.queue.is_empty() {
            return Err(PlayerError::EmptyQueue);
        }
        let target = match index {
            Some(i) if i < self.queue.len() => i,
            Some(index) => {
                return Err(PlayerError::IndexOutOfRange {
                    index,
                    len: self.queue.len(),
                });
            }
            None => self.index.unwrap_or(0),
        };
        if self.index != Some(target) {
            self.position_ms = 0;
        }
        self.index = Some(target);
        self.state = PlayState::Playing;
        self.changed();
        Ok(())
    }

    pub(crate) fn pause(&mut self) -> Result<(), PlayerError> {
        if self.state != PlayState::Playing {
            return Err(PlayerError::NotPlaying);
        }
        self.state = PlayState::Paused;
        self.changed();
        Ok(())
    }

    pub(crate) fn stop(&mut self) {
        self.state = PlayState::Stopped;
        self.position_ms = 0;
        self.changed();
    }

    pub(crate) fn seek(&mut self, position_ms: u64, duration_ms: u64) -> Result<(), PlayerError> {
        if self.index.is_none() {
            return Err(PlayerError::NoCurrentTrack);
        }
        if position_ms > duration_ms {
            return Err(PlayerError::PastEnd {
                position_ms,
                duration_ms,
            });
        }
        self.position_ms = position_ms;
        self.changed();
        Ok(())
    }

    pub(crate) fn step(&mut self, forward: bool) -> Result<(), PlayerError> {
        let i = self.index.ok_or(PlayerError::NoCurrentTrack)?;
        let next = if forward {
            i + 1
        } else {
            i.checked_sub(1).ok_or(PlayerError::AtFirst)?
        };
        if next >= self.queue.len() {
            return Err(PlayerError::AtLast);
        }
        self.index = Some(next);
        self.position_ms = 0;
        self.changed();
        Ok(())
    }

    pub(crate) fn add(
        &mut self,
        tracks: &[i64],
        position: Option<usize>,
    ) -> Result<(), PlayerError> {
        if self.queue.len() + tracks.len() > MAX_QUEUE {
            return Err(PlayerError::QueueFull);
        }
        let at = match position {
            Some(p) if p <= self.queue.len() => p,
            Some(position) => {
                return Err(PlayerError::PositionOutOfRange {
                    position,
                    len: self.queue.len(),
                });
            }
            None => self.queue.len(),
        };
        self.queue.splice(at..at, tracks.iter().copied());
        if let Some(i) = self.index
            && i >= at
        {
            self.index = Some(i + tracks.len());
        }
        self.changed();
        Ok(())
    }

    pub(crate) fn remove(&mut self, index: usize) -> Result<(), PlayerError> {
        if index >= self.queue.len() {
            return Err(PlayerError::IndexOutOfRange {
                index,
                len: self.queue.len(),
            });
        }
        self.queue.remove(index);
        self.index = match self.index {
            Some(i) if i == index => {
                self.state = PlayState::Stopped;
                self.position_ms = 0;
                if self.queue.is_empty() {
                    None
                } else {
                    Some(i.min(self.queue.len() - 1))
                }
            }
            Some(i) if i > index => Some(i - 1),
            other => other,
        };
        self.changed();
        Ok(())
    }

    pub(crate) fn clear(&mut self) {
        self.queue.clear();
        self.index = None;
        self.state = PlayState::Stopped;
        self.position_ms = 0;
        self.changed();
    }

    pub(crate) fn reorder(&mut self, from: usize, to: usize) -> Result<(), PlayerError> {
        let n = self.queue.len();
        if from >= n || to >= n {
            return Err(PlayerError::ReorderOutOfRange(n));
        }
        let t = self.queue.remove(from);
        self.queue.insert(to, t);
        if let Some(i) = self.index {
            self.index = Some(if i == from {
                to
            } else if from < i && i <= to {
                i - 1
            } else if to <= i && i < from {
                i + 1
            } else {
                i
            });
        }
        self.changed();
        Ok(())
    }

    pub(crate) fn current(&self) -> Option<i64> {
        self.index.and_then(|i| self.queue.get(i).copied())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_position_moves_with_the_clock_while_playing_only() {
        let mut p = Player::default();
        p.add(&[7], None).unwrap();
        p.anchor(1_000);
        p.play(None).unwrap();
        p.anchor(1_000);
        assert_eq!(p.position(1_400, Some(60_000)), 400);
        assert_eq!(
            p.position(90_000, Some(60_000)),
            60_000,
            "capped at the end"
        );
        p.anchor(2_000);
        p.pause().unwrap();
        p.anchor(2_000);
        assert_eq!(p.position(9_000, Some(60_000)), 1_000, "paused: it stays");
        p.anchor(3_000);
        p.seek(5_000, 60_000).unwrap();
        p.play(None).unwrap();
        p.anchor(3_000);
        assert_eq!(p.position(3_250, None), 5_250);
    }

    #[test]
    fn commands_keep_index_consistent_and_bump_seq() {
        let mut p = Player::default();
        assert!(p.play(None).is_err());
        p.add(&[10, 20, 30], None).unwrap();
        p.play(Some(1)).unwrap();
        p.add(&[5], Some(0)).unwrap();
        assert_eq!(p.current(), Some(20));
        p.reorder(0, 3).unwrap();
        assert_eq!(
            (p.queue.clone(), p.current()),
            (vec![10, 20, 30, 5], Some(20))
        );
        p.step(true).unwrap();
        assert_eq!(p.current(), Some(30));
        p.remove(0).unwrap();
        assert_eq!(p.current(), Some(30));
        assert!(p.step(true).is_ok() && p.step(true).is_err());
        assert_eq!(p.seq, 7);
    }
}
