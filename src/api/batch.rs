//! `POST /api/batch`: up to 100 library actions, atomic (one transaction: all or
//! nothing) or not (each item applied or rolled back on its own through a savepoint).
//! Every item reports its own outcome either way. The batch is answered 200 whenever
//! it was processed; `data.status` says completed, partial or failed.

use super::common::reader;
use crate::http::context::RequestCtx;
use crate::http::envelope::Reply;
use crate::http::error::{ApiError, FieldError};
use crate::http::request::{Method, Request};
use crate::http::router::{Access, Handler, LocalFuture, Route, RouteClass};
use crate::http::validate::{BodyFields, integer};
use crate::library::batch::{Action, BatchOutcome, ItemOutcome, MAX_ITEMS};
use crate::library::ops::TagEdit;
use crate::runtime::core_state::CoreState;
use serde::Serialize;
use simd_json::prelude::*;
use std::collections::HashSet;
use std::rc::Rc;

pub(crate) fn routes() -> Vec<Route> {
    vec![
        Route::new(
            Method::Post,
            "/api/batch",
            RouteClass::Api,
            "Apply up to 100 actions, atomically or not",
            Handler::Async(batch),
        )
        .body("Batch")
        .data("BatchResult")
        // Favorites and playlist items are a listener's; `set_tags` items are checked
        // for the admin role one by one.
        .access(Access::Listener),
    ]
}

#[derive(Serialize)]
struct ItemError {
    error: &'static str,
    message: String,
}

#[derive(Serialize)]
struct ItemResult {
    id: String,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<ItemError>,
}

#[derive(Serialize)]
struct BatchResult {
    status: &'static str,
    atomic: bool,
    results: Vec<ItemResult>,
    successful: usize,
    failed: usize,
}

fn parse_action(
    action: &str,
    data: Option<simd_json::OwnedValue>,
    prefix: &str,
) -> Result<Action, Vec<FieldError>> {
    const KNOWN: [&str; 6] = [
        "favorite",
        "unfavorite",
        "add_to_playlist",
        "remove_from_playlist",
        "set_tags",
        "",
    ];
    if !KNOWN[..5].contains(&action) {
        return Err(Vec::new());
    }
    let data = data.unwrap_or_else(|| simd_json::OwnedValue::Object(Box::default()));
    let mut d = BodyFields::from_value(data, prefix).map_err(|e| vec![e])?;
    let action = match action {
        "favorite" | "unfavorite" => d
            .int("track_id", true, 1, i64::MAX)
            .map(|t| Action::Favorite(t, action == "favorite")),
        "add_to_playlist" => {
            let playlist = d.int("playlist_id", true, 1, i64::MAX);
            let tracks = d.id_list("track_ids", true, super::playlists::MAX_ADD);
            let position = d.int("position", false, 0, i64::MAX);
            match (playlist, tracks) {
                (Some(playlist), Some(tracks)) => Some(Action::AddToPlaylist {
                    playlist,
                    tracks,
                    position,
                }),
                _ => None,
            }
        }
        "remove_from_playlist" => {
            let playlist = d.int("playlist_id", true, 1, i64::MAX);
            let position = d.int("position", true, 0, i64::MAX);
            match (playlist, position) {
                (Some(playlist), Some(position)) => {
                    Some(Action::RemoveFromPlaylist { playlist, position })
                }
                _ => None,
            }
        }
        "set_tags" => {
            let track = d.int("track_id", true, 1, i64::MAX);
            let edit = TagEdit {
                title: d.string("title", false, 300),
                artist: d.string("artist", false, 300),
                album: d.string("album", false, 300),
                genre: d.string("genre", false, 100),
                year: d.int("year", false, 1, 9999),
            };
            // The domain's own rules (nothing empty, something to change), checked
            // before anything runs so the whole batch answers 422 with field errors.
            if let Err(crate::library::LibraryError::Invalid(errs)) = edit.check() {
                for e in errs {
                    d.error(e.field, e.kind, e.message);
                }
            }
            track.map(|t| Action::SetTags(t, edit))
        }
        _ => None,
    };
    let errors = d.into_errors();
    match action {
        Some(a) if errors.is_empty() => Ok(a),
        _ => Err(errors),
    }
}

