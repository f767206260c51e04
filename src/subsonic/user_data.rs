//! What a user keeps: stars, ratings, plays (`scrobble`), who is playing what, and
//! the saved play queue. Every change is one writer transaction acting for the user.

use super::element::Element;
use super::error::SubsonicError;
use super::shapes::{self, Id};
use super::{Answer, Call, MethodFuture, boxed};
use crate::library::events::Tx;
use crate::library::model::{now_ms, rfc3339_ms};
use crate::library::user_data::{MAX_QUEUE, PlayQueue};
use crate::library::{LibraryError, ops, user_data};
use std::rc::Rc;
use std::time::{Duration, Instant};

/// How long a now-playing entry is shown without a new one.
const NOW_PLAYING_FOR: Duration = Duration::from_secs(15 * 60);

/// A user's current track, as its app last reported it.
#[derive(Debug, Clone)]
pub(crate) struct NowPlaying {
    pub track: i64,
    pub user: String,
    pub client: String,
    pub since: Instant,
}

/// Song ids from the repeated `name` parameter (at most [`MAX_QUEUE`]).
fn song_ids(call: &Call, name: &str) -> Result<Vec<i64>, SubsonicError> {
    let mut ids = Vec::new();
    for raw in call.params.all(name) {
        if ids.len() >= MAX_QUEUE {
            return Err(SubsonicError::Invalid {
                name: "id",
                why: format!("more than {MAX_QUEUE}"),
            });
        }
        match Id::parse(raw) {
            Some(Id::Track(id)) => ids.push(id),
            _ => return Err(SubsonicError::NotFound(format!("no song {raw:?}"))),
        }
    }
    Ok(ids)
}

/// Runs `f` on the writer for the caller.
async fn write<R: Send + 'static>(
    call: &Call,
    f: impl FnOnce(&Tx<'_>) -> Result<R, LibraryError> + Send + 'static,
) -> Result<R, SubsonicError> {
    Ok(call.library()?.transact_as(call.owner(), f).await?)
}

fn star_as(call: Rc<Call>, on: bool) -> MethodFuture {
    boxed(async move {
        if call.params.get("albumId").is_some() || call.params.get("artistId").is_some() {
            return Err(SubsonicError::Generic(
                "only songs can be starred here (albumId and artistId are not served)".into(),
            ));
        }
        let ids = song_ids(&call, "id")?;
        if ids.is_empty() {
            return Err(SubsonicError::Missing("id"));
        }
        write(&call, move |c| {
            ids.iter().try_for_each(|&id| ops::set_favorite(c, id, on))
        })
        .await?;
        Ok(Answer::Payload(None))
    })
}

pub(crate) fn star(call: Rc<Call>) -> MethodFuture {
    star_as(call, true)
}

pub(crate) fn unstar(call: Rc<Call>) -> MethodFuture {
    star_as(call, false)
}

pub(crate) fn set_rating(call: Rc<Call>) -> MethodFuture {
    boxed(async move {
        let ids = song_ids(&call, "id")?;
        let [id] = ids[..] else {
            return Err(SubsonicError::Missing("id"));
        };
        let rating = call
            .params
            .int("rating", 0, 5)?
            .ok_or(SubsonicError::Missing("rating"))?;
        write(&call, move |c| user_data::set_rating(c, id, rating)).await?;
        Ok(Answer::Payload(None))
    })
}

/// A play (`submission=true`, the default: counted, at `time` when given) or the
/// track now playing (`submission=false`).
pub(crate) fn scrobble(call: Rc<Call>) -> MethodFuture {
    boxed(async move {
        let ids = song_ids(&call, "id")?;
        if ids.is_empty() {
            return Err(SubsonicError::Missing("id"));
        }
        if !call.params.boolean("submission")?.unwrap_or(true) {
            let track = *ids.last().unwrap_or(&0);
            call.reader()?.track(track)?;
            let entry = NowPlaying {
                track,
                user: call.caller.principal.name.clone(),
                client: call.caller.client.clone(),
                since: Instant::now(),
            };
            call.core
                .shared
                .subsonic
                .now_playing
                .pin()
                .insert(call.caller.principal.id, entry);
            return Ok(Answer::Payload(None));
        }
        let mut times = Vec::new();
        for t in call.params.all("time") {
            match t.parse::<i64>() {
                Ok(ms) if ms >= 0 => times.push(ms),
                _ => {
                    return Err(SubsonicError::Invalid {
                        name: "time",
                        why: format!("{t:?} is not milliseconds since 1970"),
                    });
                }
            }
        }
        write(&call, move |c| {
            ids.iter().enumerate().try_for_each(|(i, &id)| {
                user_data::record_play_at(c, id, times.get(i).copied().unwrap_or_else(now_ms))
            })
        })
        .await?;
        Ok(Answer::Payload(None))
    })
}

pub(crate) fn now_playing(call: Rc<Call>) -> MethodFuture {
    boxed(async move {
        let lib = call.reader()?;
        let map = call.core.shared.subsonic.now_playing.pin();
        let mut entries = Vec::new();
        for entry in map.values().filter(|e| e.since.elapsed() < NOW_PLAYING_FOR) {
            let Ok(track) = lib.track(entry.track) else {
                continue;
            };
            entries.push(
                shapes::song_as("entry", &track, &Default::default())
                    .attr("username", entry.user.as_str())
                    .attr("minutesAgo", (entry.since.elapsed().as_secs() / 60) as i64)
                    .attr("playerId", 0i64)
                    .attr("playerName", entry.client.as_str()),
            );
        }
        Ok(Element::new("nowPlaying").list("entry", entries).into())
    })
}

pub(crate) fn play_queue(call: Rc<Call>) -> MethodFuture {
    boxed(async move {
        let lib = call.reader()?;
        let Some(q) = lib.play_queue(call.caller.principal.id)? else {
            return Ok(Answer::Payload(None));
        };
        let marks = lib.marks(call.owner(), &q.tracks)?;
        let entries = q
            .tracks
            .iter()
            .filter_map(|id| lib.track(*id).ok())
            .map(|t| shapes::song_as("entry", &t, &marks))
            .collect();
        Ok(Element::new("playQueue")
            .opt("current", q.current.map(shapes::track_id))
            .attr("position", q.position_ms)
            .attr("username", call.caller.principal.name.as_str())
            .attr("changed", rfc3339_ms(q.changed_at))
            .attr("changedBy", q.changed_by.as_str())
            .list("entry", entries)
            .into())
    })
}

pub(crate) fn save_play_queue(call: Rc<Call>) -> MethodFuture {
    boxed(async move {
        let tracks = song_ids(&call, "id")?;
        let current = match call.params.get("current") {
            None => None,
            Some(raw) => match Id::parse(raw) {
                Some(Id::Track(id)) => Some(id),
                _ => return Err(SubsonicError::NotFound(format!("no song {raw:?}"))),
            },
        };
        let queue = PlayQueue {
            tracks,
            current,
            position_ms: call.params.int("position", 0, i64::MAX)?.unwrap_or(0),
            changed_at: now_ms(),
            changed_by: call.caller.client.clone(),
        };
        write(&call, move |c| user_data::save_play_queue(c, &queue)).await?;
        Ok(Answer::Payload(None))
    })
}
