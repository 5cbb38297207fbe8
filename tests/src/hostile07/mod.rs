//! Hostile clients against step 7's probes. They take no input, so what a client can try is
//! the rest of a request: another method (405 in the error shape, and the probe answers on
//! as before), a query string, odd and oversized headers, a body on a GET, and a storm of
//! concurrent probes (every one answered, none a 5xx). A probe never shows an error's detail
//! or a connection string.

use anyhow::Result;
use reqwest::Method;

use crate::client::Api;
use crate::step07::{LIVENESS, READINESS};
use crate::{Case, Target, check};

pub fn cases() -> Vec<Case> {
    crate::case::all_of(families())
}

pub fn families() -> Vec<(&'static str, Vec<Case>)> {
    vec![(
        "probes",
        crate::cases![
            other_methods_on_the_probes_are_405_in_the_error_shape,
            query_strings_headers_and_bodies_change_nothing_for_the_probes,
            a_storm_of_concurrent_probes_is_answered_without_a_5xx,
        ],
    )]
}

async fn other_methods_on_the_probes_are_405_in_the_error_shape(t: Target) -> Result<()> {
    let api = Api::new(&t.base_url);
    for path in [LIVENESS, READINESS] {
        for method in [Method::POST, Method::PUT, Method::DELETE, Method::PATCH] {
            api.send(api.request(method, path).body("{}"))
                .await?
                .expect_error(405, "METHOD_NOT_ALLOWED")?;
        }
        api.get(path).await?.expect_status(200)?;
    }
    Ok(())
}

async fn query_strings_headers_and_bodies_change_nothing_for_the_probes(t: Target) -> Result<()> {
    let api = Api::new(&t.base_url);
    for path in [LIVENESS, READINESS] {
        let tries = [
            api.request(Method::GET, &format!("{path}?verbose=1&checks[]=x&%00=%ff")),
            api.request(Method::GET, path)
                .header("X-Forwarded-For", "10.0.0.1, <script>"),
            api.request(Method::GET, path)
                .header("X-Padding", "a".repeat(4096)),
            api.request(Method::GET, path).body("{\"status\":\"dead\"}"),
            api.request(Method::GET, path)
                .header("Accept", "application/xml"),
        ];
        for request in tries {
            let reply = api.send(request).await?;
            let said = reply.describe();
            let body = reply.expect_value(200)?;
            check::that(
                !said.contains("postgres://") && !said.contains("mongodb://"),
                || format!("GET {path} shows a connection string: {said}"),
            )?;
            check::that(body["status"].is_string(), || {
                format!("GET {path}: a status word, got {body}")
            })?;
        }
    }
    Ok(())
}

async fn a_storm_of_concurrent_probes_is_answered_without_a_5xx(t: Target) -> Result<()> {
    let api = Api::new(&t.base_url);
    let replies = futures::future::join_all((0..64).map(|i| {
        let api = api.clone();
        async move {
            let path = if i % 2 == 0 { LIVENESS } else { READINESS };
            api.get(path).await
        }
    }))
    .await;
    for reply in replies {
        let reply = reply?;
        let said = reply.describe();
        reply
            .expect_status(200)
            .map_err(|e| e.context(format!("a probe in the storm: {said}")))?;
    }
    Ok(())
}