/// The response body for a processed batch.
fn report(outcome: BatchOutcome) -> BatchResult {
    let (failed, successful) = (outcome.failed(), outcome.applied());
    let status = match (failed, successful) {
        (0, _) => "completed",
        (_, 0) => "failed",
        _ => "partial",
    };
    let results = outcome
        .items
        .into_iter()
        .map(|(id, o)| match o {
            ItemOutcome::RolledBack(msg) => ItemResult {
                id,
                status: "rolled_back",
                message: Some(format!(
                    "not applied: another item failed ({msg} was valid)"
                )),
                error: None,
            },
            ItemOutcome::Applied(msg) => ItemResult {
                id,
                status: "success",
                message: Some(msg),
                error: None,
            },
            ItemOutcome::Failed(e) => {
                let e = ApiError::from(e);
                ItemResult {
                    id,
                    status: "failed",
                    message: None,
                    error: Some(ItemError {
                        error: e.kind(),
                        message: e.public_message(),
                    }),
                }
            }
        })
        .collect();
    BatchResult {
        status,
        atomic: outcome.atomic,
        results,
        successful,
        failed,
    }
}

/// An item's id as its result echoes it (a string); empty when missing or refused
/// (the error is in `f`).
fn item_id(f: &mut BodyFields) -> String {
    match f.raw("id", true) {
        Some(v) if v.as_str().is_some_and(|s| !s.is_empty() && s.len() <= 64) => {
            v.as_str().unwrap_or("").to_string()
        }
        Some(v) if let Some(n) = integer(&v).and_then(|n| i64::try_from(n).ok()) => n.to_string(),
        Some(_) => {
            f.error(
                "id",
                "type_error",
                "must be a string of 1-64 characters or an integer",
            );
            String::new()
        }
        None => String::new(),
    }
}

fn batch(core: Rc<CoreState>, cx: Rc<RequestCtx>, req: Request) -> LocalFuture {
    Box::pin(async move {
        let mut b = BodyFields::from_request(&req)?;
        let atomic = b.boolean("atomic", false).unwrap_or(false);
        let raw_items = b.raw("items", true);
        let mut errors = b.into_errors();
        let mut items = Vec::new();
        match raw_items.as_ref().and_then(|v| v.as_array()) {
            Some(list) if !list.is_empty() && list.len() <= MAX_ITEMS => {
                let mut ids = HashSet::new();
                for (i, item) in list.iter().enumerate() {
                    let prefix = format!("items[{i}].");
                    let mut f = match BodyFields::from_value(item.clone(), &prefix) {
                        Ok(f) => f,
                        Err(e) => {
                            errors.push(e);
                            continue;
                        }
                    };
                    let id = item_id(&mut f);
                    if !id.is_empty() && !ids.insert(id.clone()) {
                        f.error("id", "value_error", "duplicate item id");
                    }
                    let action = f.string("action", true, 40);
                    let data = f.raw("data", false);
                    errors.extend(f.into_errors());
                    if let Some(action) = action {
                        match parse_action(&action, data, &format!("{prefix}data.")) {
                            Ok(a) => items.push((id, a)),
                            Err(errs) if errs.is_empty() => errors.push(FieldError::new(
                                format!("{prefix}action"),
                                "value_error",
                                "must be one of favorite, unfavorite, add_to_playlist, remove_from_playlist, set_tags",
                            )),
                            Err(errs) => errors.extend(errs),
                        }
                    }
                }
            }
            Some(_) => errors.push(FieldError::new(
                "items",
                "value_error",
                format!("must hold 1 to {MAX_ITEMS} items"),
            )),
            None if raw_items.is_some() => {
                errors.push(FieldError::new("items", "type_error", "must be an array"))
            }
            None => {}
        }
        if !errors.is_empty() {
            return Err(ApiError::Validation(errors));
        }
        // Item by item, the same rules as the single routes: tags are an admin's.
        if items.iter().any(|(_, a)| matches!(a, Action::SetTags(..))) {
            use crate::http::middleware::auth::{authorize, local};
            let local = local(&core, cx.peer);
            authorize(&core, Access::Admin, cx.principal.as_ref(), local)?;
        }
        let owner = crate::library::tokens::owner_of(cx.principal.as_ref());
        let outcome = reader(&core)?.library.batch(items, atomic, owner).await?;
        Ok(Reply::ok(report(outcome))?.into())
    })
}
