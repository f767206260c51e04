//! System methods: `ping`, `getLicense`, `getOpenSubsonicExtensions`, `tokenInfo`,
//! `getUser`.

use super::element::Element;
use super::error::SubsonicError;
use super::{Answer, Call, MethodFuture, boxed};
use crate::library::tokens::Role;
use std::rc::Rc;

pub(crate) fn ping(_call: Rc<Call>) -> MethodFuture {
    boxed(async { Ok(Answer::Payload(None)) })
}

/// Always valid: this server has no licence to buy.
pub(crate) fn license(_call: Rc<Call>) -> MethodFuture {
    boxed(async {
        Ok(Element::new("license")
            .attr("valid", true)
            .attr("email", "")
            .attr("licenseExpires", "2100-01-01T00:00:00.000Z")
            .into())
    })
}

/// OpenSubsonic extensions served, each at version 1.
const EXTENSIONS: &[&str] = &["apiKeyAuthentication", "formPost"];

/// The extensions, one element each (a list directly under the response).
pub(crate) fn extensions() -> Vec<Element> {
    EXTENSIONS
        .iter()
        .map(|name| {
            Element::new("openSubsonicExtensions")
                .attr("name", *name)
                .values("versions", vec![1i64.into()])
        })
        .collect()
}

/// The caller's name (OpenSubsonic: what an API key logs in as).
pub(crate) fn token_info(call: Rc<Call>) -> MethodFuture {
    boxed(async move {
        Ok(Element::new("tokenInfo")
            .attr("username", call.caller.principal.name.as_str())
            .into())
    })
}

/// A user's roles, mapped from ours: a listener streams, downloads, keeps playlists
/// and favorites; an admin may also administer. Anyone may ask about themself, only an
/// admin about someone else.
pub(crate) fn user(call: Rc<Call>) -> MethodFuture {
    boxed(async move {
        let name = call.params.required("username")?;
        let me = &call.caller.principal;
        let role = if name == me.name {
            me.role
        } else if me.role == Role::Admin {
            call.reader()?
                .account(name)?
                .ok_or_else(|| SubsonicError::NotFound(format!("no user {name:?}")))?
                .principal
                .role
        } else {
            return Err(SubsonicError::NotAuthorized(
                "a listener may only ask about itself".into(),
            ));
        };
        let admin = role == Role::Admin;
        let mut e = Element::new("user")
            .attr("username", name)
            .attr("scrobblingEnabled", true)
            .attr("adminRole", admin)
            .attr("settingsRole", admin);
        for (role, on) in [
            ("downloadRole", true),
            ("uploadRole", false),
            ("playlistRole", true),
            ("coverArtRole", true),
            ("commentRole", false),
            ("podcastRole", false),
            ("streamRole", true),
            ("jukeboxRole", false),
            ("shareRole", false),
            ("videoConversionRole", false),
        ] {
            e = e.attr(role, on);
        }
        Ok(e.values("folder", vec![super::shapes::FOLDER_ID.into()])
            .into())
    })
}
