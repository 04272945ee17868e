//! The web UI over HTTP: pages follow the API's access rules, escape what products write, draw
//! a mark per datum, keep a sign-in in an HttpOnly, SameSite=Strict cookie, and refuse a
//! state-changing form without the visitor's form token or from another origin. The same
//! pages in a real browser, over the demo mesh, are in `browser.rs`.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use serde_json::Value;
use tessera_store::{Role, Store};

use crate::server::{Answer, Api, config, hello, repackage, token};

/// Rows the charts product publishes.
const ROWS: usize = 1000;

/// Opacity of every data mark in a chart, and of nothing else.
const MARK: &str = "opacity=\"0.85\"";

/// `wide` renamed `charts`: its `rows` port restricted, with three views, and a description
/// that tries to inject script.
fn charts() -> Vec<u8> {
    repackage(&tessera_tests::wide::product(), |m| {
        m.replace("name = \"wide\"", "name = \"charts\"")
            .replace(
                "description = \"Greets every person it reads: the smallest complete data product\"",
                "description = \"<script>alert('owned')</script> charts\"",
            )
            .replace(
                "name = \"rows\"\n",
                "name = \"rows\"\naccess = \"restricted\"\nviews = [{ name = \"a-by-label\", kind = \"bar\", x = \"label\", y = \"a\" }, { name = \"b-bins\", kind = \"histogram\", x = \"b\", title = \"B\" }, { name = \"a-b\", kind = \"scatter\", x = \"a\", y = \"b\" }]\n",
            )
    })
}

async fn page(api: &Api, uri: &str, cookie: Option<&str>) -> Answer {
    let mut request = Request::get(uri).header(header::HOST, "tessera.test");
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, cookie);
    }
    api.call(request.body(Body::empty()).unwrap()).await
}

async fn form(api: &Api, uri: &str, cookie: Option<&str>, origin: &str, body: &str) -> Answer {
    let mut request = Request::post(uri)
        .header(header::HOST, "tessera.test")
        .header(header::ORIGIN, origin)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, cookie);
    }
    api.call(request.body(Body::from(body.to_string())).unwrap())
        .await
}

fn html(answer: &Answer) -> String {
    assert!(
        answer.header(header::CONTENT_TYPE).starts_with("text/html"),
        "{:?}",
        answer.headers
    );
    String::from_utf8(answer.body.to_vec()).unwrap()
}

/// The markup of the figure with `id`.
fn figure<'a>(page: &'a str, id: &str) -> &'a str {
    let start = page
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id}"));
    let end = page[start..].find("</figure>").unwrap() + start;
    &page[start..end]
}

/// numpy.histogram's non-empty bins for `bins` equal-width bins over `values`, counted here.
fn non_empty_bins(values: &[f64], bins: usize) -> usize {
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut counts = vec![0; bins];
    for v in values {
        let mut at = ((v - lo) / (hi - lo) * bins as f64) as usize;
        if at == bins {
            at -= 1;
        }
        counts[at] += 1;
    }
    counts.iter().filter(|c| **c > 0).count()
}

#[tokio::test]
async fn pages_follow_the_access_rules_and_draw_a_mark_per_datum() {
    let api = Api::new();
    assert_eq!(api.deploy(hello()).await.status, StatusCode::CREATED);
    assert_eq!(api.deploy(charts()).await.status, StatusCode::CREATED);
    tessera_tests::wide::publish(api.store.as_ref(), "charts", ROWS);

    // The catalog lists both, escapes what products write, and filters; pages may run no
    // script and may not be framed.
    let answer = page(&api, "/", None).await;
    let policy = answer.header(header::CONTENT_SECURITY_POLICY);
    assert!(
        policy.contains("script-src 'none'") && policy.contains("frame-ancestors 'none'"),
        "{policy}"
    );
    assert_eq!(answer.header(header::X_FRAME_OPTIONS), "DENY");
    let catalog = html(&answer);
    assert!(catalog.contains("href=\"/products/hello\""));
    assert!(catalog.contains("href=\"/products/charts\""));
    assert!(catalog.contains("&lt;script&gt;alert"), "escaped");
    assert!(!catalog.contains("<script>alert"), "never raw");
    let found = html(&page(&api, "/?q=GREETS", None).await);
    assert!(found.contains("/products/hello") && !found.contains("/products/charts"));
    let none = html(&page(&api, "/?kind=aggregate", None).await);
    assert!(none.contains("0 products"), "{none}");
    let bad = page(&api, "/?bogus=1", None).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(html(&bad).contains("bogus"));

    // Anonymous: the restricted port's charts and statistics are not shown, nor served.
    let anonymous = html(&page(&api, "/products/charts", None).await);
    assert_eq!(anonymous.matches(MARK).count(), 0);
    assert!(anonymous.contains("you may not read it"), "{anonymous}");
    assert!(!anonymous.contains("Column statistics"));
    api.get_as(None, "/v1/products/charts/views/a-by-label")
        .await
        .error(StatusCode::UNAUTHORIZED);

    // Sign-in: a wrong token shows the form again; the right one is kept in a strict cookie.
    let refused = form(
        &api,
        "/sign-in",
        None,
        "http://tessera.test",
        "token=tsr_nope",
    )
    .await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert!(html(&refused).contains("not known"));
    let stranger = form(
        &api,
        "/sign-in",
        None,
        "http://evil.example",
        &format!("token={}", api.admin),
    )
    .await;
    assert_eq!(stranger.status, StatusCode::FORBIDDEN);
    let signed = form(
        &api,
        "/sign-in",
        None,
        "http://tessera.test",
        &format!("token={}&next=/products/charts", api.admin),
    )
    .await;
    assert_eq!(signed.status, StatusCode::SEE_OTHER);
    assert_eq!(signed.header(header::LOCATION), "/products/charts");
    let set = signed.header(header::SET_COOKIE).to_string();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );
    let cookie = set.split(';').next().unwrap().to_string();

    // Signed in: a mark per datum in each chart.
    let product = html(&page(&api, "/products/charts", Some(&cookie)).await);
    let bars = figure(&product, "view-a-by-label");
    assert_eq!(bars.matches(MARK).count(), 200, "the first 200 labels");
    let values: Vec<f64> = (0..ROWS).map(|i| (i as f64).sqrt()).collect();
    assert_eq!(
        figure(&product, "view-b-bins").matches(MARK).count(),
        non_empty_bins(&values, 20)
    );
    assert_eq!(figure(&product, "view-a-b").matches(MARK).count(), ROWS);
    assert!(
        product.contains("1000 rows"),
        "the port's size, to whoever may read it"
    );

    // The same view for notebooks, as Vega-Lite with its data.
    let admin = Some(api.admin.as_str());
    let spec = api
        .get_as(admin, "/v1/products/charts/views/a-b?format=vega-lite")
        .await;
    assert_eq!(spec.status, StatusCode::OK);
    let spec: Value = spec.json();
    assert_eq!(spec["mark"]["type"], "point");
    assert_eq!(spec["data"]["values"].as_array().unwrap().len(), ROWS);
    assert_eq!(spec["data"]["values"][4]["b"], 2.0);
    let (_, message) = api
        .get_as(admin, "/v1/products/charts/views/nothing")
        .await
        .error(StatusCode::NOT_FOUND);
    assert!(message.contains("no view named `nothing`"), "{message}");

    // Running from the page needs the form token, and a form from this origin.
    let token_field = "name=\"form_token\" value=\"";
    let at = product.find(token_field).expect("a form token") + token_field.len();
    let form_token = &product[at..at + 64];
    let run_uri = "/products/hello/run";
    let without = form(&api, run_uri, Some(&cookie), "http://tessera.test", "").await;
    assert_eq!(without.status, StatusCode::FORBIDDEN);
    let forged = form(
        &api,
        run_uri,
        Some(&cookie),
        "http://tessera.test",
        &format!("form_token={}", "0".repeat(64)),
    )
    .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let elsewhere = form(
        &api,
        run_uri,
        Some(&cookie),
        "http://evil.example",
        &format!("form_token={form_token}"),
    )
    .await;
    assert_eq!(elsewhere.status, StatusCode::FORBIDDEN);
    let anonymous_run = form(
        &api,
        run_uri,
        None,
        "http://tessera.test",
        &format!("form_token={form_token}"),
    )
    .await;
    assert_eq!(anonymous_run.status, StatusCode::UNAUTHORIZED);
    let ran = form(
        &api,
        run_uri,
        Some(&cookie),
        "http://tessera.test",
        &format!("form_token={form_token}"),
    )
    .await;
    assert_eq!(
        ran.status,
        StatusCode::SEE_OTHER,
        "{}",
        String::from_utf8_lossy(&ran.body)
    );
    let run_page = ran.header(header::LOCATION).to_string();
    assert!(run_page.starts_with("/runs/"));
    let run_id = run_page.trim_start_matches("/runs/");
    api.finished_run(run_id).await;
    // A second run: the product page charts its checks over the two.
    let again = api.post("/v1/products/hello/runs", Vec::new()).await;
    assert_eq!(again.status, StatusCode::ACCEPTED, "{}", again.json());
    api.finished_run(again.json()["id"].as_str().unwrap()).await;
    let hello_page = html(&page(&api, "/products/hello", Some(&cookie)).await);
    let history = &hello_page[hello_page
        .find("id=\"check-history\"")
        .expect("check history")..];
    let history = &history[..history.find("<h2").unwrap()];
    assert_eq!(
        history.matches("<svg").count(),
        2,
        "pass rate and failed rows"
    );
    assert_eq!(history.matches(MARK).count(), 4, "a point per run in each");
    let shown = html(&page(&api, &run_page, Some(&cookie)).await);
    assert!(
        shown.contains("of <a href=\"/products/hello\">hello</a>"),
        "{shown}"
    );

    // A reader without the grant sees the port as restricted, and cannot run.
    let reader = token(api.store.as_ref(), Role::Reader, None, &[]);
    let reader_cookie = format!("tessera_token={reader}");
    let read = html(&page(&api, "/products/charts", Some(&reader_cookie)).await);
    assert_eq!(read.matches(MARK).count(), 0);
    assert!(!read.contains("Run now"));

    // A revoked token's cookie no longer signs anyone in.
    let (revoked, record) = tessera_server::auth::issue(
        api.store.as_ref(),
        tessera_server::auth::NewToken {
            role: Role::Admin,
            domain: None,
            grants: Vec::new(),
            description: "revoked".into(),
            expires_in: None,
        },
    )
    .unwrap();
    api.store.revoke_token(&record.id).unwrap();
    let lapsed = html(
        &page(
            &api,
            "/products/charts",
            Some(&format!("tessera_token={revoked}")),
        )
        .await,
    );
    assert!(lapsed.contains("You were signed out"), "{lapsed}");
    assert_eq!(lapsed.matches(MARK).count(), 0);

    // Signing out forgets the cookie.
    let out = form(
        &api,
        "/sign-out",
        Some(&cookie),
        "http://tessera.test",
        &format!("form_token={form_token}"),
    )
    .await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert!(out.header(header::SET_COOKIE).contains("Max-Age=0"));

    // The mesh links each product to its page; a domain page lists its products.
    let mesh = html(&page(&api, "/mesh", None).await);
    assert!(mesh.contains("<a href=\"/products/hello\">"), "{mesh}");
    let domain = html(&page(&api, "/domains/examples", None).await);
    assert!(domain.contains("/products/hello") && domain.contains("/products/charts"));
    assert_eq!(
        page(&api, "/domains/nowhere", None).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        page(&api, "/products/nothing", None).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_private_server_asks_anonymous_visitors_to_sign_in() {
    let mut config = config();
    config.public_reads = false;
    let api = Api::with_config(config);
    assert_eq!(api.deploy(hello()).await.status, StatusCode::CREATED);
    let answer = page(&api, "/", None).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    let body = html(&answer);
    assert!(body.contains("href=\"/sign-in\""));
    assert!(!body.contains("/products/hello"));
    let cookie = format!("tessera_token={}", api.admin);
    let signed = html(&page(&api, "/", Some(&cookie)).await);
    assert!(signed.contains("/products/hello"));
    // The style sheet is served from the binary.
    let style = page(&api, "/assets/style.css", None).await;
    assert_eq!(style.status, StatusCode::OK);
    assert!(style.header(header::CONTENT_TYPE).starts_with("text/css"));
}
